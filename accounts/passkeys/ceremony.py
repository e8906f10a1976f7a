"""Passkeys: WebAuthn credentials, registered and checked by py_webauthn (the `webauthn` package).

A person who signed in by email may add a passkey; later it signs them in alone, with user
verification (a fingerprint, a face, a device PIN), bound to this site's origin. Email stays
the way back in when every passkey is lost.

Every ceremony starts with a challenge: 32 random bytes that only the browser it was given to
can answer, within CHALLENGE_SECONDS, once. Adding a passkey keeps it in the signed-in session.
Signing in keeps it in a signed cookie of its own (PASSKEY_COOKIE_NAME), spent in Redis by the
first answer: the sign-in page asks for options as it loads (for autofill), and a challenge in
the session would race the email form's own POST, each request saving the session without the
other's change. The cookie holds the browser's last few sign-in challenges, not one: every
sign-in page asks as it loads, so a second tab (or a reload) would otherwise leave the first
page holding a challenge the server no longer recognises. A sign-in also claims the account as
a link does (User.objects.claim): of concurrent answers, one signs in, and every older link dies.
"""

import json
import secrets
import uuid

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from accounts.models import Passkey, User
from accounts.passkeys.challenges import (
    CHALLENGE_SECONDS,  # noqa: F401 - the views read it here, importing only this module late
    PasskeyProblem,
    add_challenge,
    give_challenge,
    spend_challenge,
    take_challenge,
)
from accounts.records.audit import device_of

# Names people recognise for the passkey providers most of them use, by AAGUID (from the
# community list at github.com/passkeydeveloper/passkey-authenticator-aaguids). Any other
# passkey is named after the browser that made it; the person can rename it.
PROVIDERS = {
    "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": "Google Password Manager",
    "adce0002-35bc-c60a-648b-0b25f1f05503": "Chrome on Mac",
    "fbfc3007-154e-4ecc-8c0b-6e020557d7bd": "iCloud Keychain",
    "dd4ec289-e01d-41c9-bb89-70fa845d4bf2": "iCloud Keychain",
    "08987058-cadc-4b81-b6e1-30de50dcbe96": "Windows Hello",
    "9ddd1817-af5a-4672-a2b9-3e3dd95000a9": "Windows Hello",
    "6028b017-b1d4-4c02-b4b3-afcdafc96bb2": "Windows Hello",
    "bada5566-a7aa-401f-bd96-45619a55120d": "1Password",
    "d548826e-79b4-db40-a3d8-11116f7e8349": "Bitwarden",
    "531126d6-e717-415c-9320-3d9aa6981239": "Dashlane",
    "53414d53-554e-4700-0000-000000000000": "Samsung Pass",
}


# What reading a browser's answer may raise. RecursionError: JSON nested thousands deep (found
# 2026-12-06: a 500 that the failure limit never counted).
UNREADABLE = (WebAuthnException, ValueError, TypeError, KeyError, RecursionError)


def registration_options(request: HttpRequest, user: User) -> str:
    """The JSON a browser's navigator.credentials.create() needs to make a passkey for `user`."""
    existing = list(user.passkeys.values_list("credential_id", "user_handle"))
    # One random handle per account, the same for each of its passkeys.
    handle = bytes(existing[0][1]) if existing else secrets.token_bytes(32)
    options = generate_registration_options(
        rp_id=settings.PASSKEY_RP_ID,
        rp_name=settings.SITE_NAME,
        user_id=handle,
        user_name=user.email,
        user_display_name=user.display_email,
        challenge=give_challenge(request, handle=bytes_to_base64url(handle)),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        # One passkey per authenticator: it offers to reuse the one it has instead.
        exclude_credentials=[PublicKeyCredentialDescriptor(id=bytes(cid)) for cid, _ in existing],
    )
    return options_to_json(options)


def register(request: HttpRequest, user: User, answer: str) -> Passkey:
    """Check the browser's answer to registration_options() and keep the passkey it made."""
    challenge, given = take_challenge(request)
    try:
        credential = parse_registration_credential_json(answer)
        _refuse_framed(credential.response.client_data_json)
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=settings.PASSKEY_RP_ID,
            expected_origin=settings.PASSKEY_ORIGIN,
            require_user_verification=True,
        )
    except UNREADABLE:
        raise PasskeyProblem("invalid") from None
    aaguid = str(uuid.UUID(verified.aaguid)) if verified.aaguid else ""
    try:
        with transaction.atomic():
            _still_the_same_account(request, user)
            return Passkey.objects.create(
                user=user,
                credential_id=verified.credential_id,
                public_key=verified.credential_public_key,
                # The handle the options carried, which the authenticator now keeps.
                user_handle=base64url_to_bytes(given["handle"]),
                sign_count=verified.sign_count,
                backup_eligible=verified.credential_device_type
                == CredentialDeviceType.MULTI_DEVICE,
                backed_up=verified.credential_backed_up,
                aaguid=aaguid,
                transports=[t.value for t in credential.response.transports or []],
                name=_default_name(aaguid, request.headers.get("User-Agent", "")),
            )
    except IntegrityError:
        raise PasskeyProblem("duplicate") from None


def _still_the_same_account(request: HttpRequest, user: User) -> None:
    """Inside the transaction that adds a passkey: lock the account's row, and refuse if its
    address, its being open or this session changed since the request began. An undo or a
    deletion updates the same row, so either it waits for this passkey and removes it, or this
    sees what it did (found 2026-12-06: a passkey added while an undo landed outlived it)."""
    locked = User.objects.select_for_update().filter(pk=user.pk, email=user.email, is_active=True)
    session = Session.objects.filter(pk=request.session.session_key)
    if not locked.exists() or not session.exists():
        raise PasskeyProblem("invalid")


def sign_in_options(sealed: str = "") -> tuple[str, str]:
    """The JSON for navigator.credentials.get() (any passkey of this site, verified), and the
    browser's new PASSKEY_COOKIE_NAME cookie: `sealed`, its current one, with this challenge
    added and the expired or oldest ones dropped."""
    challenge, cookie = add_challenge(sealed)
    options = generate_authentication_options(
        rp_id=settings.PASSKEY_RP_ID,
        challenge=challenge,
        # Empty: the person picks one of the passkeys their device holds for this site.
        allow_credentials=[],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options), cookie


def authenticate(request: HttpRequest, answer: str) -> Passkey:
    """The passkey that answered sign_in_options(), its account claimed; raise PasskeyProblem,
    or LimitsUnavailable when Redis cannot say whether the challenge was spent."""
    try:
        credential = parse_authentication_credential_json(answer)
        _refuse_framed(credential.response.client_data_json)
        # Which of this browser's challenges the answer is for; verified below, signed in it.
        answered = parse_client_data_json(credential.response.client_data_json).challenge
    except UNREADABLE:
        raise PasskeyProblem("invalid") from None
    challenge = spend_challenge(request.COOKIES.get(settings.PASSKEY_COOKIE_NAME, ""), answered)
    passkey = (
        Passkey.objects.select_related("user")
        .filter(credential_id=credential.raw_id, user__is_active=True)
        .first()
    )
    if passkey is None:
        raise PasskeyProblem("unknown", credential_id=bytes_to_base64url(credential.raw_id))
    # A discoverable passkey names its account: it must be the one this passkey belongs to.
    if credential.response.user_handle != bytes(passkey.user_handle):
        raise PasskeyProblem("invalid")
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=settings.PASSKEY_RP_ID,
            expected_origin=settings.PASSKEY_ORIGIN,
            credential_public_key=bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except UNREADABLE:
        raise PasskeyProblem("invalid") from None
    _claim(passkey, verified)
    return passkey


def _claim(passkey: Passkey, verified) -> None:
    user = passkey.user
    with transaction.atomic():
        # Both conditional: a count that moved meanwhile, or a sign-in that happened meanwhile,
        # means this answer lost a race with another one, as a second press of a link does.
        counted = Passkey.objects.filter(pk=passkey.pk, sign_count=passkey.sign_count).update(
            sign_count=verified.new_sign_count,
            backed_up=verified.credential_backed_up,
            last_used_at=timezone.now(),
        )
        if not counted or not User.objects.claim(user, user.last_login):
            raise PasskeyProblem("invalid")  # and the count goes back


def _refuse_framed(client_data_json: bytes) -> None:
    """Refuse what a browser at the top level never sends: a ceremony run in a frame.

    Our pages refuse to be framed (X-Frame-Options, CSP frame-ancestors), but the ceremony
    must not rely on that, and py_webauthn checks neither field. WebAuthn Level 3 sets
    crossOrigin, and names the framing page in topOrigin, for a frame on another origin.
    """
    data = json.loads(client_data_json)
    if not isinstance(data, dict) or data.get("crossOrigin") is True or "topOrigin" in data:
        raise PasskeyProblem("framed")


def _default_name(aaguid: str, user_agent: str) -> str:
    return (PROVIDERS.get(aaguid) or device_of(user_agent) or "Passkey")[:64]

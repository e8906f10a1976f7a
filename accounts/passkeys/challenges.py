"""Passkey challenges: 32 random bytes, answered once, within CHALLENGE_SECONDS, by the browser
that asked. Adding a passkey keeps its challenge in the session; signing in keeps the browser's
open challenges in a signed cookie (so the sign-in page's autofill request never races the email
form's POST over the session), each spent in Redis when answered."""

import secrets
import time

from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest
from redis.exceptions import RedisError
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from accounts.limits import LimitsUnavailable


class PasskeyProblem(Exception):
    """Why a passkey did not register or sign in: `reason` is one of
    "no_challenge" (none given to this browser, or already answered), "expired", "invalid"
    (the answer does not check out: wrong origin, wrong site, bad signature, replayed count),
    "unknown" (no such passkey, removed, or its account is closed), "duplicate" (already added),
    "framed" (the ceremony ran in a frame on another site's page)."""

    def __init__(self, reason: str, credential_id: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        # For "unknown": the passkey the browser may forget (base64url), as it was answered.
        self.credential_id = credential_id


# Adding a passkey keeps its challenge (and the account handle it offered) in the session here.
CHALLENGE_KEY = "passkey_challenge"
COOKIE_SALT = "accounts.passkeys.sign-in"
# How long the browser, and so the person, has to answer a challenge.
CHALLENGE_SECONDS = 5 * 60
# Sign-in challenges one browser holds at once: its open sign-in pages, newest last.
CHALLENGES_KEPT = 5


def add_challenge(sealed: str) -> tuple[bytes, str]:
    """A new sign-in challenge, and the browser's cookie (`sealed`, its current one) with it
    added and the expired or oldest ones dropped."""
    challenge = secrets.token_bytes(32)
    now = int(time.time())
    kept = [
        [given, issued]
        for given, issued in open_challenges(sealed)
        if now - issued <= CHALLENGE_SECONDS
    ][-(CHALLENGES_KEPT - 1) :]
    kept.append([bytes_to_base64url(challenge), now])
    return challenge, signing.dumps(kept, salt=COOKIE_SALT, compress=False)


def _challenges_in(sealed: str) -> list[tuple[str, int]]:
    """The (challenge, issued at) pairs in a sign-in cookie; raise signing.SignatureExpired
    when even the newest is too old (the cookie is as old as it), BadSignature if not ours."""
    given = signing.loads(sealed, salt=COOKIE_SALT, max_age=CHALLENGE_SECONDS)
    # Before it held a list, the cookie held one challenge, a string: none to match any more.
    if not isinstance(given, list):
        return []
    return [(value, issued) for value, issued in given]


def open_challenges(sealed: str) -> list[tuple[str, int]]:
    try:
        return _challenges_in(sealed)
    except signing.BadSignature:  # SignatureExpired too
        return []


def spend_challenge(sealed: str, answered: bytes) -> bytes:
    """`answered`, if this browser's cookie holds it, fresh, and not answered before."""
    try:
        given = _challenges_in(sealed)
    except signing.SignatureExpired:
        raise PasskeyProblem("expired") from None
    except signing.BadSignature:
        raise PasskeyProblem("no_challenge") from None
    challenge = bytes_to_base64url(answered)
    issued = next((at for value, at in given if value == challenge), None)
    if issued is None:
        raise PasskeyProblem("no_challenge")
    if time.time() - issued > CHALLENGE_SECONDS:
        raise PasskeyProblem("expired")
    try:
        first = cache.add(f"passkeys:spent:{challenge}", 1, timeout=CHALLENGE_SECONDS + 60)
    except RedisError as error:
        raise LimitsUnavailable from error
    if not first:
        raise PasskeyProblem("no_challenge")
    return answered


def give_challenge(request: HttpRequest, **kept: str) -> bytes:
    """A new challenge for adding a passkey, in this session, replacing any earlier one."""
    challenge = secrets.token_bytes(32)
    request.session[CHALLENGE_KEY] = {
        "challenge": bytes_to_base64url(challenge),
        "expires": time.time() + CHALLENGE_SECONDS,
        **kept,
    }
    return challenge


def take_challenge(request: HttpRequest) -> tuple[bytes, dict]:
    """This session's challenge, taken out of it: answered once at most."""
    stored = request.session.pop(CHALLENGE_KEY, None)
    if not stored:
        raise PasskeyProblem("no_challenge")
    if time.time() > stored["expires"]:
        raise PasskeyProblem("expired")
    return base64url_to_bytes(stored["challenge"]), stored

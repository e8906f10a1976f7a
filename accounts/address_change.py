"""Changing an account's address: proven by the new inbox, announced to the old one.

The person types the new address on /account/email/ (with a sign-in from the last ten minutes:
whoever can change the address owns the account). A link and a code go to the new address; the
code, typed in this browser, or the link, opened in a browser signed in to this account, makes
the change. The old address then gets a notice, and every older sign-in link dies with it
(SESAME_INVALIDATE_ON_EMAIL_CHANGE: django-sesame signs the address into each token).

Nothing secret is queued or stored: the code is derived from the request's random id, as for
sign-in codes, and the link is Django's signing framework over (account, old address, new
address), made when the email is sent. It works once: after the change, the old address in it
no longer matches.

The notice to the old address carries a way back, valid UNDO_DAYS: whoever phished a code can
prove an inbox of their own and move the account there, and the owner, whose sign-in emails now
go elsewhere, would have no way in. Undoing puts the old address back, signs every browser out
and removes every passkey (the intruder may have added one), so the owner starts again from the
inbox alone. It is a signed token over (account, new address, old address), spent once the
address is no longer the new one, and it asks for a press of a button, as sign-in links do,
because mail scanners open links. For the same week the address cannot change again: a second
move (to yet another inbox) would otherwise spend the first undo link, and the undo link of the
second move would go to the intruder.
"""

import secrets
import time
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.tasks import task
from django.urls import reverse
from django.utils import timezone

from accounts.account_mail import NOTICES_TRIED_FOR, send_or_try_later
from accounts.addresses import display_address
from accounts.browsers import end_all
from accounts.events import log_event, mask_address
from accounts.login_codes import CodeProblem, code_for, code_matches, count_try, grouped
from accounts.models import User
from accounts.rate_limits import code_guessing_allowed, count_wrong_code

SESSION_KEY = "address_change"
SALT = "accounts.address-change"
UNDO_SALT = "accounts.address-change-undo"
UNDO_DAYS = 7


class ChangeProblem(CodeProblem):
    """A link or code that changes nothing, and why: a code's reasons, or invalid, taken, closed."""


def ask_to_change(request: HttpRequest, new_address: str) -> None:
    """Queue the email that proves the new address, and tie its code to this browser."""
    request_id = secrets.token_urlsafe(16)
    request.session[SESSION_KEY] = {
        "request": request_id,
        "to": new_address,
        "issued_at": int(time.time()),
    }
    send_proof.enqueue(request_id, request.user.pk, new_address, timezone.now().isoformat())


def next_change_allowed_at(user: User) -> datetime | None:
    """When the address may change again, if not now (a change, or its undoing, this week)."""
    if user.address_changed_at is None:
        return None
    allowed_at = user.address_changed_at + timedelta(days=UNDO_DAYS)
    return allowed_at if allowed_at > timezone.now() else None


def pending_change(request: HttpRequest) -> dict | None:
    pending = request.session.get(SESSION_KEY)
    if pending and time.time() - pending["issued_at"] <= settings.LOGIN_LINK_MAX_AGE:
        return pending
    return None


def check_code(request: HttpRequest, typed: str) -> str:
    """The new address this browser's code proves; raise ChangeProblem if it proves none."""
    pending = pending_change(request)
    if pending is None:
        raise ChangeProblem("expired")
    request_id = f"change:{pending['request']}"
    tries = count_try(request_id)
    if tries > settings.LOGIN_CODE_MAX_ATTEMPTS or not code_guessing_allowed(pending["to"]):
        raise ChangeProblem("exhausted")
    if not code_matches(request_id, typed):
        count_wrong_code(pending["to"])
        raise ChangeProblem("wrong", tries_left=settings.LOGIN_CODE_MAX_ATTEMPTS - tries)
    return pending["to"]


def check_link(user: User, token: str) -> str:
    """The new address a link proves for this account; raise ChangeProblem if it proves none."""
    try:
        signed = _signer().unsign_object(token, max_age=settings.LOGIN_LINK_MAX_AGE)
    except signing.SignatureExpired:
        raise ChangeProblem("expired") from None
    except (signing.BadSignature, TypeError, ValueError):
        raise ChangeProblem("invalid") from None
    if not isinstance(signed, dict) or signed.get("account") != user.pk:
        raise ChangeProblem("invalid")
    if signed.get("from") != user.email:
        raise ChangeProblem("used")  # the address changed since: by this link, or another
    return str(signed.get("to", ""))


def change(request: HttpRequest, new_address: str) -> bool:
    """Give the signed-in account its new address and tell the old one; False if it had it.

    The link opened on a phone and the code typed on a laptop prove the same change: whichever
    comes second finds it done, and must not tell the new address that it replaced itself.
    """
    user = request.user
    old_address = user.email
    if old_address == new_address:
        request.session.pop(SESSION_KEY, None)
        return False
    try:
        with transaction.atomic():
            changed = User.objects.filter(pk=user.pk, email=old_address).update(
                email=new_address, address_changed_at=timezone.now()
            )
    except IntegrityError:
        raise ChangeProblem("taken") from None
    if not changed:
        raise ChangeProblem("used")
    user.email = new_address
    request.session.pop(SESSION_KEY, None)
    log_event("address_changed", user=user.pk, email=mask_address(new_address))
    send_notice_to_old_address.enqueue(old_address, new_address, timezone.now().isoformat())
    return True


def check_undo(token: str) -> tuple[User, str]:
    """The account an undo link is for and the address it gives back; ChangeProblem if none."""
    try:
        signed = _signer(UNDO_SALT).unsign_object(token, max_age=timedelta(days=UNDO_DAYS))
    except signing.SignatureExpired:
        raise ChangeProblem("expired") from None
    except (signing.BadSignature, TypeError, ValueError):
        raise ChangeProblem("invalid") from None
    if not isinstance(signed, dict):
        raise ChangeProblem("invalid")
    user = User.objects.filter(pk=signed.get("account"), is_active=True).first()
    if user is None:
        raise ChangeProblem("closed")  # deleted or deactivated since: nothing to give back
    if user.email != signed.get("to"):
        raise ChangeProblem("used")  # undone already, or the address changed again since
    return user, str(signed.get("from", ""))


def undo(user: User, old_address: str) -> None:
    """Give the account its old address back, sign every browser out, remove every passkey."""
    try:
        with transaction.atomic():
            account = User.objects.filter(pk=user.pk, email=user.email)
            if not account.update(email=old_address, address_changed_at=timezone.now()):
                raise ChangeProblem("used")  # undone by a second press meanwhile
            end_all(user)
            user.passkeys.all().delete()
    except IntegrityError:
        raise ChangeProblem("taken") from None  # another account took the old address since
    log_event("address_change_undone", user=user.pk, email=mask_address(old_address))


def _signer(salt: str = SALT) -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=salt, sep=".")


@task()
def send_proof(
    request_id: str, user_id: int, new_address: str, asked_at: str = "", attempt: int = 1
) -> str:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return "no account"
    # Worth sending while its code works; one queued before `asked_at` existed, once.
    lifetime = timedelta(seconds=settings.LOGIN_LINK_MAX_AGE)
    retries = {
        "deadline": datetime.fromisoformat(asked_at) + lifetime if asked_at else timezone.now(),
        "again": (send_proof, (request_id, user_id, new_address, asked_at)),
        "attempt": attempt,
    }
    if User.objects.filter(email=new_address).exists():
        # Said only to the new address's owner: the person asking learns nothing from the page.
        context = {"address": display_address(new_address)}
        return send_or_try_later("emails/address_taken", new_address, context, **retries)
    token = _signer().sign_object({"account": user.pk, "from": user.email, "to": new_address})
    link = (
        settings.SITE_URL + reverse("confirm_address_change") + "?" + urlencode({"change": token})
    )
    code = code_for(f"change:{request_id}")
    context = {
        "address": display_address(new_address),
        "link": link,
        "code": grouped(code),
        "minutes": max(1, settings.LOGIN_LINK_MAX_AGE // 60),
    }
    return send_or_try_later("emails/address_change", new_address, context, **retries)


@task()
def send_notice_to_old_address(
    old_address: str, new_address: str, when: str, attempt: int = 1
) -> str:
    context = {
        "address": display_address(old_address),
        "new_address": display_address(new_address),
        "when": datetime.fromisoformat(when),
        "undo_days": UNDO_DAYS,
    }
    user = User.objects.filter(email=new_address, is_active=True).first()
    if user is not None:  # else changed again, or closed, since: nothing to undo
        token = _signer(UNDO_SALT).sign_object(
            {"account": user.pk, "from": old_address, "to": new_address}
        )
        query = urlencode({"change": token})
        context["undo_link"] = settings.SITE_URL + reverse("undo_address_change") + "?" + query
    return send_or_try_later(
        "emails/address_changed",
        old_address,
        context,
        deadline=datetime.fromisoformat(when) + NOTICES_TRIED_FOR,
        again=(send_notice_to_old_address, (old_address, new_address, when)),
        attempt=attempt,
    )

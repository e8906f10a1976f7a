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

Every change is a row (AddressChange), and the database decides between them: confirming is one
conditional UPDATE of the account that checks the address the change started from and the
week's lock together, so of two changes asked in two browsers exactly one lands, and it cancels
the other. The notice, and its undo link, are built from that row (what was changed), never from
what the account looks like when the worker runs. For the week, the old address is reserved for
its undo: it cannot open a new account, no other account can move to it, and asking to sign in
there mails a fresh undo link instead (accounts/delivery.py), so the owner's first reaction
("I'll just sign in") gives them the way back instead of spending it.
"""

import secrets
import time
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.tasks import task
from django.urls import reverse
from django.utils import timezone

from accounts.account_mail import drop, legacy_key, owe, send_or_try_later
from accounts.addresses import display_address
from accounts.browsers import end_all
from accounts.events import log_event, mask_address
from accounts.login_codes import CodeProblem, code_for, code_matches, count_try, grouped
from accounts.models import AddressChange, User
from accounts.rate_limits import code_guessing_allowed, count_wrong_code

SESSION_KEY = "address_change"
SALT = "accounts.address-change"
UNDO_SALT = "accounts.address-change-undo"
UNDO_DAYS = settings.ACCOUNT_UNDO_DAYS
State = AddressChange.State


class ChangeProblem(CodeProblem):
    """A link or code that changes nothing, and why: a code's reasons, or invalid, taken,
    closed, or cancelled (another change landed first)."""


def ask_to_change(request: HttpRequest, new_address: str) -> None:
    """Record the change, queue the email that proves the new address, and tie its code to
    this browser."""
    user = request.user
    change = AddressChange.objects.create(
        id=secrets.token_urlsafe(16), user=user, from_address=user.email, to_address=new_address
    )
    request.session[SESSION_KEY] = {
        "request": change.id,
        "to": new_address,
        "issued_at": int(time.time()),
    }
    owe(
        send_proof,
        (change.id,),
        key=f"address_change_proof:{change.id}",
        to=new_address,
        user=user,
        deadline=change.asked_at + timedelta(seconds=settings.LOGIN_LINK_MAX_AGE),
        security=False,  # it proves an inbox, as a sign-in email does: suppression holds
    )


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


def reserved_for_undo(address: str) -> AddressChange | None:
    """The change away from `address` that its inbox may still undo, if there is one."""
    return (
        AddressChange.objects.filter(
            from_address=address, state=State.DONE, done_at__gt=_undo_week_start()
        )
        .select_related("user")
        .order_by("-done_at")
        .first()
    )


def check_code(request: HttpRequest, typed: str) -> AddressChange:
    """The change this browser's code proves; raise ChangeProblem if it proves none."""
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
    change = AddressChange.objects.filter(pk=pending["request"], user=request.user).first()
    if change is None:
        raise ChangeProblem("expired")  # asked before changes were rows: ask again
    return _still_to_be_made(request.user, change)


def check_link(user: User, token: str) -> AddressChange:
    """The change a link proves for this account; raise ChangeProblem if it proves none."""
    try:
        signed = _signer().unsign_object(token, max_age=settings.LOGIN_LINK_MAX_AGE)
    except signing.SignatureExpired:
        raise ChangeProblem("expired") from None
    except (signing.BadSignature, TypeError, ValueError):
        raise ChangeProblem("invalid") from None
    if not isinstance(signed, dict) or signed.get("account") != user.pk:
        raise ChangeProblem("invalid")
    change = AddressChange.objects.filter(pk=signed.get("change", ""), user=user).first()
    if change is None:
        raise ChangeProblem("expired")  # sent before changes were rows: ask again
    if change.state == State.DONE:
        raise ChangeProblem("used")  # a link works once, whichever proof made the change
    return _still_to_be_made(user, change)


def _still_to_be_made(user: User, change: AddressChange) -> AddressChange:
    """`change` if it may still land, or has just landed by its other proof; else why not."""
    if change.state == State.CANCELLED:
        raise ChangeProblem("cancelled")
    if change.state == State.DONE and user.email == change.to_address:
        return change  # the link and the code prove the same change: the second finds it done
    if change.state != State.PENDING or user.email != change.from_address:
        raise ChangeProblem("used")  # the address changed since: by this change, or another
    return change


def change(request: HttpRequest, proven: AddressChange) -> bool:
    """Make the proven change and owe the old address its notice; False if it was made already.

    One conditional UPDATE decides: the account must still have the address the change started
    from, and no change or undo in the last UNDO_DAYS. The first of two changes asked in two
    browsers lands; the second finds the address moved, and is told it was cancelled.
    """
    if proven.state == State.DONE:
        request.session.pop(SESSION_KEY, None)
        return False
    now = timezone.now()
    try:
        with transaction.atomic():
            if reserved_for_undo(proven.to_address):
                raise ChangeProblem("taken")  # another account's old address, for its week
            unlocked = Q(address_changed_at__isnull=True) | Q(
                address_changed_at__lte=_undo_week_start()
            )
            moved = User.objects.filter(
                unlocked, pk=proven.user_id, email=proven.from_address, is_active=True
            ).update(email=proven.to_address, address_changed_at=now)
            landed = moved and AddressChange.objects.filter(
                pk=proven.pk, state=State.PENDING
            ).update(state=State.DONE, done_at=now)
            if not landed:
                raise ChangeProblem("cancelled")
            cancel_pending(proven.user_id)
            owe(
                send_change_notice,
                (proven.pk,),
                key=f"address_changed:{proven.pk}",
                to=proven.from_address,
                user=request.user,
                deadline=now + timedelta(days=UNDO_DAYS),
            )
    except IntegrityError:
        raise ChangeProblem("taken") from None
    request.user.email = proven.to_address
    request.session.pop(SESSION_KEY, None)
    log_event("address_changed", user=proven.user_id, email=mask_address(proven.to_address))
    return True


def cancel_pending(user_id: int) -> int:
    """Cancel every change of this account still waiting for its new inbox; how many."""
    return AddressChange.objects.filter(user_id=user_id, state=State.PENDING).update(
        state=State.CANCELLED
    )


def check_undo(token: str) -> AddressChange:
    """The change an undo link takes back; raise ChangeProblem if it takes back none."""
    try:
        signed = _signer(UNDO_SALT).unsign_object(token, max_age=timedelta(days=UNDO_DAYS))
    except signing.SignatureExpired:
        raise ChangeProblem("expired") from None
    except (signing.BadSignature, TypeError, ValueError):
        raise ChangeProblem("invalid") from None
    if not isinstance(signed, dict):
        raise ChangeProblem("invalid")
    if "change" not in signed:
        return _change_from_before_rows(signed)
    made = AddressChange.objects.filter(pk=signed["change"]).select_related("user").first()
    if made is None:
        raise ChangeProblem("closed")  # the account was erased since: nothing to give back
    if made.state == State.UNDONE or made.user.email != made.to_address:
        raise ChangeProblem("used")
    if made.done_at <= _undo_week_start():
        raise ChangeProblem("expired")  # a fresh link for a change older than its week
    return made


def _change_from_before_rows(signed: dict) -> AddressChange:
    """An undo link mailed before changes were rows (until 2026-12-13): what it names."""
    user = User.objects.filter(pk=signed.get("account"), is_active=True).first()
    if user is None:
        raise ChangeProblem("closed")
    if user.email != signed.get("to"):
        raise ChangeProblem("used")
    return AddressChange(
        user=user,
        from_address=str(signed.get("from", "")),
        to_address=user.email,
        state=State.DONE,
    )


def undo(made: AddressChange) -> None:
    """Give the account its old address back (and reopen it, if it was closed since), sign
    every browser out, remove every passkey, and cancel every change still pending."""
    user = made.user
    try:
        with transaction.atomic():
            account = User.objects.filter(pk=user.pk, email=made.to_address)
            if not account.update(
                email=made.from_address,
                address_changed_at=timezone.now(),
                is_active=True,
                closed_at=None,
            ):
                raise ChangeProblem("used")  # undone by a second press meanwhile
            if made.pk:
                AddressChange.objects.filter(pk=made.pk).update(state=State.UNDONE)
            cancel_pending(user.pk)
            end_all(user)
            user.passkeys.all().delete()
    except IntegrityError:
        raise ChangeProblem("taken") from None  # an account from before the reservation
    log_event("address_change_undone", user=user.pk, email=mask_address(made.from_address))


def undo_link(made: AddressChange) -> str:
    """A link that takes `made` back, for its week: in the notice, or mailed again on request."""
    token = _signer(UNDO_SALT).sign_object(
        {
            "change": made.pk,
            "account": made.user_id,
            "from": made.from_address,
            "to": made.to_address,
        }
    )
    return settings.SITE_URL + reverse("undo_address_change") + "?" + urlencode({"change": token})


def _undo_week_start() -> datetime:
    return timezone.now() - timedelta(days=UNDO_DAYS)


def _signer(salt: str = SALT) -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=salt, sep=".")


@task()
def send_proof(change_id: str, *before_rows, attempt: int = 1, key: str = "") -> str:
    """Mail the new address its link and code; or, if it has an account, say so to it alone."""
    if before_rows:
        return "queued before changes were rows: its code no longer exists"  # until 2026-12-13
    change = AddressChange.objects.filter(pk=change_id).select_related("user").first()
    if change is None or change.state != State.PENDING or not change.user.is_active:
        return drop(key or f"address_change_proof:{change_id}", "no longer pending")
    retries = {
        "key": key or f"address_change_proof:{change_id}",
        "deadline": change.asked_at + timedelta(seconds=settings.LOGIN_LINK_MAX_AGE),
        "again": (send_proof, (change_id,)),
        "attempt": attempt,
        "security": False,
    }
    new_address = change.to_address
    if User.objects.filter(email=new_address).exists():
        # Said only to the new address's owner: the person asking learns nothing from the page.
        context = {"address": display_address(new_address)}
        return send_or_try_later("emails/address_taken", new_address, context, **retries)
    token = _signer().sign_object(
        {
            "change": change.pk,
            "account": change.user_id,
            "from": change.from_address,
            "to": new_address,
        }
    )
    link = (
        settings.SITE_URL + reverse("confirm_address_change") + "?" + urlencode({"change": token})
    )
    context = {
        "address": display_address(new_address),
        "link": link,
        "code": grouped(code_for(f"change:{change.pk}")),
        "minutes": max(1, settings.LOGIN_LINK_MAX_AGE // 60),
    }
    return send_or_try_later("emails/address_change", new_address, context, **retries)


@task()
def send_change_notice(change_id: str, attempt: int = 1, key: str = "") -> str:
    """Tell the old address its account moved, with the link that takes it back."""
    made = AddressChange.objects.filter(pk=change_id).first()
    if made is None:
        return "erased"  # the account was erased; its row with it
    context = {
        "address": display_address(made.from_address),
        "new_address": display_address(made.to_address),
        "when": made.done_at,
        "undo_days": UNDO_DAYS,
        # Always: built from the change itself, whatever the account has done since.
        "undo_link": undo_link(made),
    }
    return send_or_try_later(
        "emails/address_changed",
        made.from_address,
        context,
        key=key or f"address_changed:{change_id}",
        deadline=made.done_at + timedelta(days=UNDO_DAYS),
        again=(send_change_notice, (change_id,)),
        attempt=attempt,
    )


@task()
def send_notice_to_old_address(
    old_address: str, new_address: str, when: str, attempt: int = 1, key: str = ""
) -> str:
    """Queued before changes were rows (remove after 2026-12-13): the same notice, its undo
    link in the old form that check_undo still reads."""
    context = {
        "address": display_address(old_address),
        "new_address": display_address(new_address),
        "when": datetime.fromisoformat(when),
        "undo_days": UNDO_DAYS,
    }
    user = User.objects.filter(email=new_address, is_active=True).first()
    if user is not None:
        token = _signer(UNDO_SALT).sign_object(
            {"account": user.pk, "from": old_address, "to": new_address}
        )
        query = urlencode({"change": token})
        context["undo_link"] = settings.SITE_URL + reverse("undo_address_change") + "?" + query
    return send_or_try_later(
        "emails/address_changed",
        old_address,
        context,
        key=key or legacy_key("address_changed", old_address, new_address, when),
        deadline=datetime.fromisoformat(when) + timedelta(days=UNDO_DAYS),
        again=(send_notice_to_old_address, (old_address, new_address, when)),
        attempt=attempt,
    )

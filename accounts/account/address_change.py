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
there mails a fresh undo link instead (accounts/mail/delivery.py), so the owner's first reaction
("I'll just sign in") gives them the way back instead of spending it.
"""

import secrets
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from accounts.account.address_mail import send_change_notice, send_proof
from accounts.account.changes import (
    UNDO_DAYS,
    ChangeProblem,
    State,
    cancel_pending,
    reserved_for_undo,
    signer,
    undo_week_start,
)
from accounts.limits import code_guessing_allowed, count_wrong_code
from accounts.mail.owed import owe
from accounts.models import AddressChange, User
from accounts.records.log import log_event, mask_address
from accounts.refusals import open_signed
from accounts.signin.codes import code_matches, count_try

SESSION_KEY = "address_change"


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
    signed = open_signed(signer(), token, settings.LOGIN_LINK_MAX_AGE, ChangeProblem)
    if signed.get("account") != user.pk:
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
    try:
        with transaction.atomic():
            _land(proven)
    except IntegrityError:
        raise ChangeProblem("taken") from None
    request.user.email = proven.to_address
    request.session.pop(SESSION_KEY, None)
    log_event("address_changed", user=proven.user_id, email=mask_address(proven.to_address))
    return True


def _land(proven: AddressChange) -> None:
    """Inside the caller's transaction: the one conditional UPDATE, the other changes
    cancelled, and the notice owed to the old address; ChangeProblem if it cannot land."""
    if reserved_for_undo(proven.to_address):
        raise ChangeProblem("taken")  # another account's old address, for its week
    now = timezone.now()
    unlocked = Q(address_changed_at__isnull=True) | Q(address_changed_at__lte=undo_week_start())
    moved = User.objects.filter(
        unlocked, pk=proven.user_id, email=proven.from_address, is_active=True
    ).update(email=proven.to_address, address_changed_at=now)
    landed = moved and AddressChange.objects.filter(pk=proven.pk, state=State.PENDING).update(
        state=State.DONE, done_at=now
    )
    if not landed:
        raise ChangeProblem("cancelled")
    cancel_pending(proven.user_id)
    owe(
        send_change_notice,
        (proven.pk,),
        key=f"address_changed:{proven.pk}",
        to=proven.from_address,
        user=proven.user,
        deadline=now + timedelta(days=UNDO_DAYS),
    )

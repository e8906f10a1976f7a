"""Undoing a change of address from the old inbox: the address comes back, every browser is
signed out, every passkey removed, and a closed account reopens (accounts/account/changes.py
holds what the undo shares with the change)."""

from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.account.changes import (
    UNDO_DAYS,
    UNDO_SALT,
    ChangeProblem,
    State,
    cancel_pending,
    signer,
    undo_week_start,
)
from accounts.models import AddressChange, User
from accounts.records.log import log_event, mask_address
from accounts.refusals import open_signed
from accounts.sessions.browsers import Why, end_all


def check_undo(token: str) -> AddressChange:
    """The change an undo link takes back; raise ChangeProblem if it takes back none."""
    max_age = timedelta(days=UNDO_DAYS)
    signed = open_signed(signer(UNDO_SALT), token, max_age, ChangeProblem)
    if "change" not in signed:
        return _change_from_before_rows(signed)
    made = AddressChange.objects.filter(pk=signed["change"]).select_related("user").first()
    if made is None or deactivated_by_staff(made.user):
        raise ChangeProblem("closed")  # erased since, or staff closed it: nothing to give back
    if made.state == State.UNDONE or made.user.email != made.to_address:
        raise ChangeProblem("used")
    if made.done_at <= undo_week_start():
        raise ChangeProblem("expired")  # a fresh link for a change older than its week
    return made


def deactivated_by_staff(user: User) -> bool:
    """Inactive, but not closed by its person: an undo gives such an account nothing back."""
    return not user.is_active and user.closed_at is None


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
            if not account.update(email=made.from_address, address_changed_at=timezone.now()):
                raise ChangeProblem("used")  # undone by a second press meanwhile
            # Reopened if its person closed it (the intruder's deletion); an account staff
            # deactivated stays so (closed_at is empty then).
            account = User.objects.filter(pk=user.pk, closed_at__isnull=False)
            account.update(is_active=True, closed_at=None)
            if made.pk:
                AddressChange.objects.filter(pk=made.pk).update(state=State.UNDONE)
            cancel_pending(user.pk)
            end_all(user, why=Why.UNDONE)
            user.passkeys.all().delete()
    except IntegrityError:
        raise ChangeProblem("taken") from None  # an account from before the reservation
    log_event("address_change_undone", user=user.pk, email=mask_address(made.from_address))


def undo_link(made: AddressChange) -> str:
    """A link that takes `made` back, for its week: in the notice, or mailed again on request."""
    token = signer(UNDO_SALT).sign_object(
        {
            "change": made.pk,
            "account": made.user_id,
            "from": made.from_address,
            "to": made.to_address,
        }
    )
    return settings.SITE_URL + reverse("undo_address_change") + "?" + urlencode({"change": token})

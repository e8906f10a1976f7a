"""What an address change and its undo share: their signed tokens, why one is refused, the
week the old address keeps its power, and the reservation that week holds."""

from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.utils import timezone

from accounts.models import AddressChange
from accounts.signin.codes import CodeProblem

SALT = "accounts.address-change"
UNDO_SALT = "accounts.address-change-undo"
UNDO_DAYS = settings.ACCOUNT_UNDO_DAYS
State = AddressChange.State


class ChangeProblem(CodeProblem):
    """A link or code that changes nothing, and why: a code's reasons, or invalid, taken,
    closed, or cancelled (another change landed first)."""


def reserved_for_undo(address: str) -> AddressChange | None:
    """The change away from `address` that its inbox may still undo, if there is one."""
    return (
        AddressChange.objects.filter(
            from_address=address, state=State.DONE, done_at__gt=undo_week_start()
        )
        .select_related("user")
        .order_by("-done_at")
        .first()
    )


def cancel_pending(user_id: int) -> int:
    """Cancel every change of this account still waiting for its new inbox; how many."""
    return AddressChange.objects.filter(user_id=user_id, state=State.PENDING).update(
        state=State.CANCELLED
    )


def undo_week_start() -> datetime:
    return timezone.now() - timedelta(days=UNDO_DAYS)


def signer(salt: str = SALT) -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=salt, sep=".")

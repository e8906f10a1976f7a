"""Changes of an account's address, from being asked for to being undone."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AddressChange(models.Model):
    """One change of an account's address, from being asked for to being undone.

    Asking writes a pending row; the first of an account's pending changes to be proven (by the
    new inbox's code or link) lands, in one conditional UPDATE, and cancels the others. Once done,
    the row is what the old address's undo link names, and what reserves the old address for
    its week (accounts/account/address_change.py).
    """

    class State(models.TextChoices):
        PENDING = "pending", _("waiting for the new inbox")
        DONE = "done", _("done")
        CANCELLED = "cancelled", _("cancelled by another change")
        UNDONE = "undone", _("undone from the old address")

    # Random: it names the request in the asking browser's session, and its code is derived
    # from it with SECRET_KEY, as a sign-in code is from its email's id.
    id = models.CharField(primary_key=True, max_length=32, editable=False)
    user = models.ForeignKey("User", on_delete=models.CASCADE, related_name="address_changes")
    from_address = models.EmailField(_("from"), max_length=254)
    to_address = models.EmailField(_("to"), max_length=254)
    state = models.CharField(max_length=10, choices=State, default=State.PENDING)
    asked_at = models.DateTimeField(_("asked at"), default=timezone.now)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)

    class Meta:
        verbose_name = _("address change")
        verbose_name_plural = _("address changes")
        indexes = [
            models.Index(fields=["from_address", "state"], name="addresschange_from_state"),
            models.Index(fields=["user", "state"], name="addresschange_user_state"),
        ]

    def __str__(self) -> str:
        return f"{self.from_address} → {self.to_address} ({self.state})"

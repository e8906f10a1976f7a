"""The record of what happened around signing in."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SignInEvent(models.Model):
    """What happened around signing in, for the person (their recent activity) and operators.

    Never a token or a code, not even hashed. The network is kept to its /24 (IPv4) or /48 (IPv6)
    and the browser as its User-Agent header, shortened; both go after EVENT_RETENTION_DAYS.
    """

    class Kind(models.TextChoices):
        REQUESTED = "requested", _("email asked for")
        OPENED = "opened", _("link opened")
        SIGNED_IN = "signed_in", _("signed in")
        REJECTED = "rejected", _("rejected")
        SIGNED_OUT = "signed_out", _("signed out")
        BROWSER_ENDED = "browser_ended", _("another browser signed out from /account/")
        ADDRESS_CHANGED = "address_changed", _("address changed")
        ACCOUNT_DELETED = "deleted", _("account deleted")
        RESTORED = "restored", _("account restored")
        PASSKEY_ADDED = "passkey_added", _("passkey added")
        PASSKEY_REMOVED = "passkey_removed", _("passkey removed")

    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    kind = models.CharField(_("what"), max_length=16, choices=Kind)
    # Null when no account is known (an address without one asked), or once it is deleted.
    user = models.ForeignKey(
        "User", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    # How (link, code) for a sign-in; why (invalid, expired, used, wrong, …) for a rejection.
    detail = models.CharField(_("how or why"), max_length=16, blank=True)
    network = models.CharField(_("network"), max_length=50, blank=True)
    user_agent = models.CharField(_("browser"), max_length=256, blank=True)
    # A link opened by something other than the browser that asked, moments after it was sent,
    # or by a known mail scanner: it spent nothing, but it was not the person.
    likely_scanner = models.BooleanField(_("likely a mail scanner"), default=False)
    # For a sign-in, the operator's funnel (accounts/records/funnel.py): the account's mail
    # provider, and the seconds from asking for the email to signing in, where this browser
    # asked (a link opened elsewhere, a passkey: none).
    domain = models.CharField(max_length=253, blank=True)
    seconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("sign-in event")
        verbose_name_plural = _("sign-in events")
        indexes = [
            models.Index(fields=["user", "-at"], name="signinevent_user_at"),
            # The funnel reads one kind over a day or a week: the sign-ins among every event.
            models.Index(fields=["kind", "at"], name="signinevent_kind_at"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%Y-%m-%d %H:%M:%S}"

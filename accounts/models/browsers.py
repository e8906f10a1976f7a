"""Where an account is signed in, and the browsers it has signed in from before."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SignedInBrowser(models.Model):
    """One browser where an account is signed in: its session, found by account without
    scanning every session row, so that the person can see it and end it from /account/.

    Deleted with its session (sign-out, expiry, or ended from another browser), by the database
    itself: deleting a session is then one statement (accounts/sessions/store.py).
    """

    session = models.OneToOneField(
        "sessions.Session", primary_key=True, on_delete=models.DB_CASCADE
    )
    # Database-level too: Django allows no mix of the two kinds on one model.
    user = models.ForeignKey("User", on_delete=models.DB_CASCADE, related_name="browsers")
    # A random handle for forms and URLs: the session key itself never leaves the cookie.
    handle = models.CharField(max_length=32, unique=True)
    signed_in_at = models.DateTimeField(_("signed in at"), default=timezone.now)
    last_active = models.DateTimeField(_("last active"), default=timezone.now)
    network = models.CharField(max_length=50, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)

    class Meta:
        verbose_name = _("signed-in browser")
        verbose_name_plural = _("signed-in browsers")
        indexes = [models.Index(fields=["user", "-last_active"], name="browser_user_active")]

    def __str__(self) -> str:
        return f"{self.user} since {self.signed_in_at:%Y-%m-%d %H:%M}"


class KnownDevice(models.Model):
    """A browser this account has signed in from before, by the digest of its device cookie.

    A sign-in from a browser not on the list is announced to the account's address.
    """

    user = models.ForeignKey("User", on_delete=models.CASCADE, related_name="known_devices")
    digest = models.CharField(max_length=64)
    first_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "digest"], name="known_device_once"),
        ]

    def __str__(self) -> str:
        return f"a browser of {self.user} since {self.first_seen:%Y-%m-%d}"

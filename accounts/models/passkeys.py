"""Passkeys: WebAuthn credentials that sign their account in."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Passkey(models.Model):
    """A WebAuthn credential (a passkey) that signs its account in (accounts/passkeys/ceremony.py).

    Only public material: the authenticator keeps the private key. `user_handle` is the random
    id the authenticator stores with the passkey and returns on sign-in; it is the same for all
    of an account's passkeys and says nothing about the person.
    """

    user = models.ForeignKey("User", on_delete=models.CASCADE, related_name="passkeys")
    credential_id = models.BinaryField(unique=True)
    public_key = models.BinaryField()
    user_handle = models.BinaryField()
    sign_count = models.PositiveBigIntegerField(default=0)
    # Whether the passkey may be synced (backup eligible), and whether it is (backed up).
    backup_eligible = models.BooleanField(default=False)
    backed_up = models.BooleanField(default=False)
    aaguid = models.CharField(max_length=36, blank=True)
    transports = models.JSONField(default=list, blank=True)
    name = models.CharField(_("name"), max_length=64)
    created_at = models.DateTimeField(_("added"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("passkey")
        verbose_name_plural = _("passkeys")

    def __str__(self) -> str:
        return f"{self.name} of {self.user}"

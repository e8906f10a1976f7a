"""The account: a user whose email address is the login, and how its one-use claims work."""

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts.signin.addresses import InvalidAddress, canonical_address, display_address
from accounts.zones import known_zone


def _reader_now() -> dict:
    """The active language, and the zone when the browser reported one (accounts/zones.py)."""
    reader = {"language": translation.get_language() or ""}
    if zone := known_zone():
        reader["time_zone"] = zone
    return reader


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> "User":
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=canonical_address(email), **fields)
        # With no password given, the account can only be entered through a login link.
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> "User":
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)

    def claim(self, user: "User", seen_last_login) -> bool:
        """Move `user`'s last_login forward if it still holds `seen_last_login`.

        django-sesame's one-time check reads last_login and saves it later, so parallel
        requests all pass. One conditional UPDATE is serialised by the database: of many
        claims of one link or code, exactly one wins, and every older link and code dies.

        The first claim also keeps the sign-in's language and zone, for the notices no page
        of the person's asks for (accounts/mail/owed.py); later ones change them only from a
        long-known browser (accounts/signin/finish.py).
        """
        claimed = self.filter(pk=user.pk, last_login=seen_last_login)
        # The account's first sign-in: its language and zone are this browser's.
        reader = _reader_now() if seen_last_login is None else {}
        return bool(claimed.update(last_login=timezone.now(), **reader))

    def get_by_natural_key(self, email: str) -> "User":
        try:
            return self.get(email=canonical_address(email))
        except InvalidAddress:
            raise self.model.DoesNotExist from None


class User(AbstractBaseUser, PermissionsMixin):
    # Always the canonical spelling (accounts/signin/addresses.py), so this unique index is
    # uniqueness of the mailbox, whatever case, width or IDNA form it was typed in.
    email = models.EmailField(_("email address"), max_length=254, unique=True)
    is_staff = models.BooleanField(
        _("staff status"),
        default=False,
        help_text=_("Whether the user can open the admin site."),
    )
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Unselect this instead of deleting the account: it ends every sign-in link."),
    )
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    # The last change of address, or its undoing: for a week after it, the old address may undo
    # it, and so the address may not change again (accounts/account/address_change.py).
    address_changed_at = models.DateTimeField(
        _("address changed at"), null=True, blank=True, editable=False
    )

    # Set when the person deleted the account: it is closed at once (no session, no sign-in, no
    # passkey) and erased ACCOUNT_UNDO_DAYS later, until when its address can restore it
    # (accounts/closing.py).
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, editable=False)

    # The language and time zone of the person's last sign-in (or their last choice of
    # language): notices, which no page of theirs asked for, are written in them.
    language = models.CharField(_("language"), max_length=16, blank=True, editable=False)
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            # Canonical spellings are lower-case; a write that skipped canonical_address() and
            # would make "ALICE@…" a second account fails here instead.
            models.CheckConstraint(condition=Q(email=Lower("email")), name="user_email_lower_case"),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs) -> None:
        if self._is_being_deactivated():
            # django-sesame signs each token over the password hash and Django ties each
            # session to it (get_session_auth_hash): a new unusable password ends every
            # outstanding link and session, so activating the account again revives neither.
            self.set_unusable_password()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "password"}
        super().save(*args, **kwargs)

    def _is_being_deactivated(self) -> bool:
        if self.pk is None or self.is_active:
            return False
        return User.objects.filter(pk=self.pk, is_active=True).exists()

    @property
    def display_email(self) -> str:
        """The address as people should read it, look-alike domains made visible."""
        return display_address(self.email)

    def clean(self) -> None:
        super().clean()
        try:
            self.email = canonical_address(self.email)
        except InvalidAddress as error:
            raise ValidationError({"email": str(error)}) from None

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.addresses import InvalidAddress, canonical_address, display_address


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
        """
        claimed = self.filter(pk=user.pk, last_login=seen_last_login)
        return bool(claimed.update(last_login=timezone.now()))

    def get_by_natural_key(self, email: str) -> "User":
        try:
            return self.get(email=canonical_address(email))
        except InvalidAddress:
            raise self.model.DoesNotExist from None


class User(AbstractBaseUser, PermissionsMixin):
    # Always the canonical spelling (accounts/addresses.py), so this unique index is uniqueness
    # of the mailbox, whatever case, width or IDNA form it was typed in.
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
    # it, and so the address may not change again (accounts/address_change.py).
    address_changed_at = models.DateTimeField(
        _("address changed at"), null=True, blank=True, editable=False
    )

    # Set when the person deleted the account: it is closed at once (no session, no sign-in, no
    # passkey) and erased ACCOUNT_UNDO_DAYS later, until when its address can restore it
    # (accounts/closing.py).
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, editable=False)

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


class SuppressedAddress(models.Model):
    """An address the mail provider told us to stop writing to: for good, or until a time.

    Sending on would hurt the sender's reputation (and so everyone's sign-in mail). The person
    asking still gets the same answer as everyone: a suppressed address is nobody's business.
    """

    email = models.EmailField(_("email address"), max_length=254, unique=True)
    reason = models.CharField(_("reason"), max_length=40)
    created_at = models.DateTimeField(_("suppressed at"), default=timezone.now)
    # Empty: for good (a complaint, an unsubscribe). A bounce only pauses mail: see suppression.py.
    until = models.DateTimeField(_("until"), null=True, blank=True)

    class Meta:
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppressed addresses")

    def __str__(self) -> str:
        return self.email


class SignInEmail(models.Model):
    """One request for a sign-in email, from the moment it is asked for until it is delivered.

    The request only writes this row and queues its delivery (accounts/delivery.py), so it
    answers at once whatever the mail server does. The worker decides what the email says,
    sends it and records the outcome here, which the check-inbox page reads. The row holds no
    secret: the link is made when it is sent and the code is derived from the row's id with
    SECRET_KEY (accounts/login_codes.py).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RETRYING = "retrying", _("waiting to retry")
        SENT = "sent", _("sent")
        # Nothing to send: no account (NO_ACCOUNT_EMAIL off) or a suppressed address.
        NOT_SENT = "not_sent", _("not sent on purpose")
        FAILED = "failed", _("could not be delivered")

    # Random and unguessable: it names the request in the asking browser's session.
    id = models.CharField(primary_key=True, max_length=32, editable=False)
    address = models.EmailField(_("email address"), max_length=254)
    next_url = models.CharField(max_length=2000, blank=True)
    # Where the request came from, for the event the worker records once it knows the account.
    network = models.CharField(max_length=50, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # Why the last attempt failed: an exception's class name or an SMTP reply code, no address.
    problem = models.CharField(max_length=100, blank=True)
    # What the worker found when it sent: whom the link and code sign in. The code's claim
    # needs last_login as it was then, as django-sesame's token does.
    user = models.ForeignKey("User", null=True, blank=True, on_delete=models.CASCADE)
    user_last_login = models.DateTimeField(null=True, blank=True)
    signup = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("sign-in email")
        verbose_name_plural = _("sign-in emails")
        indexes = [models.Index(fields=["requested_at"], name="signinemail_requested_at")]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"


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

    class Meta:
        verbose_name = _("sign-in event")
        verbose_name_plural = _("sign-in events")
        indexes = [models.Index(fields=["user", "-at"], name="signinevent_user_at")]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%Y-%m-%d %H:%M:%S}"


class SignedInBrowser(models.Model):
    """One browser where an account is signed in: its session, found by account without
    scanning every session row, so that the person can see it and end it from /account/.

    Deleted with its session (sign-out, expiry, or ended from another browser), by the database
    itself: deleting a session is then one statement (accounts/session_store.py).
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


class Passkey(models.Model):
    """A WebAuthn credential (a passkey) that signs its account in (accounts/passkeys.py).

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


class AddressChange(models.Model):
    """One change of an account's address, from being asked for to being undone.

    Asking writes a pending row; the first of an account's pending changes to be proven (by the
    new inbox's code or link) lands, in one conditional UPDATE, and cancels the others. Once done,
    the row is what the old address's undo link names, and what reserves the old address for
    its week (accounts/address_change.py).
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


class AccountEmail(models.Model):
    """One email about the account (a notice, an undo or restore link, an address's proof):
    owed from the moment its event happens until it is sent, or its deadline passes.

    `key` names the event and the kind of email, so a task that runs twice (a retry, a worker
    that died after sending) never sends a second copy; the account page lists what is still
    owed, and the admin what failed (accounts/account_mail.py).
    """

    class Status(models.TextChoices):
        OWED = "owed", _("owed")
        SENDING = "sending", _("being sent")
        SENT = "sent", _("sent")
        # Sign-in-like mail (a proof) to a suppressed address: not sent, on purpose.
        NOT_SENT = "not_sent", _("not sent on purpose")
        FAILED = "failed", _("could not be delivered by its deadline")

    key = models.CharField(max_length=120, unique=True)
    kind = models.CharField(_("kind"), max_length=40)
    address = models.EmailField(_("to"), max_length=254)
    user = models.ForeignKey(
        "User", null=True, blank=True, on_delete=models.CASCADE, related_name="account_emails"
    )
    # Security mail reaches the inbox despite a complaint or an unsubscribe, and waits out a
    # pause; other mail honours the suppression list as sign-in mail does.
    security = models.BooleanField(default=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.OWED)
    queued_at = models.DateTimeField(_("queued at"), default=timezone.now)
    deadline = models.DateTimeField(_("tried until"))
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    problem = models.CharField(max_length=100, blank=True)

    class Meta:
        verbose_name = _("account email")
        verbose_name_plural = _("account emails")
        indexes = [models.Index(fields=["user", "status"], name="accountemail_user_status")]

    def __str__(self) -> str:
        return f"{self.kind} ({self.status})"

    def get_kind_display(self) -> str:
        return str(KIND_NAMES.get(self.kind, self.kind))


# What each kind of account email is, in a person's words (the task's name is the kind).
KIND_NAMES = {
    "new_browser": _("The notice of a sign-in from a new browser"),
    "passkey_added": _("The notice of a passkey added"),
    "address_changed": _("The notice that your address changed, with its undo link"),
    "address_change_proof": _("The code for your new address"),
    "account_closed": _("The notice that your account was deleted, with its restore link"),
}

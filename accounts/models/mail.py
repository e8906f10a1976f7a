"""Mail: each sign-in email from asking to delivery, account emails owed until sent, and the
addresses the provider told us to stop writing to."""

from django.db import models
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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

    The request only writes this row, which is its delivery's queue too (accounts/mail/delivery.py),
    so it answers at once whatever the mail server does. A courier decides what the email says,
    sends it and records the outcome here, which the check-inbox page reads. The row holds no
    secret: the link is made when it is sent and the code is derived from the row's id with
    SECRET_KEY (accounts/signin/codes.py).
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
    # Where the request came from, for the event the courier records once it knows the account.
    network = models.CharField(max_length=50, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    # The row is its own queue (accounts/mail/sign_in_email.py): while queued or retrying, when
    # its next attempt may start, since when a courier has it (empty: nobody), and which
    # courier, until it hands the email to the mail server. The database has defaults of its own
    # for the rows the last release inserts during a deploy (migration 0015).
    due_at = models.DateTimeField(default=timezone.now, db_default=Now())
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=40, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # Why the last attempt failed: an exception's class name or an SMTP reply code, no address.
    problem = models.CharField(max_length=100, blank=True)
    # What the courier found when it sent: whom the link and code sign in. The code's claim
    # needs last_login as it was then, as django-sesame's token does.
    user = models.ForeignKey("User", null=True, blank=True, on_delete=models.CASCADE)
    user_last_login = models.DateTimeField(null=True, blank=True)
    signup = models.BooleanField(default=False)
    # Asked while the site's budget of emails was spent: only an account gets mail
    # (accounts/signin/front_door.py). Decided by the courier, so the page says the same to all.
    accounts_only = models.BooleanField(default=False)
    # The language of the page that asked: the email is written in it.
    language = models.CharField(max_length=16, blank=True)
    # The address's mail provider, kept for the operator's funnel (accounts/records/funnel.py)
    # after the address itself is blanked (accounts/sessions/pruning.py).
    domain = models.CharField(max_length=253, blank=True)
    # The id the provider's webhook names the message by (anymail's, or our Message-ID: any
    # length a header allows); and what the webhook told us of it: "bounced" or "complained"
    # (suppression.py).
    provider_id = models.TextField(blank=True)
    feedback = models.CharField(max_length=12, blank=True)

    class Meta:
        verbose_name = _("sign-in email")
        verbose_name_plural = _("sign-in emails")
        indexes = [
            models.Index(fields=["requested_at"], name="signinemail_requested_at"),
            # The latest emails to one address: a link opened moments after one was sent
            # (records/audit.py), and the one a bounce or complaint is about (suppression.py).
            models.Index(fields=["address", "-sent_at"], name="signinemail_address_sent"),
            # The emails still owed, soonest first: what a courier's sweep reads once a minute.
            models.Index(
                fields=["due_at"],
                name="signinemail_owed_due",
                condition=models.Q(status__in=["queued", "retrying"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"


class AccountEmail(models.Model):
    """One email about the account (a notice, an undo or restore link, an address's proof):
    owed from the moment its event happens until it is sent, or its deadline passes.

    `key` names the event and the kind of email, so a task that runs twice (a retry, a worker
    that died after sending) never sends a second copy; the account page lists what is still
    owed, and the admin what failed (accounts/mail/owed.py).
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
    # Whom it is written for: the account's language and zone (accounts/mail/owed.py).
    language = models.CharField(max_length=16, blank=True)
    time_zone = models.CharField(max_length=64, blank=True)

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

"""One sign-in email sent: claimed from its row, written, handed to the mail server, and what
happened recorded on the row, which the check-inbox page reads.

The row is the email's queue (accounts/mail/delivery.py writes it): a courier claims it with one
conditional UPDATE (still owed, due, and nobody has it, or the one who had it has been gone
STALE_AFTER), so two couriers never send it at once. A process killed mid-send leaves a claim a
later sweep takes over: the email is late, not lost. A courier whose database failed between
its claim and the send takes its own claim back at its next sweep, seconds later: the claim
names it until the email is handed to the mail server. After that, a failure to write down
what happened leaves the claim for a takeover: the email may then go twice (with the same
code), never not at all.

What the email says is decided here, not by the request (a link and code for an account or a
signup, the way back an address has instead, or a note that there is no account), so the
request does the same work for every address. Nothing secret is stored: the link is made when
it is sent, and the code is derived from the row's id with SECRET_KEY (accounts/signin/codes.py),
so a retry mails the same code.

A mail server that says "try later" (4xx), times out or refuses the connection is tried again
after RETRY_DELAYS, until the link would expire; a permanent refusal (5xx) is recorded and the
check-inbox page says so.
"""

import smtplib
from datetime import datetime, timedelta

from anymail.exceptions import AnymailError
from django.conf import settings
from django.db.models import F, Q
from django.tasks import default_task_backend
from django.utils import timezone

from accounts.account.way_back import way_back_offer
from accounts.limits import LimitsUnavailable, forgive_address
from accounts.mail.retry import STALE_AFTER, delay_after, describe, is_transient
from accounts.mail.send import send_templated
from accounts.mail.suppression import is_suppressed, paused_until
from accounts.metrics import EMAIL_WAIT
from accounts.models import SignInEmail, SignInEvent, User
from accounts.records.log import log_event, mask_address
from accounts.signin.addresses import display_address
from accounts.signin.codes import code_for, grouped
from accounts.signin.links import build_login_link, find_account

Status = SignInEmail.Status
WAITING = [Status.QUEUED, Status.RETRYING]


def owed(now: datetime, courier: str = "", at_once: bool = False) -> Q:
    """The emails `courier` may take now: due (or waiting at all, `at_once`), and nobody has
    them (or whoever had them is gone, or it is this courier's own claim, left by a database
    error before the email left). The first conditions are the index's (signinemail_owed_due)."""
    free = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - STALE_AFTER)
    if courier:
        free |= Q(claimed_by=courier)
    due = Q() if at_once else Q(due_at__lte=now)
    return Q(status__in=WAITING) & due & free


def send_owed(email_id: str, courier: str = "", at_once: bool = False) -> SignInEmail | None:
    """Send this sign-in email if it is owed (`at_once`: due or not) and nobody else has it, or
    arrange its next attempt (its due_at, status RETRYING). The row as it was left; None if
    there was nothing to do."""
    now = timezone.now()
    claimed = SignInEmail.objects.filter(owed(now, courier, at_once), pk=email_id).update(
        claimed_at=now, claimed_by=courier, attempts=F("attempts") + 1
    )
    if not claimed:
        return None  # sent already, not due, another courier's, or pruned
    email = SignInEmail.objects.get(pk=email_id)
    if now >= _expiry(email):
        _forgive(email)
        return _finish(email, Status.FAILED, problem="expired before it could be sent")

    user, offer = _whom_and_what(email.address)
    # A first attempt; or one taking over from an attempt that never finished (RETRYING says
    # one did), which may have died before it wrote the ask down.
    if email.attempts == 1 or (email.status == Status.QUEUED and not _ask_recorded(email)):
        _record_the_ask(email, user)
    if _not_to_be_sent(email, user, offer):
        return _finish(email, Status.NOT_SENT)
    _write_down_whom(email, user)
    try:
        ids: list[str] = []
        sent = _send(email, user, offer, ids)
        email.provider_id = ids[0] if ids else ""
    except (smtplib.SMTPException, OSError, AnymailError) as error:
        return _failed(email, error)
    except Exception as error:
        _finish(email, Status.FAILED, problem=type(error).__name__)
        raise  # a defect: the courier logs its traceback
    # Not sent: the provider refused the address (accounts/mail/send.py put it on the list).
    return _finish(email, Status.SENT if sent else Status.NOT_SENT)


def _write_down_whom(email: SignInEmail, user: User | None) -> None:
    """Whom the code signs in, written before the email leaves: someone who reads it at once
    and types the code must not find the row still blank. From here the email may have left:
    a failure to record it is for a takeover, not this courier's next sweep (the claim no
    longer names it)."""
    email.user = user if user is not None and user.pk is not None else None
    email.user_last_login = user.last_login if user is not None else None
    email.signup = user is not None and user.pk is None
    email.claimed_by = ""
    email.save(update_fields=["user", "user_last_login", "signup", "claimed_by"])


def _whom_and_what(address: str) -> tuple[User | None, tuple[str, dict] | None]:
    """The account a link would sign in (unsaved for a signup), or the way back the address has
    instead: an address without an active account may have a move to undo or a closed account
    to restore, and its inbox gets that, never a new account. No extra read for an account."""
    user = find_account(address)
    if user is not None and user.pk is not None:
        return user, None
    # An unsaved User means no row has the address: no closed account to look for.
    offer = way_back_offer(address, may_be_closed=user is None)
    return (None, offer) if offer is not None else (user, None)


def _ask_recorded(email: SignInEmail) -> bool:
    return SignInEvent.objects.filter(
        kind=SignInEvent.Kind.REQUESTED, at=email.requested_at, network=email.network
    ).exists()


def _record_the_ask(email: SignInEmail, user: User | None) -> None:
    """The request itself could not say whose account it was for: the same work for everyone."""
    SignInEvent.objects.create(
        kind=SignInEvent.Kind.REQUESTED,
        at=email.requested_at,
        user=user if user is not None and user.pk is not None else None,
        network=email.network,
        user_agent=email.user_agent,
    )


def _not_to_be_sent(email: SignInEmail, user: User | None, offer: tuple[str, dict] | None) -> bool:
    if offer is not None:
        # Security mail: it goes despite a complaint, but not into a running pause.
        return paused_until(email.address) is not None
    if email.accounts_only and (user is None or user.pk is None):
        return True  # the site's budget was spent: new addresses wait (front_door.py)
    return (user is None and not settings.NO_ACCOUNT_EMAIL) or is_suppressed(email.address)


def _send(
    email: SignInEmail, user: User | None, offer: tuple[str, dict] | None, ids: list[str]
) -> bool:
    """Mail the link and the code; or the way back, when the address has one; or, when there
    is no account to sign in to, a note saying so."""
    context = {
        "address": display_address(email.address),
        "minutes": max(1, settings.LOGIN_LINK_MAX_AGE // 60),
    }
    if offer is not None:
        template, offered = offer
        context |= offered
    elif user is None:
        template = "emails/no_account"
    else:
        template = "emails/login_link"
        context["link"] = build_login_link(user, email.next_url)
        context["code"] = grouped(code_for(email.id))
    return send_templated(
        template, email.address, context, checked=True, language=email.language, ids=ids
    )


def _failed(email: SignInEmail, error: Exception) -> SignInEmail:
    problem = describe(error)
    retry_at = timezone.now() + timedelta(seconds=delay_after(email.attempts))
    # Mail sent inside the request (DEBUG's immediate backend) has no courier to try it again.
    if is_transient(error) and retry_at < _expiry(email) and default_task_backend.supports_defer:
        email.due_at = retry_at
        return _finish(email, Status.RETRYING, problem=problem)
    _forgive(email)
    return _finish(email, Status.FAILED, problem=problem)


def _forgive(email: SignInEmail) -> None:
    """The person did not get the email: asking again must not count against the address."""
    try:
        forgive_address(email.address)
    except LimitsUnavailable:
        pass


def _finish(email: SignInEmail, status: str, problem: str = "") -> SignInEmail:
    email.status = status
    email.problem = problem
    email.claimed_at = None
    if status == Status.SENT:
        email.sent_at = timezone.now()
        waited = (email.sent_at - email.requested_at).total_seconds()
        EMAIL_WAIT.labels("sign_in").observe(waited)
    # One write for everything this attempt learned, the claim given back with it.
    email.save(
        update_fields=[
            "status",
            "problem",
            "sent_at",
            "due_at",
            "claimed_at",
            "user",
            "user_last_login",
            "signup",
            "provider_id",
        ]
    )
    log_event(
        f"email_{status}",
        email=mask_address(email.address),
        attempt=email.attempts,
        **({"problem": problem} if problem else {}),
    )
    return email


def _expiry(email: SignInEmail) -> datetime:
    return email.requested_at + timedelta(seconds=settings.LOGIN_LINK_MAX_AGE)

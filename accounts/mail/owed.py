"""Account emails (notices, undo and restore links, an address change's proof): owed until sent.

Sign-in mail has its own row and status (accounts/mail/delivery.py). Each of these has an
AccountEmail row, written with the event that owes it (`owe`), and a task that sends it. The row
makes three promises:

- **At most one.** Its key names the event and the kind of email; the task claims the row
  (owed -> sending) before it sends, so a task run twice, a retry queued twice or a worker that
  died after sending never sends a second copy. The price: a worker killed between the claim and
  the send loses that one email (the row stays "sending", which the account page still lists).
- **Security mail reaches the inbox.** The undo notice, "passkey added", "new browser", "account
  deleted" are what the owner needs to keep the account: they go out despite a complaint or an
  unsubscribe (they are not marketing), and through a pause (a bounce) they wait for the pause
  to end and are tried again, until their own deadline (the undo week for the undo notice). Other
  account mail (an address's proof) honours the suppression list as sign-in mail does.
- **Nothing silent.** After a transient failure (4xx, a timeout, a refused connection) the email
  is tried again, ever less often, until its deadline; one not delivered by then is logged at
  warning level and marked failed (the admin lists them), and /account/ shows what is still owed.
"""

import hashlib
import logging
import smtplib
from contextlib import suppress
from datetime import datetime, timedelta

from anymail.exceptions import AnymailError
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.tasks import Task, default_task_backend
from django.utils import timezone, translation

from accounts.mail.retry import RETRY_DELAYS, delay_after, describe, is_transient
from accounts.mail.send import send_templated
from accounts.mail.suppression import paused_until
from accounts.metrics import EMAIL_WAIT, EMAILS, email_kind
from accounts.models import AccountEmail, User
from accounts.records.log import log_event, mask_address
from accounts.zones import known_zone

Status = AccountEmail.Status

# How long a notice that only says "this happened" is worth trying; the ones carrying a way
# back (undo, restore) are tried for ACCOUNT_UNDO_DAYS.
NOTICES_TRIED_FOR = timedelta(days=1)
# Attempts paced as sign-in mail is (about the first hour); then the wait doubles up to
# LONGEST_DELAY, so a week of retries is under 200 attempts, not 5,000.
SIGN_IN_PACED_ATTEMPTS = 30
LONGEST_DELAY = 60 * 60


def owe(
    task: Task,
    args: tuple,
    *,
    key: str,
    to: str,
    user: User | None,
    deadline: datetime,
    security: bool = True,
) -> None:
    """Record that the email named `key` is owed to `to`, and queue `task(*args, key=key)`.

    A key is "<kind>:<event>"; a second call with the same key (the same event, again) records
    and queues nothing.
    """
    kind = key.partition(":")[0]
    with transaction.atomic():
        _, created = AccountEmail.objects.get_or_create(
            key=key,
            defaults={
                "kind": kind,
                "address": to,
                "user": user,
                "deadline": deadline,
                "security": security,
                **_reader(user),
            },
        )
        if created:
            task.enqueue(*args, key=key)
            # Counted once it is true: the caller's transaction (a sign-in's) may yet roll back.
            counted = EMAILS.labels(email_kind(kind), "queued")
            transaction.on_commit(counted.inc, robust=True)


def _reader(user: User | None) -> dict:
    """The language and zone to write in: the account's own, set by its first sign-in and by
    long-known browsers only (accounts/signin/finish.py), never by the browser whose doing the
    email reports (it may be an intruder's); an account from before languages is English. With
    no account, the page's."""
    if user is not None:
        return {"language": user.language or settings.LANGUAGE_CODE, "time_zone": user.time_zone}
    return {"language": translation.get_language() or "", "time_zone": known_zone()}


def legacy_key(*parts: object) -> str:
    """A key for a task queued before keys existed (its arguments name its event)."""
    return "legacy:" + hashlib.sha256(repr(parts).encode()).hexdigest()


def send_or_try_later(
    template: str,
    to: str,
    context: dict,
    *,
    key: str,
    deadline: datetime,
    again: tuple[Task, tuple],
    attempt: int,
    security: bool = True,
    language: str | None = None,
    zone: str | None = None,
) -> str:
    """Send the email owed under `key`, once; after a transient failure or through a pause,
    queue `again` (a task and its arguments) with attempt + 1 while before the deadline. Says
    what happened. `language` and `zone`, when given, replace the row's (another reader)."""
    kind = template.removeprefix("emails/")
    row, _ = AccountEmail.objects.get_or_create(
        key=key,
        defaults={"kind": kind, "address": to, "deadline": deadline, "security": security},
    )
    claimed = AccountEmail.objects.filter(pk=row.pk, status=Status.OWED).update(
        status=Status.SENDING, attempts=F("attempts") + 1
    )
    if not claimed:
        return "already handled"  # sent, given up, or being sent by another run
    fields = {"kind": kind, "email": mask_address(row.address), "attempt": attempt}
    if language is not None:
        row.language, row.time_zone = language, zone or ""
    try:
        return _attempt(row, template, context, again, attempt, fields)
    except Exception as error:
        # A defect, or the database failing mid-way: the row must not stay "being sent" for
        # ever (every later run would skip it). Back to owed, tried again later, if the
        # database lets us; the task's own record keeps the traceback.
        with suppress(Exception):
            retry_at = timezone.now() + timedelta(seconds=notice_delay(attempt))
            _later(row, retry_at, again, attempt, type(error).__name__, fields)
        raise


def _attempt(
    row: AccountEmail,
    template: str,
    context: dict,
    again: tuple[Task, tuple],
    attempt: int,
    fields: dict,
) -> str:
    """One try at a claimed row: sent, waiting (a pause, a "try later"), or given up."""
    if row.security and (until := paused_until(row.address)):
        return _later(row, until, again, attempt, "address paused", fields)
    try:
        # Security mail skips the list (handled above); other mail is checked by send_templated.
        sent = send_templated(
            template,
            row.address,
            context,
            checked=row.security,
            language=row.language,
            zone=row.time_zone,
        )
    except (smtplib.SMTPException, OSError, AnymailError) as error:
        if is_transient(error):
            retry_at = timezone.now() + timedelta(seconds=notice_delay(attempt))
            return _later(row, retry_at, again, attempt, describe(error), fields)
        return _give_up(row, describe(error), fields)
    if not sent and row.security:
        # The provider refused the address, which paused it (accounts/mail/send.py): wait it out.
        until = paused_until(row.address) or timezone.now() + timedelta(hours=1)
        return _later(row, until, again, attempt, "refused by the provider", fields)
    if not sent:
        _record(row, Status.NOT_SENT, "suppressed")
        return "suppressed"
    _record(row, Status.SENT)
    log_event("account_email_sent", **fields)
    return "sent"


def drop(key: str, why: str) -> str:
    """Settle an owed email that is no longer worth sending (its account is gone, its change
    was cancelled): it is no longer listed as owed. Returns `why`, for the task's result."""
    AccountEmail.objects.filter(key=key, status=Status.OWED).update(
        status=Status.NOT_SENT, problem=why[:100]
    )
    return why


def notice_delay(attempt: int) -> int:
    """Sign-in mail's delays for the first hour or so, then ever longer, up to an hour."""
    if attempt <= SIGN_IN_PACED_ATTEMPTS:
        return delay_after(attempt)
    doublings = min(attempt - SIGN_IN_PACED_ATTEMPTS, 5)
    return min(LONGEST_DELAY, RETRY_DELAYS[-1] * 2**doublings)


def _later(
    row: AccountEmail,
    retry_at: datetime,
    again: tuple[Task, tuple],
    attempt: int,
    problem: str,
    fields: dict,
) -> str:
    if retry_at >= row.deadline or not default_task_backend.supports_defer:
        return _give_up(row, problem, fields)
    with transaction.atomic():
        _record(row, Status.OWED, problem)
        task, args = again
        task.using(run_after=retry_at).enqueue(*args, key=row.key, attempt=attempt + 1)
    log_event("account_email_retrying", **fields, problem=problem)
    return "retrying"


def _give_up(row: AccountEmail, problem: str, fields: dict) -> str:
    _record(row, Status.FAILED, problem)
    log_event("account_email_failed", level=logging.WARNING, **fields, problem=problem)
    return "failed"


def _record(row: AccountEmail, status: str, problem: str = "") -> None:
    row.status, row.problem = status, problem
    row.sent_at = timezone.now() if status == Status.SENT else None
    row.save(update_fields=["status", "problem", "sent_at"])
    if row.sent_at:
        waited = (row.sent_at - row.queued_at).total_seconds()
        EMAIL_WAIT.labels(email_kind(row.kind)).observe(waited)


def give_up_overdue() -> int:
    """Mark failed, with a warning each, the emails still owed or being sent after their deadline:
    a task lost with its worker, or a worker killed between its claim and its send, would leave a
    row that no run comes back to. Run by the hourly pruning (accounts/sessions/pruning.py)."""
    overdue = AccountEmail.objects.filter(
        status__in=[Status.OWED, Status.SENDING], deadline__lt=timezone.now()
    )
    given_up = 0
    for row in overdue:
        fields = {"kind": row.kind, "email": mask_address(row.address), "attempt": row.attempts}
        given_up += 1
        _give_up(row, row.problem or "no attempt came back before its deadline", fields)
    return given_up


def still_owed(user: User) -> list[AccountEmail]:
    """The account's security emails not delivered yet, or not at all, oldest first (shown on
    /account/ while their deadline lasts, and a week after it for those that failed)."""
    undelivered = [Status.OWED, Status.SENDING, Status.FAILED]
    recent = timezone.now() - timedelta(days=7)
    return list(
        AccountEmail.objects.filter(
            user=user, security=True, status__in=undelivered, deadline__gt=recent
        ).order_by("queued_at")
    )

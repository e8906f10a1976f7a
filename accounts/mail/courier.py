"""Mail leaves from the web process, right after the request that owes it commits.

Every email is a row written in the request's own transaction, so it is durable before anyone
is told it is coming: a sign-in email's own row (accounts/mail/delivery.py), or for account mail
a task in django-tasks-db's table (accounts/mail/owed.py). Each web process keeps a courier: a
thread that is handed each one as its transaction commits and sends it at once, one at a time,
through one kept connection to the mail server (accounts/mail/send.py). A retry due soon waits
in the courier's own list; anything a process never got to (it died, it was stopped, the retry
was due later than it lived) is found by a sweep of both tables, which every courier makes when
it starts and then once a minute (MAIL_SWEEP_SECONDS). So no always-on machine, no poll faster
than a minute, and an email waits for its request's COMMIT, not for a poll.

Two couriers never send one email: a sign-in email is claimed by one conditional UPDATE of its
row (accounts/mail/sign_in_email.py); a handed task by one conditional UPDATE (ready ->
running), a swept one by django-tasks-db's SELECT ... FOR UPDATE SKIP LOCKED. A process stopped
or killed between the claim and the send leaves its claim behind: a sweep takes it over once it
is STALE_AFTER old, so the email is late, not lost (a sign-in email may then go twice).
"""

import heapq
import logging
import secrets
import threading
import time

from django.conf import settings
from django.db import DatabaseError, close_old_connections, transaction
from django.db.models import Count, Min, Q, QuerySet
from django.tasks.base import TaskResultStatus
from django.utils import timezone
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult, get_date_max
from django_tasks_db.utils import exclusive_transaction

from accounts.mail.retry import STALE_AFTER, UNREACHABLE
from accounts.mail.send import close_kept_connection, keep_connection_open
from accounts.mail.sign_in_email import WAITING, owed, send_owed
from accounts.metrics import QUEUE_DEPTH, QUEUE_OLDEST, QUEUE_SWEPT
from accounts.models import SignInEmail
from accounts.records.log import log_event

# What a courier is handed: a sign-in email's row, or a django-tasks task (account mail).
SIGN_IN, TASK = "sign_in", "task"

# A stopping process goes on sending what its last requests handed it for this long (a few
# emails in flight: the common case), then leaves the rest to a sweep rather than hold the
# machine's stop for a slow mail server.
DRAIN_SECONDS = 1.0
# After a database error, the next sweep comes sooner, doubling up to MAIL_SWEEP_SECONDS.
FIRST_WAIT = 2


class AfterCommitBackend(DatabaseBackend):
    """django-tasks-db's backend (the TASKS setting names it), which also hands each task to
    this process's courier once the transaction that queued it has committed."""

    def enqueue(self, task, args, kwargs):
        result = super().enqueue(task, args, kwargs)
        due = task.run_after.timestamp() if task.run_after else 0.0
        transaction.on_commit(lambda: courier.hand(TASK, result.id, due), robust=True)
        return result


class Courier:
    def __init__(self) -> None:
        self.worker_id = f"courier-{secrets.token_hex(4)}"
        self._due: list[tuple[float, str, str]] = []  # (when, kind, id), soonest first
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._enabled = False
        self._stopping = False
        self._drain_until = 0.0
        self._unreachable = False  # a sign-in email is waiting because the server was out of reach
        self._worker = Worker(
            queue_names=["default"],
            interval=0,
            batch=True,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=self.worker_id,
            excluded_queue_names=[],
        )

    def start(self) -> None:
        """Run this process's courier: gunicorn's workers only (config/gunicorn.py). In any
        other process (a shell, a management command) a task waits in the table for a web
        process: its settings, not a script's, send the mail."""
        with self._wake:
            self._enabled, self._stopping = True, False
        self._ensure_running()

    def _ensure_running(self) -> None:
        with self._wake:
            if not self._enabled or self._stopping:
                return
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="courier", daemon=True)
            self._thread.start()

    def hand(self, kind: str, item_id: str, due: float = 0.0) -> None:
        """Send this sign-in email or task once `due` (a timestamp; 0: at once)."""
        with self._wake:
            if not self._enabled or self._stopping:
                return  # no courier here (or it is leaving): a sweep sends it
            heapq.heappush(self._due, (due, kind, str(item_id)))
            self._wake.notify()
        self._ensure_running()

    def stop(self, timeout: float) -> None:
        """Take no more; send what is due for DRAIN_SECONDS, finish the email in hand within
        `timeout`; leave the rest to a sweep. One cut short (the process left first) is found
        by a later sweep once its claim is STALE_AFTER old."""
        with self._wake:
            self._stopping = True
            self._drain_until = time.time() + DRAIN_SECONDS
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        keep_connection_open()
        try:
            self._loop()
        finally:
            close_kept_connection()  # on this thread, which alone sends on it

    def _loop(self) -> None:
        next_sweep, wait = 0.0, FIRST_WAIT
        while (handed := self._next(next_sweep)) is not None:
            try:
                for kind, item_id in handed:
                    if self._stopping and time.time() >= self._drain_until:
                        break  # still owed in its table: a sweep sends it
                    self.send_handed(kind, item_id)
                if time.time() >= next_sweep and not self._stopping:
                    self.sweep()
                    next_sweep, wait = time.time() + settings.MAIL_SWEEP_SECONDS, FIRST_WAIT
            except DatabaseError as error:
                # Handed emails are still owed in their tables: the sweep after the outage sends
                # them.
                log_event(
                    "courier_waiting_for_database",
                    level=logging.WARNING,
                    problem=type(error).__name__,
                    retry_in=wait,
                )
                next_sweep, wait = time.time() + wait, min(wait * 2, settings.MAIL_SWEEP_SECONDS)
            except Exception:
                # A defect outside any one email: the courier must outlive it, or this process
                # would send nothing more. The sweep retries what it left.
                logging.getLogger("accounts").exception("courier_error")
                next_sweep = time.time() + settings.MAIL_SWEEP_SECONDS
            finally:
                close_old_connections()

    def _next(self, next_sweep: float) -> list[tuple[str, str]] | None:
        """Wait until a handed email is due or a sweep is; the (kind, id)s due. None: stop.

        Stopping, what is due is still sent for DRAIN_SECONDS (the requests that handed it were
        accepted before the stop); what is due later, or left after that, stays ready in the
        table for a sweep."""
        with self._wake:
            while True:
                now = time.time()
                due = []
                while self._due and self._due[0][0] <= now:
                    due.append(heapq.heappop(self._due)[1:])
                if self._stopping:
                    return (due or None) if now < self._drain_until else None
                if due or now >= next_sweep:
                    return due
                soonest = min(next_sweep, self._due[0][0] if self._due else next_sweep)
                self._wake.wait(soonest - now)

    def send_handed(self, kind: str, item_id: str) -> None:
        if kind == SIGN_IN:
            self._send_sign_in(item_id)
            return
        # One conditional UPDATE claims the task: a sweep elsewhere may have taken it already.
        claimed = (
            DBTaskResult.objects.ready()
            .filter(pk=item_id)
            .update(
                status=TaskResultStatus.RUNNING,
                started_at=timezone.now(),
                worker_ids=[self.worker_id],
            )
        )
        if claimed:
            self._worker.run_task(DBTaskResult.objects.get(pk=item_id))

    def _send_sign_in(self, email_id: str, at_once: bool = False) -> None:
        try:
            email = send_owed(email_id, self.worker_id, at_once)
        except DatabaseError:
            # Still owed, and still this courier's until the email left: its sweep after the
            # outage (FIRST_WAIT later) takes it back.
            raise
        except Exception:
            # A defect (the row says the email failed): the emails after it still go.
            # Logged as text (config/log_redaction.py): its frames hold the link and code.
            logging.getLogger("accounts").exception("courier_error")
            return
        if email is None:
            return
        if email.status == SignInEmail.Status.RETRYING:
            self._unreachable = self._unreachable or email.problem in UNREACHABLE
            self.hand(SIGN_IN, email.id, email.due_at.timestamp())
        elif email.status == SignInEmail.Status.SENT and self._unreachable:
            self._unreachable = False
            self._send_the_held()

    def _send_the_held(self) -> None:
        """The mail server is back: the sign-in emails it held, waiting for a retry up to two
        minutes away, go now (a person is on the page). Not those it answered "later" itself
        (greylisting asks for the wait). One query, after an outage only."""
        held = SignInEmail.objects.filter(
            status=SignInEmail.Status.RETRYING, problem__in=UNREACHABLE, claimed_at__isnull=True
        )
        for email_id in held.values_list("pk", flat=True):
            if self._stopping or self._unreachable:
                return  # leaving, or out of reach again: their retries stand
            self._send_sign_in(email_id, at_once=True)

    def sweep(self) -> None:
        """Every email that is due and no courier has, sign-in emails first (a person is
        waiting on the page), then account mail's tasks one at a time until none is left.
        A claim left behind by a process that stopped or died mid-send is taken over once
        STALE_AFTER old (at worst, a sign-in email sent twice rather than never; an account
        email's own row still allows it once: owed.py)."""
        ours = DBTaskResult.objects.filter(backend_name="default", queue_name="default")
        ours.filter(
            status=TaskResultStatus.RUNNING, started_at__lt=timezone.now() - STALE_AFTER
        ).update(status=TaskResultStatus.READY)
        ready = ours.ready()
        measure_the_queue(ready)
        due = SignInEmail.objects.filter(owed(timezone.now(), self.worker_id)).order_by("due_at")
        for email_id in due.values_list("pk", flat=True):
            if self._stopping:
                return
            self._send_sign_in(email_id)
        while not self._stopping:
            with exclusive_transaction(ready.db):
                task = ready.get_locked()
                if task is not None:
                    task.claim(self.worker_id)
            if task is None:
                return
            self._worker.run_task(task)


def measure_the_queue(ready: QuerySet) -> None:
    """What the sweep finds before it sends: how many emails are due, and since when the oldest
    (a new one since it was queued, a retry since it fell due). One query a table, once a
    minute."""
    now = timezone.now()
    never = get_date_max()  # django-tasks-db's run_after for "at once"
    tasks = ready.aggregate(
        depth=Count("pk"),
        queued=Min("enqueued_at", filter=Q(run_after=never)),
        due=Min("run_after", filter=~Q(run_after=never)),
    )
    sign_in = SignInEmail.objects.filter(status__in=WAITING, due_at__lte=now).aggregate(
        depth=Count("pk"), due=Min("due_at")
    )
    times = (tasks["queued"], tasks["due"], sign_in["due"])
    since = min((t for t in times if t is not None), default=now)
    QUEUE_DEPTH.set(tasks["depth"] + sign_in["depth"])
    QUEUE_OLDEST.set(max(0.0, (now - since).total_seconds()))
    QUEUE_SWEPT.set(time.time())


courier = Courier()

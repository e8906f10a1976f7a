"""Mail leaves from the web process, right after the request that owes it commits.

Every email is a task in django-tasks-db's table, written in the request's own transaction, so
it is durable before anyone is told it is coming (accounts/mail/delivery.py, owed.py). Where a
worker machine used to poll that table twice a second, each web process now keeps a courier: a
thread that is handed each task as its transaction commits (AfterCommitBackend) and sends it at
once, one at a time, through one kept connection to the mail server (accounts/mail/send.py).
A retry due soon waits in the courier's own list; anything a process never got to (it died, it
was stopped, the retry was due later than it lived) is found by a sweep of the table, which
every courier makes when it starts and then once a minute (MAIL_SWEEP_SECONDS). So no
always-on machine, no poll faster than a minute, and an email waits for its request's COMMIT,
not for a poll.

Two couriers never send one task: a handed task is claimed by one conditional UPDATE (ready ->
running), the sweep by django-tasks-db's SELECT ... FOR UPDATE SKIP LOCKED. The price is the
worker's: a process killed hard between the claim and the send loses that one task (the
row's status says what became of it; sign-in mail offers "Send a new email", account mail is
given up on and listed by the hourly give_up_overdue).
"""

import heapq
import logging
import secrets
import threading
import time

from django.conf import settings
from django.db import DatabaseError, close_old_connections, transaction
from django.tasks.base import TaskResultStatus
from django.utils import timezone
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction

from accounts.mail.send import keep_connection_open
from accounts.records.log import log_event

# After a database error, the next sweep comes sooner, doubling up to MAIL_SWEEP_SECONDS.
FIRST_WAIT = 2


class AfterCommitBackend(DatabaseBackend):
    """django-tasks-db's backend (the TASKS setting names it), which also hands each task to
    this process's courier once the transaction that queued it has committed."""

    def enqueue(self, task, args, kwargs):
        result = super().enqueue(task, args, kwargs)
        due = task.run_after.timestamp() if task.run_after else 0.0
        transaction.on_commit(lambda: courier.hand(result.id, due), robust=True)
        return result


class Courier:
    def __init__(self) -> None:
        self.worker_id = f"courier-{secrets.token_hex(4)}"
        self._due: list[tuple[float, str]] = []  # (when, task id), soonest first
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
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
        """Start this process's courier (gunicorn's post_fork, or the first task handed)."""
        with self._wake:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="courier", daemon=True)
            self._thread.start()

    def hand(self, task_id: str, due: float) -> None:
        with self._wake:
            heapq.heappush(self._due, (due, str(task_id)))
            self._wake.notify()
        self.start()

    def stop(self, timeout: float) -> None:
        """Finish the email in hand (at most EMAIL_TIMEOUT), leave the rest to a sweep."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        keep_connection_open()
        next_sweep, wait = 0.0, FIRST_WAIT
        while (handed := self._next(next_sweep)) is not None:
            try:
                for task_id in handed:
                    if self._stopping:
                        break  # still ready in the table: another process's sweep sends it
                    self._send_handed(task_id)
                if time.time() >= next_sweep:
                    self._sweep()
                    next_sweep, wait = time.time() + settings.MAIL_SWEEP_SECONDS, FIRST_WAIT
            except DatabaseError as error:
                # Handed tasks are still ready in the table: the sweep after the outage sends them.
                log_event(
                    "courier_waiting_for_database",
                    level=logging.WARNING,
                    problem=type(error).__name__,
                    retry_in=wait,
                )
                next_sweep, wait = time.time() + wait, min(wait * 2, settings.MAIL_SWEEP_SECONDS)
            except Exception:
                # A defect (run_task records a task's own failure): the courier must outlive it,
                # or this process would send nothing more. The sweep retries what it left.
                logging.getLogger("accounts").exception("courier_error")
                next_sweep = time.time() + settings.MAIL_SWEEP_SECONDS
            finally:
                close_old_connections()

    def _next(self, next_sweep: float) -> list[str] | None:
        """Wait until a handed task is due or a sweep is; the tasks due. None: stop."""
        with self._wake:
            while not self._stopping:
                now = time.time()
                due = []
                while self._due and self._due[0][0] <= now:
                    due.append(heapq.heappop(self._due)[1])
                if due or now >= next_sweep:
                    return due
                soonest = min(next_sweep, self._due[0][0] if self._due else next_sweep)
                self._wake.wait(soonest - now)
            return None

    def _send_handed(self, task_id: str) -> None:
        # One conditional UPDATE claims it: a sweep elsewhere may have taken it already.
        claimed = (
            DBTaskResult.objects.ready()
            .filter(pk=task_id)
            .update(
                status=TaskResultStatus.RUNNING,
                started_at=timezone.now(),
                worker_ids=[self.worker_id],
            )
        )
        if claimed:
            self._worker.run_task(DBTaskResult.objects.get(pk=task_id))

    def _sweep(self) -> None:
        """Every task that is due and no courier has: one at a time, until none is left."""
        ready = DBTaskResult.objects.ready().filter(backend_name="default")
        while not self._stopping:
            with exclusive_transaction(ready.db):
                task = ready.get_locked()
                if task is not None:
                    task.claim(self.worker_id)
            if task is None:
                return
            self._worker.run_task(task)


courier = Courier()

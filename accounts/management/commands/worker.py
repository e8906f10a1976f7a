"""`manage.py worker`: django-tasks-db's db_worker, kept alive through database outages.

db_worker stops with a traceback when the database goes away, and a process that keeps exiting
is eventually not restarted by fly.io. This one waits and starts again, so the mail heals with
the database as the web process does. A signal still stops it as it stops db_worker: the email
in hand is finished, the rest stays queued. It also keeps one connection to the mail server
open between emails (accounts/mail/send.py).
"""

import logging
import time

from django.db import DatabaseError, connections
from django_tasks_db.compat import TASKS_LOGGER
from django_tasks_db.management.commands.db_worker import Command as DatabaseWorker

from accounts.mail.send import keep_connection_open
from accounts.records.log import log_event

# Seconds between attempts to reach the database again, doubling up to the last.
FIRST_WAIT, LONGEST_WAIT = 1, 30


class Command(DatabaseWorker):
    help = "Send queued sign-in mail; keeps running through database outages."

    def configure_logging(self, verbosity: int) -> None:
        super().configure_logging(verbosity)
        if verbosity < 2:
            # Two lines per task (started, finished) restate our own events (email_sent, …);
            # a task that fails is still logged.
            logging.getLogger(TASKS_LOGGER).setLevel(logging.WARNING)

    def handle(self, *args, **options) -> None:
        keep_connection_open()
        wait = FIRST_WAIT
        while True:
            started = time.monotonic()
            try:
                return super().handle(*args, **options)
            except DatabaseError as error:
                if time.monotonic() - started > 60:
                    wait = FIRST_WAIT  # a new outage, not the same one going on
                log_event(
                    "worker_waiting_for_database",
                    level=logging.WARNING,
                    problem=type(error).__name__,
                    retry_in=wait,
                )
                connections.close_all()
                time.sleep(wait)
                wait = min(wait * 2, LONGEST_WAIT)

"""Account emails (notices, an address change's proof), tried again when the server says later.

Sign-in mail has its own row and status (accounts/delivery.py). These have neither: each is one
task, and after a transient failure (4xx, a timeout, a refused connection) it queues itself again
with the same delays, until its deadline: a notice is worth sending for an hour, a proof for as
long as its code lives. A permanent refusal (5xx) is logged and dropped. Without this, a mail
server that greylists would lose exactly the emails that say "was this you?".
"""

import logging
import smtplib
from datetime import datetime, timedelta

from anymail.exceptions import AnymailError
from django.tasks import Task, default_task_backend
from django.utils import timezone

from accounts.delivery import delay_after, describe, is_transient
from accounts.events import log_event, mask_address
from accounts.mail import send_templated

NOTICES_TRIED_FOR = timedelta(hours=1)


def send_or_try_later(
    template: str,
    to: str,
    context: dict,
    *,
    deadline: datetime,
    again: tuple[Task, tuple],
    attempt: int,
) -> str:
    """Send; after a transient failure, queue `again` (a task and its arguments) with attempt
    + 1, while before `deadline`. Says what happened."""
    kind = template.removeprefix("emails/")
    try:
        sent = send_templated(template, to, context)
    except (smtplib.SMTPException, OSError, AnymailError) as error:
        retry_at = timezone.now() + timedelta(seconds=delay_after(attempt))
        fields = {"kind": kind, "email": mask_address(to), "attempt": attempt}
        if is_transient(error) and retry_at < deadline and default_task_backend.supports_defer:
            task, args = again
            task.using(run_after=retry_at).enqueue(*args, attempt=attempt + 1)
            log_event("account_email_retrying", **fields, problem=describe(error))
            return "retrying"
        log_event("account_email_failed", level=logging.WARNING, **fields, problem=describe(error))
        return "failed"
    if not sent:
        return "suppressed"
    log_event("account_email_sent", kind=kind, email=mask_address(to), attempt=attempt)
    return "sent"

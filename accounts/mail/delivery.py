"""A sign-in email asked for: one row, which is its own queue, sent as the request commits.

The request writes a SignInEmail row and answers: a silent mail server no longer holds the
person on a blank page. The row is durable before anyone is told the email is coming, and it is
the queue: this web process's courier (accounts/mail/courier.py) is handed its id once the
request's transaction commits and sends it at once (accounts/mail/sign_in_email.py); what no
process got to is found by a courier's sweep within a minute. No task row: the sign-in email
is the commonest write we make, and the queue's own bookkeeping (a task inserted, claimed,
read and its result written) cost more than the email's row itself (docs/benchmarks.md).
Account mail, rarer and owed for days, keeps django-tasks (accounts/mail/owed.py).

With DEBUG on (Django's immediate task backend, `scripts/run`), the email is sent inside the
request, as every email then is.
"""

import secrets

from django.db import transaction
from django.http import HttpRequest
from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, task, task_backends
from django.tasks.backends.immediate import ImmediateBackend
from django.utils import timezone, translation

from accounts.mail.courier import SIGN_IN, courier
from accounts.mail.sign_in_email import owed, send_owed
from accounts.models import SignInEmail
from accounts.records.audit import origin_of
from accounts.records.log import log_event
from accounts.signin.codes import pending_request

Status = SignInEmail.Status
# Who holds the claim on a row the last release inserted (the database's default: 0015).
LAST_RELEASE = "last-release"
REPLACED = "replaced by a newer email"


def request_email(
    request: HttpRequest, address: str, next_url: str, accounts_only: bool = False
) -> SignInEmail:
    """Write the sign-in email's row (its queue too); it leaves as the request commits. This
    browser's last email (whose code will no longer work here), if it is to the same address and
    has not left yet, is not sent: a retry of it must not land on top of the inbox after the new
    one, its code refused."""
    replacing = pending_request(request)
    email = SignInEmail.objects.create(
        id=secrets.token_urlsafe(16),
        address=address,
        domain=address.rpartition("@")[2],
        next_url=next_url,
        accounts_only=accounts_only,
        language=translation.get_language() or "",
        **origin_of(request),
    )
    if replacing:
        _call_off(replacing, address)
    if isinstance(task_backends[DEFAULT_TASK_BACKEND_ALIAS], ImmediateBackend):
        send_owed(email.id)
    else:
        transaction.on_commit(lambda: courier.hand(SIGN_IN, email.id), robust=True)
    return email


def _call_off(email_id: str, address: str) -> None:
    # Still waiting and nobody sending it, due or not: what a courier could take at once.
    waiting = SignInEmail.objects.filter(owed(timezone.now(), at_once=True), pk=email_id)
    if waiting.filter(address=address).update(status=Status.NOT_SENT, problem=REPLACED):
        log_event("email_not_sent", problem=REPLACED)


def delivery_status(email_id: str) -> str | None:
    """Where the email with this id stands, as the person may know it; None if it is gone.

    Not sending on purpose (no account, a suppressed address) reads as sent: the page must say
    the same for every address.
    """
    status = SignInEmail.objects.filter(pk=email_id).values_list("status", flat=True).first()
    return Status.SENT if status == Status.NOT_SENT else status


@task()
def deliver(email_id: str) -> str:
    """A task queued by a release before the row was its own queue. Its row, inserted by that
    release, is claimed by "last-release" (migration 0015): taken at once here, and by a sweep
    only if nothing sent it within STALE_AFTER. Remove after 2026-12-20."""
    email = send_owed(email_id, LAST_RELEASE)
    return email.status if email is not None else "already handled"

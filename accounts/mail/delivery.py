"""Sign-in email, sent beside the request by a worker, and retried until its link would expire.

The request writes a SignInEmail row and queues its delivery in one transaction, then answers:
a silent mail server no longer holds the person on a blank page, and the email cannot be lost
between the two (django-tasks-db keeps the queue in the same PostgreSQL, so both rows commit
or neither does). The web process's courier sends it as soon as that commit is done
(accounts/mail/courier.py); with DEBUG on, Django's immediate backend sends inside the request.

The task decides what the email says (a link and code for an account or a signup, or a note
that there is no account), so the request does the same work for every address. Nothing secret
is queued: the task's only argument is the row's id, the link is made when it is sent, and the
code is derived from the id with SECRET_KEY (accounts/signin/codes.py), so a retry mails the same
code.

A mail server that says "try later" (4xx), times out or refuses the connection is tried again
after RETRY_DELAYS, until the link would expire; a permanent refusal (5xx) is recorded and the
check-inbox page says so. django-tasks-db hands each task to one worker (SELECT … FOR UPDATE SKIP
LOCKED), each attempt enqueues the next only as it ends, and a row already sent is skipped.
"""

import secrets
import smtplib
from datetime import timedelta

from anymail.exceptions import AnymailError
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.tasks import default_task_backend, task
from django.utils import timezone, translation

from accounts.account.way_back import way_back_offer
from accounts.limits import LimitsUnavailable, forgive_address
from accounts.mail.retry import delay_after, describe, is_transient
from accounts.mail.send import send_templated
from accounts.mail.suppression import is_suppressed, paused_until
from accounts.metrics import EMAIL_WAIT
from accounts.models import SignInEmail, SignInEvent, User
from accounts.records.audit import origin_of
from accounts.records.log import log_event, mask_address
from accounts.signin.addresses import display_address
from accounts.signin.codes import code_for, grouped
from accounts.signin.links import build_login_link, find_account

Status = SignInEmail.Status


def request_email(
    request: HttpRequest, address: str, next_url: str, accounts_only: bool = False
) -> SignInEmail:
    """Queue a sign-in email for `address`; the row and its task are committed together."""
    with transaction.atomic():
        email = SignInEmail.objects.create(
            id=secrets.token_urlsafe(16),
            address=address,
            domain=address.rpartition("@")[2],
            next_url=next_url,
            accounts_only=accounts_only,
            language=translation.get_language() or "",
            **origin_of(request),
        )
        deliver.enqueue(email.id)
    return email


def delivery_status(email_id: str) -> str | None:
    """Where the email with this id stands, as the person may know it; None if it is gone.

    Not sending on purpose (no account, a suppressed address) reads as sent: the page must say
    the same for every address.
    """
    status = SignInEmail.objects.filter(pk=email_id).values_list("status", flat=True).first()
    return Status.SENT if status == Status.NOT_SENT else status


@task()
def deliver(email_id: str) -> str:
    """Send one sign-in email, or arrange its next attempt; the outcome is kept on its row."""
    waiting = [Status.QUEUED, Status.RETRYING]
    email = SignInEmail.objects.filter(pk=email_id, status__in=waiting).first()
    if email is None:
        return "already handled"  # sent already, or pruned
    email.attempts += 1
    if timezone.now() >= _expiry(email):
        return _finish(email, Status.FAILED, problem="expired before it could be sent")

    user, offer = _whom_and_what(email.address)
    if email.attempts == 1:
        # The request itself could not say whose account it was for: the same work for everyone.
        SignInEvent.objects.create(
            kind=SignInEvent.Kind.REQUESTED,
            at=email.requested_at,
            user=user if user is not None and user.pk is not None else None,
            network=email.network,
            user_agent=email.user_agent,
        )
    if _not_to_be_sent(email, user, offer):
        return _finish(email, Status.NOT_SENT)
    # Whom the code signs in, written down before the email leaves: someone who reads it at
    # once and types the code must not find the row still blank.
    email.user = user if user is not None and user.pk is not None else None
    email.user_last_login = user.last_login if user is not None else None
    email.signup = user is not None and user.pk is None
    email.save(update_fields=["user", "user_last_login", "signup"])
    try:
        ids: list[str] = []
        sent = _send(email, user, offer, ids)
        email.provider_id = ids[0] if ids else ""
    except (smtplib.SMTPException, OSError, AnymailError) as error:
        return _failed(email, error)
    except Exception as error:
        _finish(email, Status.FAILED, problem=type(error).__name__)
        raise  # a defect: the task's own record keeps the traceback
    # Not sent: the provider refused the address (accounts/mail/send.py put it on the list).
    return _finish(email, Status.SENT if sent else Status.NOT_SENT)


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
        return send_templated(
            template,
            email.address,
            context | offered,
            checked=True,
            language=email.language,
            ids=ids,
        )
    if user is None:
        return send_templated(
            "emails/no_account",
            email.address,
            context,
            checked=True,
            language=email.language,
            ids=ids,
        )
    context["link"] = build_login_link(user, email.next_url)
    context["code"] = grouped(code_for(email.id))
    return send_templated(
        "emails/login_link", email.address, context, checked=True, language=email.language, ids=ids
    )


def _failed(email: SignInEmail, error: Exception) -> str:
    problem = describe(error)
    retry_at = timezone.now() + timedelta(seconds=delay_after(email.attempts))
    if is_transient(error) and retry_at < _expiry(email) and default_task_backend.supports_defer:
        _finish(email, Status.RETRYING, problem=problem)
        deliver.using(run_after=retry_at).enqueue(email.id)
        return Status.RETRYING
    try:
        # The person did not get the email: asking again must not count against the address.
        forgive_address(email.address)
    except LimitsUnavailable:
        pass
    return _finish(email, Status.FAILED, problem=problem)


def _finish(email: SignInEmail, status: str, problem: str = "") -> str:
    email.status = status
    email.problem = problem
    if status == Status.SENT:
        email.sent_at = timezone.now()
        waited = (email.sent_at - email.requested_at).total_seconds()
        EMAIL_WAIT.labels("sign_in").observe(waited)
    # One write for everything this attempt learned.
    email.save(
        update_fields=[
            "status",
            "problem",
            "sent_at",
            "attempts",
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
    return status


def _expiry(email: SignInEmail):
    return email.requested_at + timedelta(seconds=settings.LOGIN_LINK_MAX_AGE)

"""The email leaves the request: its row in PostgreSQL is its queue, sent by the web process as
the request commits (accounts/mail/courier.py, sign_in_email.py).

In-process stories run a courier's sweep in this process, with the clock moved on by
time-machine where a retry waits; the system stories run fly.toml's processes.
"""

import json
import re
import threading
import time
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from prometheus_client import REGISTRY

from accounts.mail.courier import SIGN_IN, Courier, courier
from accounts.mail.delivery import deliver
from accounts.mail.retry import RETRY_DELAYS
from accounts.models import SignInEmail
from harness.tasks import run_due_tasks
from tests.environment import smtp_server
from tests.helpers import (
    ask_for_a_link,
    behind_the_proxy,
    code_in,
    eventually,
    link_in,
    our_app,
    signed_in_by_link,
)

Status = SignInEmail.Status
TRY_LATER = "451 4.3.0 Try again later"


def ask(client: Client, address: str = "alice@example.com") -> SignInEmail:
    asked = client.post("/", {"email": address})
    assert asked.status_code == HTTPStatus.FOUND
    return SignInEmail.objects.get(address=address, status__in=[Status.QUEUED])


def page(client: Client) -> str:
    return client.get("/check-inbox/").content.decode()


def test_a_claim_left_by_a_process_that_died_mid_send_is_sent_by_a_later_sweep(
    queue, client, mailbox, alice
):
    email = ask(client)
    # A process claimed it and was gone before it sent (stopped past its wait, killed).
    SignInEmail.objects.update(claimed_at=timezone.now(), attempts=1)

    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        Courier().sweep()  # a claim a minute old may still be sending: left alone
    assert mailbox.attempts == 0
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        Courier().sweep()

    assert mailbox.message_to("alice@example.com")
    assert SignInEmail.objects.get(pk=email.pk).status == Status.SENT


def test_the_sweep_tells_the_operator_how_long_the_queue_has_waited(queue, client, mailbox, alice):
    def gauge(name: str) -> float:
        return REGISTRY.get_sample_value(f"latchkey_mail_queue_{name}")

    ask(client)
    ask(client, "bob@example.com")
    later = timezone.now() + timedelta(minutes=3)

    with time_machine.travel(later, tick=False):
        Courier().sweep()  # nobody sent them for three minutes: a stuck courier, say

        assert gauge("depth") == 2
        assert 179 <= gauge("oldest_seconds") <= 181
        assert gauge("swept_timestamp_seconds") == later.timestamp()
    assert mailbox.message_to("alice@example.com")  # and the sweep sent them

    Courier().sweep()

    assert gauge("depth") == 0 and gauge("oldest_seconds") == 0


def test_an_email_one_courier_is_sending_is_not_sent_by_another_handed_it(
    queue, client, mailbox, alice
):
    email = ask(client)
    mailbox.delay = 1.0  # the first courier is mid-send while the second is handed the email
    sweeping = threading.Thread(target=Courier().sweep)
    sweeping.start()
    mailbox.wait_for_attempts(1)

    Courier().send_handed(SIGN_IN, email.id)  # its claim finds the email taken: nothing to do
    sweeping.join()

    assert len(mailbox.messages) == 1
    assert SignInEmail.objects.get(pk=email.pk).attempts == 1


def test_a_process_without_a_courier_leaves_its_mail_to_the_web_processes(
    settings, transactional_db, client, mailbox, alice
):
    # A shell or a management command with production settings: its emails wait in their
    # table for a web process's sweep; it must not send them with its own settings (review, 12-06).
    settings.TASKS = {"default": {"BACKEND": "accounts.mail.courier.AfterCommitBackend"}}

    email = ask(client)  # this process's courier was never started (gunicorn starts it)

    assert courier._thread is None and courier._due == []
    email.refresh_from_db()
    assert (email.status, email.claimed_at, email.attempts) == (Status.QUEUED, None, 0)
    assert mailbox.attempts == 0


def test_asking_queues_the_email_and_the_request_sends_nothing(queue, client, mailbox, alice):
    email = ask(client)

    # The row is the queue: due now, nobody has it; no task beside it.
    assert email.due_at <= timezone.now() and email.claimed_at is None
    assert not DBTaskResult.objects.exists()
    assert mailbox.attempts == 0
    assert "We are sending an email to" in page(client)


def test_the_worker_sends_it_once_and_the_page_says_so(queue, client, mailbox, alice):
    email = ask(client)

    run_due_tasks()
    run_due_tasks()

    (message,) = mailbox.wait_for(1)
    email.refresh_from_db()
    assert (email.status, email.attempts, email.user) == (Status.SENT, 1, alice)
    assert "We sent an email to" in page(client)
    assert client.post("/check-inbox/", {"code": code_in(message)})["Location"] == "/dashboard/"


def test_an_email_a_task_of_the_last_release_also_names_is_sent_once(queue, client, mailbox, alice):
    email = ask(client)

    deliver.enqueue(email.id)  # as the release before the row was its own queue did
    run_due_tasks()

    assert mailbox.attempts == 1
    assert DBTaskResult.objects.get(args_kwargs__args=[email.id], return_value="already handled")


def test_a_mail_server_saying_try_later_delays_the_email_but_never_loses_it(
    queue, client, mailbox, alice
):
    mailbox.refusals = [TRY_LATER, TRY_LATER]
    with time_machine.travel(timezone.now()) as clock:
        email = ask(client)
        run_due_tasks()
        waiting = page(client)
        for delay in RETRY_DELAYS[:2]:
            run_due_tasks()  # not due yet: nothing happens
            clock.shift(delay)
            run_due_tasks()

    (message,) = mailbox.wait_for(1)
    email.refresh_from_db()
    assert mailbox.attempts == 3
    assert (email.status, email.attempts) == (Status.SENT, 3)
    assert "The mail server has not taken the email yet" in waiting
    assert "We sent an email to" in page(client)
    # The code mailed on the third attempt is the one this browser checks.
    assert client.post("/check-inbox/", {"code": code_in(message)})["Location"] == "/dashboard/"


def test_a_mail_server_down_for_a_while_gets_the_email_once_it_is_back(
    queue, client, mailbox, alice
):
    with time_machine.travel(timezone.now()) as clock:
        smtp_server.stop()
        try:
            email = ask(client)
            for delay in RETRY_DELAYS[:3]:
                run_due_tasks()  # the connection is refused: tried again after a while
                clock.shift(delay)
        finally:
            smtp_server.start()
        run_due_tasks()

    (message,) = mailbox.wait_for(1)
    email.refresh_from_db()
    assert (email.status, email.attempts, email.claimed_at) == (Status.SENT, 4, None)
    assert client.post("/check-inbox/", {"code": code_in(message)})["Location"] == "/dashboard/"


def test_a_refusal_is_final_and_the_page_offers_to_try_again(queue, client, mailbox, alice):
    mailbox.refusals = ["550 5.7.1 Message refused"]
    with time_machine.travel(timezone.now()) as clock:
        email = ask(client)
        run_due_tasks()
        clock.shift(60 * 60)
        run_due_tasks()

    email.refresh_from_db()
    assert (email.status, email.problem) == (Status.FAILED, "SMTPDataError 550")
    assert mailbox.attempts == 1
    failed = page(client)
    assert "We could not send the email" in failed
    assert ">Try again</button>" in failed


def test_retries_end_when_the_link_would_expire(queue, client, mailbox, alice):
    mailbox.refusals = [TRY_LATER] * 100
    attempted_at = []
    with time_machine.travel(timezone.now()) as clock:
        email = ask(client)
        while not SignInEmail.objects.filter(pk=email.pk, status=Status.FAILED).exists():
            attempted_at.append(round((timezone.now() - email.requested_at).total_seconds()))
            run_due_tasks()
            if waiting := SignInEmail.objects.filter(pk=email.pk, status=Status.RETRYING).first():
                clock.move_to(waiting.due_at)

    email.refresh_from_db()
    assert email.problem == "SMTPDataError 451"
    # Waits of 2, 10, 30, 60, then 120 s, while the link lives (10 minutes in the tests).
    assert attempted_at == [0, 2, 12, 42, 102, 222, 342, 462, 582]
    assert mailbox.attempts == email.attempts == len(attempted_at)
    assert "We could not send the email" in page(client)


def test_nothing_in_the_queue_or_the_request_row_tells_the_link_or_the_code(
    queue, client, mailbox, alice
):
    ask(client)
    run_due_tasks()
    message = mailbox.wait_for(1)[0]
    token = re.search(r"sesame=([\w.-]+)", link_in(message)).group(1)
    code = code_in(message).replace(" ", "")

    stored = json.dumps(
        [list(DBTaskResult.objects.values()), list(SignInEmail.objects.values())], default=str
    )
    assert token not in stored
    assert code not in stored


# --- As production runs it: gunicorn and the worker, from fly.toml ------------------------------


@pytest.mark.system
@pytest.mark.django_db(transaction=True)
def test_a_try_later_from_the_mail_server_costs_a_few_seconds_not_the_email(live_app, mailbox):
    mailbox.refusals = [TRY_LATER]
    with live_app.client() as browser:
        asked = ask_for_a_link(browser, "alice@example.com")
        mailbox.message_to("alice@example.com", timeout=20)

    # The worker writes the outcome down just after the mail server takes the message.
    eventually(lambda: SignInEmail.objects.filter(status=Status.SENT).exists(), 10, "recorded")

    assert asked.status_code == HTTPStatus.FOUND
    assert mailbox.attempts == 2
    assert len(mailbox.messages) == 1
    assert SignInEmail.objects.get().attempts == 2


@pytest.mark.system
@pytest.mark.django_db(transaction=True)
def test_the_app_stopped_mid_queue_and_started_again_loses_nothing_sends_nothing_twice(
    live_app, mailbox
):
    mailbox.delay = 0.5  # each email takes half a second to hand over
    people = [f"person{n}@example.com" for n in range(6)]

    def ask_as(address: str) -> None:
        with live_app.client() as browser:
            assert ask_for_a_link(browser, address).status_code == HTTPStatus.FOUND

    askers = [threading.Thread(target=ask_as, args=(address,)) for address in people]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join()
    mailbox.wait_for_attempts(2)
    live_app.stop()  # SIGTERM, as fly stops a machine: the emails in hand are finished
    left_in_the_queue = SignInEmail.objects.filter(status=Status.QUEUED).count()
    sent_so_far = len(mailbox.messages)
    live_app.start()  # the machine's next start: its first sweep finds the rest
    mailbox.wait_for(len(people), timeout=30)
    eventually(
        lambda: not SignInEmail.objects.exclude(status=Status.SENT).exists(),
        10,
        "every email recorded as sent",
    )

    assert 0 < left_in_the_queue < len(people)
    # The emails in hand when the app was told to stop were finished, not dropped.
    assert sent_so_far == len(people) - left_in_the_queue
    assert sorted(mailbox.by_recipient) == sorted(people)
    assert all(len(messages) == 1 for messages in mailbox.by_recipient.values())


@pytest.mark.system
@pytest.mark.django_db(transaction=True)
def test_an_email_leaves_within_a_second_of_its_request_and_nothing_polls(live_app, mailbox):
    with live_app.client() as browser:
        # A first email, so that each process has its connection to the mail server open, as a
        # machine that has been up for a while has.
        for warm_up in ("bob@example.com", "carol@example.com"):
            ask_for_a_link(browser, warm_up)
        mailbox.wait_for(2)
        answered = ask_for_a_link(browser, "alice@example.com")
        answered_at = time.monotonic()
        mailbox.message_to("alice@example.com", timeout=5)
        waited = time.monotonic() - answered_at
    # The courier writes down the outcome just after the mail server takes the message.
    eventually(lambda: not SignInEmail.objects.exclude(status=Status.SENT).exists(), 5, "sent")

    # Handed to the mail server within a second of the answer (no poll to wait for), and the
    # queues (the sign-in emails' rows, account mail's tasks) are read by each process once at
    # its start and once a minute after, not twice a second.
    assert answered.status_code == HTTPStatus.FOUND
    assert waited < 1.0, waited
    assert statements_on_the_queues(during=2.0) == 0


def statements_on_the_queues(during: float) -> int:
    """How many statements reached the sign-in emails' table and django-tasks-db's in `during`
    seconds (PostgreSQL's own statistics), while nothing was asked."""
    from django.db import connection

    def count() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")
            cursor.execute(
                "SELECT SUM(seq_scan + COALESCE(idx_scan, 0)) FROM pg_stat_user_tables "
                "WHERE relname IN ('accounts_signinemail', 'django_tasks_database_dbtaskresult')"
            )
            return cursor.fetchone()[0]

    before = count()
    time.sleep(during)  # the quiet being measured, not a wait for something
    return count() - before


@pytest.fixture
def one_process_app(transactional_db):
    """One gunicorn worker process, so one courier: every email goes through its connection."""
    app = our_app(WEB_CONCURRENCY="1")
    yield app
    app.stop()


@pytest.mark.system
@pytest.mark.django_db(transaction=True)
def test_the_courier_keeps_one_connection_and_replaces_one_the_server_dropped(
    one_process_app, mailbox
):
    live_app = one_process_app

    def ask_as(address: str) -> None:
        with live_app.client() as browser:
            assert ask_for_a_link(browser, address).status_code == HTTPStatus.FOUND
        mailbox.message_to(address, timeout=10)

    ask_as("alice@example.com")
    ask_as("bob@example.com")
    smtp_server.stop()  # a restart drops every connection, as an idle timeout would
    smtp_server.start()
    ask_as("carol@example.com")

    alice, bob, carol = mailbox.peers
    assert alice == bob  # one connection for both
    assert carol != bob  # a new one after the server dropped the old
    # Carol's email went on its first attempt: no wait for a retry. (The worker records it
    # just after the mail server took it, so the mailbox can be a moment ahead of the row.)
    carols = SignInEmail.objects.filter(address="carol@example.com")
    eventually(lambda: carols.get().status == SignInEmail.Status.SENT, 10, "carol's row sent")
    assert carols.get().attempts == 1


@pytest.mark.django_db(transaction=True)
def test_sign_in_emails_forget_their_address_after_a_day_and_their_tasks_go(mailbox, alice):
    with time_machine.travel(timezone.now() - timedelta(days=1, minutes=1)):
        yesterday = behind_the_proxy()
        yesterday.post("/", {"email": "alice@example.com"})
        task = DBTaskResult.objects.create(
            task_path="accounts.mail.delivery.deliver",
            args_kwargs={"args": ["old"], "kwargs": {}},
            status="SUCCESSFUL",
            finished_at=timezone.now(),
            backend_name="default",
        )
    mailbox.clear()

    signed_in_by_link(mailbox, "alice@example.com")

    # Yesterday's keeps only what the operator's funnel counts: its domain, outcome and times.
    old = SignInEmail.objects.get(requested_at__lt=timezone.now() - timedelta(days=1))
    assert (old.address, old.network, old.user_agent, old.next_url) == ("", "", "", "")
    assert (old.user_id, old.user_last_login) == (None, None)  # nor the account
    assert (old.domain, old.status) == ("example.com", SignInEmail.Status.SENT)
    assert SignInEmail.objects.filter(address="alice@example.com").count() == 1  # today's
    assert not DBTaskResult.objects.filter(pk=task.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_sign_in_emails_are_gone_after_eight_days(mailbox, alice):
    with time_machine.travel(timezone.now() - timedelta(days=8, minutes=1)):
        behind_the_proxy().post("/", {"email": "alice@example.com"})
    mailbox.clear()

    signed_in_by_link(mailbox, "alice@example.com")

    assert SignInEmail.objects.count() == 1  # today's

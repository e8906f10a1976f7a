"""Account emails (notices, an address change's proof) survive a mail server that says "later".

Sign-in mail keeps a row and a status (tests/mail/test_delivery.py); these are tasks that queue
themselves again. The stories run django-tasks-db's worker loop in this process, with the clock
moved on by time-machine where a retry waits.
"""

import logging
from datetime import timedelta

import time_machine
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.mail.owed import give_up_overdue
from accounts.mail.retry import RETRY_DELAYS
from accounts.models import AccountEmail
from harness.tasks import run_due_tasks
from tests.helpers import code_in

TRY_LATER = "451 4.7.1 Greylisted, try again later"
NO_SUCH_USER = "550 5.1.1 No such user"


def sign_in(mailbox, address: str = "alice@example.com") -> Client:
    """A browser signs in by code, the worker sending the email; then the mailbox is empty."""
    browser = Client(headers={"X-Forwarded-Proto": "https"})
    mailbox.clear()
    browser.post("/", {"email": address})
    run_due_tasks()
    assert browser.post("/check-inbox/", {"code": code_in(mailbox.message_to(address))})
    mailbox.clear()
    return browser


def notices_to(mailbox, address: str) -> list:
    return [m for m in mailbox.by_recipient.get(address, []) if "new sign-in" in m["Subject"]]


def test_a_notice_the_mail_server_greylists_arrives_once_a_little_later(queue, mailbox, alice):
    sign_in(mailbox)  # the laptop: the account's first browser, no notice
    with time_machine.travel(timezone.now()) as clock:
        sign_in(mailbox)  # the phone: a new browser, a notice queued
        mailbox.refusals = [TRY_LATER]
        run_due_tasks()
        refused_at_first = (mailbox.attempts, notices_to(mailbox, "alice@example.com"))
        clock.shift(RETRY_DELAYS[0])
        run_due_tasks()

    assert refused_at_first == (1, [])
    assert mailbox.attempts == 2
    assert len(notices_to(mailbox, "alice@example.com")) == 1


def test_a_notice_refused_for_good_is_dropped_not_retried(queue, mailbox, alice, caplog):
    sign_in(mailbox)
    with time_machine.travel(timezone.now()) as clock:
        sign_in(mailbox)
        mailbox.refusals = [NO_SUCH_USER]
        run_due_tasks()
        clock.shift(timedelta(hours=1))
        run_due_tasks()

    assert mailbox.attempts == 1
    assert DBTaskResult.objects.filter(return_value="failed").count() == 1
    assert "event=account_email_failed kind=new_browser" in caplog.text


def test_an_address_change_proof_is_tried_again_only_while_its_code_lives(
    queue, mailbox, alice, settings
):
    laptop = sign_in(mailbox)
    with time_machine.travel(timezone.now()) as clock:
        laptop.post("/account/email/", {"email": "new@example.org"})
        mailbox.refusals = [TRY_LATER] * 100
        waited = 0
        while waited <= settings.LOGIN_LINK_MAX_AGE + 300:
            run_due_tasks()
            clock.shift(30)
            waited += 30

    attempts = DBTaskResult.objects.filter(task_path="accounts.account.address_mail.send_proof")
    # 2 + 10 + 30 + 60 + 120 + 120 + 120 = 462 s; the next try would come after the code died.
    assert mailbox.attempts == attempts.count() == 8
    assert attempts.filter(return_value="failed").count() == 1


def test_an_account_email_no_task_came_back_to_is_given_up_with_a_warning(
    queue, mailbox, alice, caplog
):
    # A worker killed between its claim and its send leaves its row "being sent"; a task lost
    # with its worker leaves one "owed". The hourly pruning finds both once their deadline is past.
    past = timezone.now() - timedelta(minutes=1)
    for key, status in [("new_browser:1", "sending"), ("passkey_added:1", "owed")]:
        AccountEmail.objects.create(
            key=key,
            kind=key.split(":")[0],
            address="alice@example.com",
            user=alice,
            status=status,
            deadline=past,
        )
    caplog.set_level(logging.WARNING, logger="accounts")

    given_up = give_up_overdue()

    assert given_up == 2
    assert set(AccountEmail.objects.values_list("status", flat=True)) == {"failed"}
    assert caplog.text.count("event=account_email_failed") == 2

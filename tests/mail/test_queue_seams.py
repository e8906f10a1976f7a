"""The seams of the sign-in email's own queue (accounts/mail/sign_in_email.py), as an outside
review found them (2026-12-06): a database failing between the claim and the outcome, a
takeover, a new email asked for while the last is still being retried, a defect's report, and
the migration on a live table while the last release still serves.

Faults are real: a trigger in the real PostgreSQL answers admin_shutdown (what a server going
away says) once; a mail backend an operator misspelled; a report's transaction holding a lock.
"""

import io
import logging
import os
import re
import subprocess
import sys
import tarfile
from datetime import timedelta
from http import HTTPStatus

import psycopg
import pytest
import time_machine
from django.db import OperationalError, connection
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.utils import timezone
from django.utils.log import AdminEmailHandler

from accounts.mail import send as send_module
from accounts.mail.courier import SIGN_IN, Courier
from accounts.mail.retry import RETRY_DELAYS
from accounts.models import AddressChange, SignInEmail, SignInEvent
from accounts.signin.codes import code_for
from harness.servers import ROOT
from harness.tasks import run_due_tasks
from tests.conftest import PRODUCTION_MAILERS
from tests.environment import smtp_server
from tests.helpers import (
    app_environment,
    behind_the_proxy,
    code_in,
    database_of_its_own,
    eventually,
    free_port,
    link_in,
)

Status = SignInEmail.Status
TRY_LATER = "451 4.3.0 Try again later"


@pytest.fixture
def database_fails_once():
    """`fail(table, when)`: the next write to `table` matching `when` (a condition on NEW) meets
    the database going away, once (a sequence counts: it is outside every transaction)."""
    made = []

    def fail(table: str, when: str = "true", operation: str = "INSERT") -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE SEQUENCE blips; "
                "CREATE FUNCTION blip() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF nextval('blips') = 1 THEN "
                "RAISE EXCEPTION 'going away' USING ERRCODE = '57P01'; END IF; "
                "RETURN NEW; END $$; "
                f"CREATE TRIGGER blip BEFORE {operation} ON {table} FOR EACH ROW "
                f"WHEN ({when}) EXECUTE FUNCTION blip()"
            )
        made.append(table)

    yield fail
    with connection.cursor() as cursor:
        for table in made:
            cursor.execute(f"DROP TRIGGER IF EXISTS blip ON {table}")
        cursor.execute("DROP FUNCTION IF EXISTS blip(); DROP SEQUENCE IF EXISTS blips")


def ask(client: Client, address: str = "alice@example.com", **extra: str) -> SignInEmail:
    asked = client.post("/", {"email": address, **extra})
    assert asked.status_code == HTTPStatus.FOUND
    return SignInEmail.objects.filter(address=address).latest("requested_at")


def test_an_email_caught_by_a_database_blip_goes_with_the_sweep_after_it(
    queue, client, mailbox, alice, database_fails_once, monkeypatch
):
    # The claim committed; the next write (the "asked for" event) meets the database going away.
    database_fails_once("accounts_signinevent")
    monkeypatch.setattr(send_module._kept, "enabled", False)  # as it was, once the courier stops
    email = ask(client)
    courier = Courier()
    courier.start()  # its first sweep meets the blip; its next comes two seconds later
    try:
        eventually(lambda: mailbox.attempts == 1, 10, "alice's email sent after the blip")
    finally:
        courier.stop(timeout=5)

    email.refresh_from_db()
    assert email.status == Status.SENT
    assert SignInEvent.objects.filter(kind=SignInEvent.Kind.REQUESTED, user=alice).count() == 1
    assert "We sent an email to" in client.get("/check-inbox/").content.decode()


def test_alice_sees_the_request_for_her_email_even_when_its_first_attempt_was_cut_short(
    queue, client, mailbox, alice
):
    email = ask(client)
    # A process claimed it and was gone before it wrote anything down: attempt 1 is counted.
    SignInEmail.objects.filter(pk=email.pk).update(claimed_at=timezone.now(), attempts=1)

    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        Courier().sweep()  # the takeover sends it, as attempt 2

    assert mailbox.message_to("alice@example.com")
    # Her activity ("A sign-in email was asked for") is how she learns someone asked for a way
    # into her account: written once, by the attempt that got that far.
    assert SignInEvent.objects.filter(kind=SignInEvent.Kind.REQUESTED, user=alice).count() == 1


def test_an_email_the_mail_server_took_before_the_database_blipped_is_not_sent_again_at_once(
    queue, client, mailbox, alice, database_fails_once
):
    # Writing "sent" down meets the database going away, after the mail server took the email.
    database_fails_once("accounts_signinemail", "NEW.status = 'sent'", "UPDATE")
    email = ask(client)
    courier = Courier()
    with pytest.raises(OperationalError):
        courier.send_handed(SIGN_IN, email.id)
    (first,) = mailbox.by_recipient["alice@example.com"]

    courier.sweep()  # the database is back: its own next sweep does not send it again
    assert len(mailbox.by_recipient["alice@example.com"]) == 1
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        Courier().sweep()  # five minutes on, a takeover: at least once, never not at all

    again = mailbox.by_recipient["alice@example.com"][-1]
    assert code_in(again) == code_in(first)  # one code, whichever copy she reads
    assert SignInEmail.objects.get(pk=email.pk).status == Status.SENT


def test_after_send_a_new_email_the_older_one_still_retrying_never_lands_on_top(
    queue, client, mailbox, alice
):
    # The mail server says "later" to the first email three times (at 0, 2 and 12 s).
    mailbox.refusals = [TRY_LATER] * 3
    with time_machine.travel(timezone.now()) as clock:
        first = ask(client)
        for delay in RETRY_DELAYS[:2]:
            run_due_tasks()
            clock.shift(delay)
        run_due_tasks()  # the third "later": it is tried again at 42 s
        clock.shift(31 - 12)  # the countdown is over: alice presses "Send a new email"
        resent = client.post("/", {"email": "alice@example.com", "resend": "on"}, follow=True)
        run_due_tasks()  # the new email goes
        clock.shift(42 - 31)
        run_due_tasks()  # when the old one's retry would have been due

    assert "Use the code in it: the earlier one no longer works." in resent.content.decode()
    (newest,) = mailbox.by_recipient["alice@example.com"]
    typed = client.post("/check-inbox/", {"code": code_in(newest)})
    assert typed.status_code == HTTPStatus.FOUND and typed["Location"] == "/dashboard/"
    first.refresh_from_db()
    assert (first.status, first.problem) == (Status.NOT_SENT, "replaced by a newer email")


@pytest.fixture
def operators_reporter(settings) -> AdminEmailHandler:
    """The reporter an operator adds: AdminEmailHandler with its HTML part (which shows frames,
    as Sentry does), sending by the "admins" mailer (misspell_the_mail_backend keeps it right).
    Attach it to a logger; `the_report` reads what it sent."""
    settings.ADMINS = ["ops@example.com"]
    handler = AdminEmailHandler(include_html=True, using="admins")
    handler.setLevel(logging.ERROR)
    return handler


def misspell_the_mail_backend(settings) -> None:
    """The defect: the default mail backend misspelled in the settings."""
    settings.MAILERS = {
        "default": {"BACKEND": "django.core.mail.backends.smtp.NoSuchBackend"},
        "admins": PRODUCTION_MAILERS["default"],
    }


def the_report(mailbox) -> list[str]:
    """The text and HTML parts of the error report the operator received."""
    report = mailbox.message_to("ops@example.com")
    parts = [part.get_content() for part in report.walk() if part.get_content_maintype() == "text"]
    assert any("NoSuchBackend" in part for part in parts)  # it says what went wrong
    return parts


def test_an_error_report_from_the_courier_holds_no_link_or_code(
    queue, client, mailbox, alice, settings, operators_reporter
):
    # settings.py: "Whatever reporter an operator adds (AdminEmailHandler, the DEBUG page): no
    # token, code or sign-in cookie in it". The courier's reports have no request to scrub by.
    misspell_the_mail_backend(settings)
    logging.getLogger("accounts").addHandler(operators_reporter)
    email = ask(client)
    try:
        Courier().send_handed(SIGN_IN, email.id)
    finally:
        logging.getLogger("accounts").removeHandler(operators_reporter)

    code = code_for(email.id)
    for part in the_report(mailbox):
        assert not re.search(r"sesame=[\w.:-]{20,}", part), "a working sign-in link in the report"
        assert code not in part and f"{code[:3]} {code[3:]}" not in part
    assert SignInEmail.objects.get(pk=email.pk).status == Status.FAILED


# --- The migration, on a live table, while the last release still serves ----------------------


def last_release_model():
    """SignInEmail as the last release's code writes it: without the queue's columns."""
    last_release = MigrationLoader(connection).project_state(("accounts", "0014_funnel_indexes"))
    return last_release.apps.get_model("accounts", "SignInEmail")


def test_a_sign_in_asked_of_a_machine_of_the_last_release_is_sent_even_if_that_machine_goes(
    queue, mailbox, alice
):
    # fly.toml: release_command runs `migrate`, then the strategy is "rolling": until each
    # machine is replaced, the last release writes sign-in emails as its models say (0014).
    last_release_model().objects.create(
        id="asked-of-the-last-release", address="alice@example.com", domain="example.com"
    )
    run_due_tasks()  # a machine of the new release sweeps: the old one is sending it
    assert mailbox.attempts == 0
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        run_due_tasks()  # that machine went away without sending it: a sweep takes it over

    assert link_in(mailbox.message_to("alice@example.com"))


def release_environment(url: str) -> dict[str, str]:
    test_only = ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")
    return {k: v for k, v in os.environ.items() if k not in test_only} | {"DATABASE_URL": url}


MIGRATE = [sys.executable, "manage.py", "migrate", "--noinput", "-v0"]


@pytest.mark.system
def test_the_queue_migration_cut_short_while_building_its_index_runs_again(transactional_db):
    url = database_of_its_own("queue_migration_cut_short", "accounts", "0014_funnel_indexes")
    env = release_environment(url)
    # Someone's long report (a transaction holding an old snapshot) while the deploy runs: a
    # concurrent build waits for it, and the release's timeout cuts the build short.
    with psycopg.connect(url) as report:
        report.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        report.execute("SELECT count(*) FROM django_migrations").fetchone()
        cut_short = subprocess.run(
            MIGRATE, cwd=ROOT, env=env | {"DATABASE_TIMEOUT": "2"}, capture_output=True, text=True
        )
        report.rollback()
    assert "CREATE INDEX CONCURRENTLY" in cut_short.stderr, cut_short.stderr[-600:]
    assert "statement timeout" in cut_short.stderr, "the build was not cut short"

    again = subprocess.run(
        MIGRATE, cwd=ROOT, env=env | {"DATABASE_TIMEOUT": "0"}, capture_output=True, text=True
    )

    assert again.returncode == 0, again.stderr[-600:]
    with psycopg.connect(url) as check:
        valid = check.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('signinemail_owed_due')"
        ).fetchone()
    assert valid == (True,)


@pytest.mark.system
def test_sign_ins_go_on_while_the_queue_migration_waits_for_a_long_report(transactional_db):
    # The release runs with no statement timeout (fly.toml: DATABASE_TIMEOUT=0). An operator's
    # long read of the emails table holds its lock: 0015's ALTER TABLE would wait for it, and
    # every sign-in's query would queue behind the ALTER. It gives up instead: the deploy fails.
    url = database_of_its_own("queue_migration_lock", "accounts", "0014_funnel_indexes")
    with psycopg.connect(url) as report, psycopg.connect(url, autocommit=True) as page:
        report.execute("BEGIN")
        report.execute("SELECT count(*) FROM accounts_signinemail").fetchone()
        release = subprocess.Popen(
            MIGRATE,
            cwd=ROOT,
            env=release_environment(url) | {"DATABASE_TIMEOUT": "0"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:

            def altering_waits() -> bool:
                waiting = page.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query ILIKE 'ALTER TABLE%accounts_signinemail%'"
                ).fetchone()
                return waiting[0] > 0

            eventually(altering_waits, 20, "the release's ALTER TABLE waiting for the report")
            # Alice's check-inbox page reads her email's status (production's 5 s timeout).
            page.execute("SET statement_timeout = '5s'")
            page.execute("SELECT status FROM accounts_signinemail WHERE id = 'alices'")
            _, failed = release.communicate(timeout=60)
        finally:
            report.rollback()
            release.wait(timeout=60)

    assert release.returncode != 0 and "lock timeout" in failed, failed[-600:]


def test_once_the_mail_server_is_back_the_emails_it_missed_leave_with_the_next_one(
    queue, client, mailbox, alice
):
    courier = Courier()  # one process's, as in a web process
    with time_machine.travel(timezone.now(), tick=False):
        smtp_server.stop()
        try:
            held = ask(client)
            courier.sweep()  # the connection is refused: tried again in a while
        finally:
            smtp_server.start()
        held.refresh_from_db()
        assert held.status == Status.RETRYING and held.due_at > timezone.now()
        greylisted = ask(behind_the_proxy(), "carol@example.com")
        SignInEmail.objects.filter(pk=greylisted.pk).update(
            status=Status.RETRYING, problem="SMTPDataError 451", due_at=held.due_at
        )  # the server itself asked to wait: greylisting wants the wait

        courier.send_handed(SIGN_IN, ask(behind_the_proxy(), "bob@example.com").id)  # it goes

    # Alice's email went with it, not a retry's wait later; carol's waits as the server asked.
    assert mailbox.message_to("alice@example.com")
    assert SignInEmail.objects.get(pk=held.pk).status == Status.SENT
    assert "carol@example.com" not in mailbox.by_recipient


# --- The second review (of the fixes): account mail's reports, and the deploy's two couriers ---


def signed_in(mailbox, address: str = "alice@example.com") -> Client:
    """A browser that asked for an email, a sweep sent it, and typed its code."""
    browser = behind_the_proxy()
    browser.post("/", {"email": address})
    run_due_tasks()
    code = code_in(mailbox.message_to(address))
    assert browser.post("/check-inbox/", {"code": code})["Location"] == "/dashboard/"
    mailbox.clear()
    return browser


def test_an_error_report_from_the_courier_running_account_mail_holds_no_link_or_code(
    queue, mailbox, alice, settings, operators_reporter
):
    # The same fault and reporter as the story above, where Django's own mail_admins handler
    # sits: on the "django" logger. The courier also runs account mail (django-tasks), whose
    # defects django.tasks logs with exc_info: the frames' locals hold the proof's link and code.
    laptop = signed_in(mailbox)
    misspell_the_mail_backend(settings)
    django_logger = logging.getLogger("django")
    defaults = django_logger.handlers[:]
    django_logger.handlers = [operators_reporter]
    try:
        laptop.post("/account/email/", {"email": "new@example.org"})
        run_due_tasks()  # the courier's sweep runs the proof's task: the defect
    finally:
        django_logger.handlers = defaults

    change = AddressChange.objects.get()
    code = code_for(f"change:{change.pk}")
    for part in the_report(mailbox):
        assert not re.search(r"change=[\w.:%-]{20,}", part), "a working address-change link"
        assert code not in part and f"{code[:3]} {code[3:]}" not in part, "the proof's code"


# What production ran before the row became its own queue. This story and the task it runs
# go after 2026-12-20 (accounts/mail/delivery.py's `deliver`, migration 0015's claim defaults).
LAST_RELEASE = "4835cf1^"


@pytest.fixture
def last_release_tree(tmp_path):
    """The last release's code, as its machines still run it until the rolling deploy reaches
    them (fly.toml: release_command migrates first)."""
    archive = subprocess.run(
        ["git", "archive", LAST_RELEASE], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path


@pytest.fixture
def stall_the_first_ask():
    """The first "asked for" event written with this user agent waits 1.5 s for the database
    (a slow moment, as under a vacuum or a checkpoint); later ones do not."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE SEQUENCE stalls; "
            "CREATE FUNCTION stall() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF nextval('stalls') = 1 THEN PERFORM pg_sleep(1.5); END IF; RETURN NEW; END $$; "
            "CREATE TRIGGER stall BEFORE INSERT ON accounts_signinevent FOR EACH ROW "
            "WHEN (NEW.user_agent = 'during-the-deploy') EXECUTE FUNCTION stall()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TRIGGER IF EXISTS stall ON accounts_signinevent; "
            "DROP FUNCTION IF EXISTS stall(); DROP SEQUENCE IF EXISTS stalls"
        )


@pytest.mark.system
def test_an_email_a_machine_of_the_last_release_is_sending_is_not_sent_again_by_a_new_one(
    queue, mailbox, alice, last_release_tree, stall_the_first_ask
):
    # During the rolling deploy alice asks a machine of the last release: it writes her row (the
    # new columns take their database defaults) and its courier runs its `deliver` task at
    # once, which reads the row as QUEUED and sends it, claiming nothing.
    email = last_release_model().objects.create(
        id="asked-during-the-deploy",
        address="alice@example.com",
        domain="example.com",
        user_agent="during-the-deploy",
    )
    env = {**os.environ, **app_environment(free_port())}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    old = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, django; django.setup(); "
            "from accounts.mail.delivery import deliver; print(deliver.call(sys.argv[1]))",
            email.id,
        ],
        cwd=last_release_tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def old_machine_writing_the_ask() -> bool:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE "
                    "'%INSERT INTO \"accounts_signinevent\"%' AND state = 'active' "
                    "AND pid <> pg_backend_pid()"
                )
                return cursor.fetchone()[0] > 0

        eventually(old_machine_writing_the_ask, 20, "the last release's courier at work")
        run_due_tasks()  # a machine of the new release starts and sweeps, as each one does
        out, err = old.communicate(timeout=60)
    finally:
        if old.poll() is None:
            old.kill()
    assert old.returncode == 0, err[-2000:]

    sent = len(mailbox.by_recipient["alice@example.com"])
    asks = SignInEvent.objects.filter(kind=SignInEvent.Kind.REQUESTED).count()
    assert (sent, asks) == (1, 1), "emails sent, asks recorded"


def test_emails_that_expired_before_they_could_be_sent_do_not_count_against_the_address(
    queue, mailbox, alice
):
    # Three browsers ask (the address's allowance: 3 in 15 minutes), and no courier runs for
    # longer than a link lives: a machine stopped, say.
    for _ in range(3):
        ask(behind_the_proxy())
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        run_due_tasks()  # each one: expired before it could be sent
        asked = behind_the_proxy().post("/", {"email": "alice@example.com"})

    expired = SignInEmail.objects.filter(problem="expired before it could be sent")
    assert expired.filter(status=Status.FAILED).count() == 3
    assert asked.status_code == HTTPStatus.FOUND  # not 429: she got none of them

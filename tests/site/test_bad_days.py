"""Redis or the mail server goes away: people get a clear page, never a 500, and it heals itself."""

import time
from http import HTTPStatus

import psycopg
import pytest
from django.db import connection
from django.test import Client

from tests.environment import redis_server, smtp_server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis_down():
    redis_server.stop()
    yield
    redis_server.start()


@pytest.fixture
def smtp_down():
    smtp_server.stop()
    yield
    smtp_server.start()


def test_with_redis_down_the_sign_in_page_says_to_try_again_shortly(client, redis_down):
    started = time.monotonic()
    page = client.get("/")
    posted = client.post("/", {"email": "alice@example.com"})
    elapsed = time.monotonic() - started

    for response in (page, posted):
        assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
        assert b"We cannot send sign-in links right now" in response.content
        assert response["Retry-After"] == "30"
    assert elapsed < 3


def test_with_redis_down_nothing_is_sent(client, mailbox, redis_down):
    client.post("/", {"email": "alice@example.com"})

    assert mailbox.messages == []


def test_people_already_signed_in_keep_working_while_redis_is_down(client, alice):
    client.force_login(alice)
    redis_server.stop()
    try:
        dashboard = client.get("/dashboard/")
    finally:
        redis_server.start()

    assert dashboard.status_code == HTTPStatus.OK
    assert b"Hello, alice@example.com" in dashboard.content


def test_sign_in_recovers_by_itself_when_redis_returns(client, mailbox):
    redis_server.stop()
    assert client.get("/").status_code == HTTPStatus.SERVICE_UNAVAILABLE
    redis_server.start()

    assert client.get("/").status_code == HTTPStatus.OK
    assert client.post("/", {"email": "alice@example.com"}).status_code == HTTPStatus.FOUND
    assert len(mailbox.wait_for(1)) == 1


def test_with_the_mail_server_down_the_person_is_told_to_try_again(client, smtp_down, caplog):
    asked = client.post("/", {"email": "alice@example.com", "next": "/admin/"})
    page = client.get(asked["Location"])

    assert asked.status_code == HTTPStatus.FOUND
    assert b"We could not send the email" in page.content
    # "Try again" sends the same address and next again, in one press.
    assert b'<input type="hidden" name="email" value="alice@example.com">' in page.content
    assert b'<input type="hidden" name="next" value="/admin/">' in page.content
    assert b">Try again</button>" in page.content
    assert "event=email_failed email=a***@example.com" in caplog.text


def test_try_again_after_a_failed_email_is_not_held_back(client, mailbox):
    smtp_server.stop()
    client.post("/", {"email": "alice@example.com"})
    smtp_server.start()

    again = client.post("/", {"email": "alice@example.com", "resend": "1"})
    page = client.get(again["Location"])

    assert b"We sent an email to" in page.content
    assert len(mailbox.wait_for(1)) == 1


def test_a_send_that_failed_does_not_count_against_the_address(client, mailbox):
    smtp_server.stop()
    try:
        failed = [client.post("/", {"email": "alice@example.com"}) for _ in range(3)]
    finally:
        smtp_server.start()

    sent = [client.post("/", {"email": "alice@example.com"}) for _ in range(3)]

    assert [r.status_code for r in failed + sent] == [HTTPStatus.FOUND] * 6
    assert len(mailbox.wait_for(3)) == 3


@pytest.mark.parametrize("urls", ["config.urls", "bench.urls"])  # production's, the benchmark's
def test_a_database_that_stops_answering_mid_sign_in_gets_the_we_will_be_right_back_page(
    settings, urls
):
    """A database too busy to answer, or even to cancel (a saturated CPU in the benchmark),
    meets the client's own deadline halfway through the sign-in email's INSERT: the connection
    is dropped, and the person gets the 503 page, whichever URLconf serves the site."""
    settings.ROOT_URLCONF = urls
    browser = Client(headers={"X-Forwarded-Proto": "https"}, raise_request_exception=False)
    assert browser.get("/").status_code == HTTPStatus.OK  # the connection is open and in use
    params = connection.settings_dict
    with (
        psycopg.connect(
            host=params["HOST"],
            port=params["PORT"],
            user=params["USER"],
            password=params["PASSWORD"],
            dbname=params["NAME"],
            autocommit=True,
        ) as other,
        other.transaction(),
    ):
        # The INSERT waits on this lock; the client gives up (0.3 s + GRACE) long before the
        # server's statement_timeout (2 s) would cancel it.
        other.execute("LOCK TABLE accounts_signinemail IN ACCESS EXCLUSIVE MODE")
        settings.DATABASE_TIMEOUT = 0.3
        started = time.monotonic()
        try:
            asked = browser.post("/", {"email": "alice@example.com"})
        finally:
            connection.close()  # finished mid-statement: the next request connects again
        elapsed = time.monotonic() - started

    assert asked.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert b"We will be right back" in asked.content
    assert asked["Retry-After"] == "30"
    assert elapsed < 2

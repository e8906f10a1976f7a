"""A bad day in production, against the app on gunicorn: Redis killed, mail stalled, database
restarted. People get a clear page, never a 500 or a hung worker, and it heals without restart."""

import os
import signal
import threading
import time
from http import HTTPStatus
from pathlib import Path

import httpx
import psycopg
import pytest

from harness.servers import AppServer, PostgresServer
from tests.environment import redis_server
from tests.helpers import (
    ask_for_a_link,
    confirm_the_link,
    eventually,
    link_in,
    migrate,
    our_app,
)

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]


def signed_in_browser(app: AppServer, mailbox, address: str) -> httpx.Client:
    browser = app.client()
    ask_for_a_link(browser, address)
    confirm_the_link(browser, link_in(mailbox.message_to(address)))
    assert browser.get("/dashboard/").status_code == HTTPStatus.OK
    return browser


class Stream:
    """Visitors opening the sign-in page without pause, recording every answer and its time."""

    def __init__(self, app: AppServer, path: str = "/", browser: httpx.Client | None = None):
        self.app, self.path, self.browser = app, path, browser
        self.answers: list[tuple[float, int, float]] = []
        self.running = True
        self.thread = threading.Thread(target=self.visit)

    def visit(self) -> None:
        browser = self.browser or self.app.client()
        while self.running:
            started = time.monotonic()
            try:
                status = browser.get(self.path).status_code
            except httpx.TransportError:
                status = 0
            self.answers.append((started, status, time.monotonic() - started))

    def __enter__(self) -> "Stream":
        self.thread.start()
        return self

    def flows_on(self, answers: int = 10) -> None:
        """Wait until this many more visits have been answered (or refused) from now."""
        seen = len(self.answers)
        eventually(lambda: len(self.answers) >= seen + answers, 10, "visitors get answers")

    def __exit__(self, *exc) -> None:
        self.running = False
        self.thread.join()


def test_redis_killed_during_traffic(live_app, mailbox):
    alice = signed_in_browser(live_app, mailbox, "alice@example.com")
    with Stream(live_app) as stream, live_app.client() as visitor:
        stream.flows_on()
        redis_server.process.kill()  # SIGKILL: no goodbye
        redis_server.process.wait()
        redis_server.process = None
        stream.flows_on()

        started = time.monotonic()
        page = visitor.get("/")
        assert time.monotonic() - started < 3
        assert page.status_code == HTTPStatus.SERVICE_UNAVAILABLE
        assert "We cannot send sign-in links right now" in page.text
        assert alice.get("/dashboard/").status_code == HTTPStatus.OK
        assert visitor.get("/healthz").status_code == HTTPStatus.OK  # fly keeps routing here
        assert visitor.get("/healthz/full").json()["cache"] == "unavailable"

        redis_server.start()
        eventually(lambda: visitor.get("/").status_code == HTTPStatus.OK, 5, "sign-in is back")
        assert visitor.get("/healthz/full").json()["cache"] == "ok"
        stream.flows_on()

    statuses = {status for _, status, _ in stream.answers}
    assert statuses <= {HTTPStatus.OK, HTTPStatus.SERVICE_UNAVAILABLE}, statuses
    assert max(elapsed for _, _, elapsed in stream.answers) < 3
    alice.close()


def test_a_stalled_mail_server_holds_neither_the_request_nor_the_email(live_app, mailbox):
    mailbox.delay = 30  # far past EMAIL_TIMEOUT (3 s in the tests)
    with live_app.client() as browser:
        browser.get("/")  # a process that has served a page already: the stall is measured
        started = time.monotonic()
        asked = ask_for_a_link(browser, "alice@example.com")
        answered_in = time.monotonic() - started
        mailbox.wait_for_attempts(1)
        while_stalled = browser.get(asked.headers["Location"])
        # The worker gives up on this attempt after EMAIL_TIMEOUT and tries again shortly.
        mailbox.delay = 0
        mailbox.message_to("alice@example.com", timeout=20)
        # The server has the email; the worker records it once the server's reply reaches it.
        eventually(
            lambda: "We sent an email" in browser.get(asked.headers["Location"]).text,
            5,
            "the sent email recorded",
        )
        once_sent = browser.get(asked.headers["Location"])

    assert asked.status_code == HTTPStatus.FOUND
    assert answered_in < 1
    assert "We are sending an email" in while_stalled.text
    assert "We sent an email" in once_sent.text
    assert len(mailbox.messages) == 1
    assert "event=email_retrying" in live_app.logs()


@pytest.fixture
def own_database():
    """A PostgreSQL of this test's own, so that restarting it disturbs nobody else."""
    server = PostgresServer().start()
    with psycopg.connect(
        f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres", autocommit=True
    ) as connection:
        connection.execute("CREATE DATABASE latchkey")
    yield server
    server.stop()


def app_on(database: PostgresServer) -> AppServer:
    """Our app on gunicorn, on a database of its own, migrated."""
    migrate(database.url)
    return our_app(DATABASE_URL=database.url)


def test_postgresql_restarted_during_traffic_fails_cleanly_and_heals(own_database, mailbox):
    app = app_on(own_database)
    try:
        alice = signed_in_browser(app, mailbox, "alice@example.com")
        bob = signed_in_browser(app, mailbox, "bob@example.com")
        with Stream(app, "/dashboard/", browser=bob) as stream:
            stream.flows_on()
            own_database.stop()
            stream.flows_on()
            down = alice.get("/dashboard/")
            own_database.start()
            eventually(lambda: alice.get("/dashboard/").status_code == 200, 10, "back")
            stream.flows_on()
        # The worker lost the database too, and came back by itself.
        with app.client() as carol:
            ask_for_a_link(carol, "carol@example.com")
            mailbox.message_to("carol@example.com", timeout=40)
    finally:
        app.stop()

    assert down.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert "We will be right back" in down.text
    statuses = {status for _, status, _ in stream.answers}
    assert statuses <= {HTTPStatus.OK, HTTPStatus.SERVICE_UNAVAILABLE}, statuses
    assert "Traceback" not in down.text


def postgres_processes(server: PostgresServer) -> list[int]:
    """The postmaster and every backend it forked: a whole frozen server, not just its door."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == server.process.pid:
            children.append(int(stat.parent.name))
    return [server.process.pid, *children]


def test_a_frozen_database_fails_requests_fast_and_heals(own_database, mailbox):
    app = app_on(own_database)
    try:
        alice = signed_in_browser(app, mailbox, "alice@example.com")
        checker = httpx.Client(base_url=app.origin, timeout=30)
        frozen = postgres_processes(own_database)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)  # paused, not stopped: connections stay open, silent
        try:
            answers = {}
            for name, ask in (
                ("dashboard", lambda: alice.get("/dashboard/")),
                ("health", lambda: checker.get("/healthz")),
                ("dashboard again", lambda: alice.get("/dashboard/")),
            ):
                started = time.monotonic()
                answers[name] = (ask(), time.monotonic() - started)
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
        eventually(lambda: alice.get("/dashboard/").status_code == HTTPStatus.OK, 10, "healed")
    finally:
        app.stop()

    for name, (response, elapsed) in answers.items():
        assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE, name
        assert elapsed < 5, (name, elapsed)
    assert "We will be right back" in answers["dashboard"][0].text

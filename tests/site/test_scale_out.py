"""Two app machines, as fly.io runs them when you scale out, sharing PostgreSQL and Redis."""

import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import httpx
import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection, transaction

from accounts.models import User
from tests.helpers import (
    SHARED_SITE_URL,
    RoundRobin,
    ask_for_a_link,
    confirm_the_link,
    csrf_token_in,
    eventually,
    link_in,
    machine,
    path_of,
)

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def machines():
    pair = [machine(GUNICORN_THREADS="8") for _ in range(2)]
    yield pair
    for app in pair:
        app.stop()


def sign_in(browser: httpx.Client, mailbox, address: str, ask, confirm=None) -> httpx.Response:
    """The whole flow; `ask` and `confirm` pick the machines (see tests/helpers.py)."""
    ask_for_a_link(browser, address, ask)
    link = link_in(mailbox.message_to(address))
    assert link.startswith(SHARED_SITE_URL)
    return confirm_the_link(browser, link, confirm or ask)


def test_a_link_asked_for_on_one_machine_signs_in_on_the_other(machines, mailbox):
    one, other = machines
    with one.client() as browser:
        signed_in = sign_in(browser, mailbox, "alice@example.com", one.origin, other.origin)
        assert signed_in.status_code == HTTPStatus.FOUND

        for app in machines:
            dashboard = browser.get(f"{app.origin}/dashboard/")
            assert dashboard.status_code == HTTPStatus.OK
            assert "Hello, alice@example.com" in dashboard.text

        browser.post(
            f"{other.origin}/sign-out/", data={"csrfmiddlewaretoken": csrf_token_in(dashboard.text)}
        )
        for app in machines:
            assert browser.get(f"{app.origin}/dashboard/").status_code == HTTPStatus.FOUND


def test_fifty_simultaneous_submissions_over_both_machines_sign_in_once(machines, mailbox):
    one, _ = machines
    with one.client() as browser:
        page = browser.get("/")
        browser.post(
            "/",
            data={"email": "alice@example.com", "csrfmiddlewaretoken": csrf_token_in(page.text)},
        )
    link = link_in(mailbox.message_to("alice@example.com"))
    token = link.split("sesame=")[1]
    browsers = [machines[n % 2].client() for n in range(50)]
    forms = [csrf_token_in(b.get(path_of(link), follow_redirects=True).text) for b in browsers]
    ready = threading.Barrier(50)

    def submit(browser, csrf_token):
        ready.wait()
        return browser.post("/link/", data={"sesame": token, "csrfmiddlewaretoken": csrf_token})

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = sorted(r.status_code for r in pool.map(submit, browsers, forms))
    for browser in browsers:
        browser.close()

    assert statuses == [HTTPStatus.FOUND] + [HTTPStatus.GONE] * 49
    alice = User.objects.get(email="alice@example.com")
    sessions = [
        s
        for s in Session.objects.all()
        if SessionStore().decode(s.session_data).get(SESSION_KEY) == str(alice.pk)
    ]
    assert len(sessions) == 1


def test_a_stopped_machine_finishes_the_requests_it_had_accepted(machines, mailbox):
    stopping, _ = machines

    def ask(number: int) -> httpx.Response:
        with stopping.client() as browser:
            return ask_for_a_link(browser, f"p{number}@example.com")

    with ThreadPoolExecutor(max_workers=4) as pool:
        with transaction.atomic(), connection.cursor() as cursor:
            # Holding the table a link request writes keeps four requests inside the app.
            cursor.execute("LOCK TABLE accounts_signinemail IN EXCLUSIVE MODE")
            asked = [pool.submit(ask, n) for n in range(4)]
            eventually(lambda: requests_waiting_on_locks(cursor) == 4, 10, "four requests in")
            stopping.process.send_signal(signal.SIGTERM)  # as fly stops a machine
            eventually(lambda: "Handling signal: term" in stopping.web_logs(), 10, "SIGTERM")
        responses = [future.result() for future in asked]
    stopping.stop()

    assert [r.status_code for r in responses] == [HTTPStatus.FOUND] * 4
    assert len(mailbox.wait_for(4)) == 4


def requests_waiting_on_locks(cursor) -> int:
    # pg_locks is live; pg_stat_activity would be a snapshot taken once per transaction.
    cursor.execute(
        "SELECT count(*) FROM pg_locks"
        " WHERE NOT granted AND relation = 'accounts_signinemail'::regclass"
    )
    return cursor.fetchone()[0]


def test_a_rolling_restart_during_a_stream_of_sign_ins_loses_nothing(machines, mailbox):
    restarting, _ = machines
    proxy = RoundRobin(machines)
    signed_in, failed = [], []
    going = threading.Event()
    going.set()

    def served_after_restart() -> str:
        """What the restarted machine logged since its stop began ("" before that)."""
        before, marker, after = restarting.web_logs().rpartition("Handling signal: term")
        return after if marker else ""

    def person(number: int) -> None:
        count = 0
        while going.is_set():
            address = f"person{number}-{count}@example.com"
            count += 1
            with restarting.client() as browser:
                browser.event_hooks["response"].append(proxy.answered)
                try:
                    response = sign_in(browser, mailbox, address, proxy.origin)
                except httpx.TransportError as error:
                    failed.append(f"{address}: {error!r}")
                    continue
            if response.status_code == HTTPStatus.FOUND:
                signed_in.append(address)
            else:
                failed.append(f"{address}: {response.status_code}")

    with ThreadPoolExecutor(max_workers=6) as pool:
        people = [pool.submit(person, n) for n in range(6)]
        eventually(lambda: len(signed_in) >= 6, 10, "people signing in on both machines")
        proxy.drain(restarting)  # returns once every request sent to it has its answer
        restarting.stop()
        restarting.start()
        proxy.restore(restarting)
        # The stream goes on until the restarted machine has signed people in again: a stream
        # of fixed length could end, on a slow day, before the restart did.
        eventually(
            lambda: '"POST /link/ HTTP/1.1" 302' in served_after_restart() and len(signed_in) >= 30,
            30,
            "sign-ins on the restarted machine",
        )
        going.clear()
        for future in people:
            future.result()

    assert failed == []
    assert len(signed_in) >= 30
    assert '"POST /link/ HTTP/1.1" 302' in served_after_restart()


def test_a_browser_ended_from_account_on_one_machine_is_signed_out_on_the_other(machines, mailbox):
    one, other = machines
    with one.client() as laptop, other.client() as phone:
        sign_in(phone, mailbox, "alice@example.com", other.origin)
        mailbox.clear()
        sign_in(laptop, mailbox, "alice@example.com", one.origin)
        assert phone.get(f"{other.origin}/dashboard/").status_code == HTTPStatus.OK

        account = laptop.get(f"{one.origin}/account/").text
        handle = account.split('name="browser" value="', 1)[1].split('"', 1)[0]
        ended = laptop.post(
            f"{one.origin}/account/sign-out-browser/",
            data={"browser": handle, "csrfmiddlewaretoken": csrf_token_in(account)},
        )

        assert ended.status_code == HTTPStatus.FOUND
        assert phone.get(f"{other.origin}/dashboard/").status_code == HTTPStatus.FOUND
        assert laptop.get(f"{other.origin}/dashboard/").status_code == HTTPStatus.OK

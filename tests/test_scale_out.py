"""Two app machines, as fly.io runs them when you scale out, sharing PostgreSQL and Redis."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import httpx
import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session

from accounts.models import User
from tests.conftest import app_environment, csrf_token_in, link_in, path_of
from tests.flows import ask_for_a_link, confirm_the_link
from tests.servers import AppServer, free_port

pytestmark = pytest.mark.django_db(transaction=True)

SITE_URL = "https://signin.example.test"


def machine(port: int, **env: str) -> AppServer:
    # One public origin in front of both, as behind fly's proxy.
    settings = app_environment(
        port, SITE_URL=SITE_URL, ALLOWED_HOSTS="127.0.0.1", RATE_LIMIT_PER_IP="100000/15m", **env
    )
    return AppServer(settings, port=port)


@pytest.fixture
def machines():
    pair = [machine(free_port(), GUNICORN_THREADS="8").start() for _ in range(2)]
    yield pair
    for app in pair:
        app.stop()


def sign_in(browser: httpx.Client, mailbox, address: str, ask, confirm=None) -> httpx.Response:
    """The whole flow; `ask` and `confirm` pick the machines (see tests/flows.py)."""
    ask_for_a_link(browser, address, ask)
    link = link_in(mailbox.message_to(address))
    assert link.startswith(SITE_URL)
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
    mailbox.delay = 1.5  # a slow mail server keeps these requests inside the app

    def ask(number: int) -> httpx.Response:
        with stopping.client() as browser:
            return ask_for_a_link(browser, f"p{number}@example.com")

    with ThreadPoolExecutor(max_workers=4) as pool:
        asked = [pool.submit(ask, n) for n in range(4)]
        time.sleep(0.7)  # all four are now waiting on the mail server
        stopping.stop()  # SIGTERM, as fly sends it: gunicorn finishes them, then exits
        responses = [future.result() for future in asked]

    assert [r.status_code for r in responses] == [HTTPStatus.FOUND] * 4
    assert len(mailbox.wait_for(4)) == 4
    assert "Handling signal: term" in stopping.logs()


class RoundRobin:
    """What fly's proxy does for this test: spreads requests over the machines in rotation,
    takes a machine out of rotation before stopping it, and back once it answers again."""

    def __init__(self, machines: list[AppServer]) -> None:
        self.rotation = list(machines)
        self.turn = 0
        self.lock = threading.Lock()

    def origin(self) -> str:
        with self.lock:
            self.turn += 1
            return self.rotation[self.turn % len(self.rotation)].origin

    def drain(self, app: AppServer) -> None:
        with self.lock:
            self.rotation.remove(app)

    def restore(self, app: AppServer) -> None:
        with self.lock:
            self.rotation.append(app)


def test_a_rolling_restart_during_a_stream_of_sign_ins_loses_nothing(machines, mailbox):
    restarting, _ = machines
    proxy = RoundRobin(machines)
    signed_in, failed = [], []
    stop_at = time.monotonic() + 6

    def person(number: int) -> None:
        count = 0
        while time.monotonic() < stop_at:
            address = f"person{number}-{count}@example.com"
            count += 1
            with restarting.client() as browser:
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
        time.sleep(2)
        proxy.drain(restarting)
        time.sleep(0.2)  # requests already sent to it are answered
        restarting.stop()
        restarting.start()
        proxy.restore(restarting)
        for future in people:
            future.result()

    assert failed == []
    assert len(signed_in) >= 30
    served_after_restart = restarting.web_logs().rsplit("Handling signal: term", 1)[1]
    assert '"POST /link/ HTTP/1.1" 302' in served_after_restart

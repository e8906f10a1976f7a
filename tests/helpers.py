"""What the tests share: reading emails and pages, a person's steps over HTTP, and waiting.

`origin` picks the machine for each request: "" for the client's own, an origin, or a callable
that returns one per request, as a load balancer would.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time
from base64 import b64encode
from collections.abc import Callable
from email.message import EmailMessage
from urllib.parse import urlsplit

import httpx
import psycopg
from django.db import connection

from harness.servers import ROOT, AppServer, free_port
from tests.environment import TEST_SECRET_KEY, postgres_server, wait_for_static_files

# --- Waiting ------------------------------------------------------------------------------------


def eventually(check: Callable[[], object], timeout: float, what: str) -> float:
    """Wait until `check()` holds; the seconds it took. The suite's only polling loop."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - started


# --- Reading what the app sends -----------------------------------------------------------------


def link_in(message: EmailMessage) -> str:
    """The sign-in link from the plain-text part, as a person would copy it."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(r"https?://\S+", text)
    assert match, f"no link in the email:\n{text}"
    return match.group(0)


def code_in(message) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(r"^\s+(\d{3} \d{3})\s*$", text, re.MULTILINE)
    assert match, f"no code in the email:\n{text}"
    return match.group(1)


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def csrf_token_in(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


# --- Our app, as production runs it -------------------------------------------------------------


def app_environment(port: int, **overrides: str) -> dict[str, str]:
    """Production settings for a gunicorn instance that shares the test database."""
    database = connection.settings_dict["NAME"]
    return {
        "SECRET_KEY": TEST_SECRET_KEY,
        "SITE_URL": f"https://127.0.0.1:{port}",
        "DATABASE_URL": postgres_server.url.rsplit("/", 1)[0] + "/" + database,
        "WEB_CONCURRENCY": "2",
        # Its series on a port of its own (fly.toml's 9091 would collide between test apps).
        "METRICS_PORT": str(free_port()),
        **overrides,
    }


def migrate(database_url: str, *target: str) -> None:
    """Run our migrations on another database, as fly's release command does; or up to
    `target` (an app and a migration), as `manage.py migrate` takes it."""
    test_only = ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in test_only}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", *target, "--noinput", "-v0"],
        cwd=ROOT,
        env=env | {"DATABASE_URL": database_url},
        check=True,
    )


def database_of_its_own(name: str, *target: str) -> str:
    """A new, migrated database on the suite's PostgreSQL (up to `target`, if given); its URL.

    Apps on one database share one mail queue, and any of them may send any of its emails (each
    sweeps the queue), as in production. An app configured unlike the others (no mail server)
    gets its own.
    """
    postgres_server.ready()
    with psycopg.connect(postgres_server.url.rsplit("/", 1)[0] + "/postgres") as admin:
        admin.autocommit = True
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = postgres_server.url.rsplit("/", 1)[0] + "/" + name
    migrate(url, *target)
    return url


def our_app(
    *,
    port: int | None = None,
    tls: tuple[str, str] | None = None,
    **env: str,
) -> AppServer:
    """Our app on a free port (or `port`), started as fly.toml runs it (gunicorn, whose workers
    also send the mail), on the test database and Redis unless `env` says otherwise. The one
    way tests start it."""
    wait_for_static_files()  # its pages link to the collected, hashed files
    port = port or free_port()
    return AppServer(app_environment(port, **env), port=port, tls=tls).start()


def solved(page: str) -> str:
    """The answer a browser's ALTCHA widget would post for the challenge on `page`: the same
    search, by the `altcha` package's own solver (the tests' Python stand-in for the widget)."""
    import html
    import json

    import altcha

    found = re.search(r'<altcha-widget challenge="([^"]+)"', page)
    assert found, "no proof of work asked on this page"
    challenge = altcha.Challenge.from_dict(json.loads(html.unescape(found.group(1))))
    solution = altcha.solve_challenge(challenge)
    assert solution is not None
    return altcha.Payload(challenge, solution).to_base64()


# --- A person's steps, in process ----------------------------------------------------------------


def behind_the_proxy(**headers: str):
    """Django's test client as a browser behind fly's proxy, which terminates TLS."""
    from django.test import Client

    return Client(headers={"X-Forwarded-Proto": "https", **headers})


def signed_in_by_code(mailbox, address: str = "alice@example.com", **headers: str):
    """A browser that asked for an email and typed its code (mail sent inside the request)."""
    browser = behind_the_proxy(**headers)
    mailbox.clear()
    browser.post("/", {"email": address})
    code = code_in(mailbox.message_to(address))
    assert browser.post("/check-inbox/", {"code": code})["Location"] == "/dashboard/"
    return browser


def signed_in_by_link(mailbox, address: str = "alice@example.com"):
    """A browser that asked for an email, opened its link and pressed Sign in."""
    browser = behind_the_proxy()
    browser.post("/", {"email": address})
    link = link_in(mailbox.message_to(address))
    mailbox.clear()
    browser.get(path_of(link))
    token = link.split("sesame=")[1]
    assert browser.post("/link/", {"sesame": token})["Location"] == "/dashboard/"
    return browser


# --- The mail provider ----------------------------------------------------------------------------

WEBHOOK_SECRET = "webhook-user:webhook-password-0123456789"


def provider_reports(
    client,
    address: str,
    secret: str = WEBHOOK_SECRET,
    kind: str = "HardBounce",
    message_id: str = "b7bc2f4a",
):
    """Postmark's webhook reporting `kind` (HardBounce, SoftBounce, SpamComplaint, …) of the
    message it names."""
    event = {
        "RecordType": "SpamComplaint" if kind == "SpamComplaint" else "Bounce",
        "Type": kind,
        "TypeCode": 1,
        "MessageID": message_id,
        "Email": address,
        "BouncedAt": "2026-11-28T10:00:00Z",
        "Description": "The server was unable to deliver your message.",
    }
    credentials = b64encode(secret.encode()).decode()
    return client.post(
        "/anymail/postmark/tracking/",
        json.dumps(event),
        content_type="application/json",
        headers={"Authorization": f"Basic {credentials}"},
    )


# --- A person's steps, over HTTP ------------------------------------------------------------------

Origin = str | Callable[[], str]


def ask_for_a_link(browser: httpx.Client, address: str, origin: Origin = "", **kwargs):
    """Open the sign-in page and send the form; the answer to the form."""
    at = origin if callable(origin) else lambda: origin
    page = browser.get(f"{at()}/")
    return browser.post(
        f"{at()}/",
        data={"email": address, "csrfmiddlewaretoken": csrf_token_in(page.text)},
        **kwargs,
    )


def confirm_the_link(browser: httpx.Client, link: str, origin: Origin = "") -> httpx.Response:
    """Open the emailed link, then press Sign in on the confirm page; the answer to the press."""
    at = origin if callable(origin) else lambda: origin
    stashed = browser.get(at() + path_of(link))
    confirm_page = browser.get(at() + stashed.headers["Location"])
    return browser.post(
        f"{at()}/link/",
        data={
            "sesame": link.split("sesame=")[1],
            "csrfmiddlewaretoken": csrf_token_in(confirm_page.text),
        },
    )


def press(browser: httpx.Client, page: str, action: str, data: dict) -> httpx.Response:
    """Open `page` and send its form to `action`, as a person pressing its button does."""
    token = csrf_token_in(browser.get(page, follow_redirects=True).text)
    return browser.post(action, data={**data, "csrfmiddlewaretoken": token})


def signed_in_over_http(
    app: AppServer, mailbox, address: str = "alice@example.com", next_url: str = ""
) -> tuple[httpx.Client, httpx.Response]:
    """A browser of `app` that asked for an email and typed its code; and the answer to that."""
    browser = app.client()
    mailbox.clear()
    ask_for_a_link(browser, address)
    code = code_in(mailbox.message_to(address))
    inbox = f"/check-inbox/?next={next_url}" if next_url else "/check-inbox/"
    return browser, press(browser, inbox, inbox, {"code": code})


# --- More than one machine ------------------------------------------------------------------------

# One public origin in front of every machine, as behind fly's proxy.
SHARED_SITE_URL = "https://signin.example.test"


def machine(**env: str) -> AppServer:
    """One of several machines behind one public origin, as behind fly's proxy; started."""
    return our_app(
        SITE_URL=SHARED_SITE_URL, ALLOWED_HOSTS="127.0.0.1", RATE_LIMIT_PER_IP="100000/15m", **env
    )


class RoundRobin:
    """What fly's proxy does for these tests: spreads requests over the machines in rotation,
    takes a machine out of rotation before stopping it, and back once it answers again.

    Browsers that report their answers (`event_hooks["response"]` with `answered`) let `drain`
    wait until every request sent to a machine has its answer.
    """

    def __init__(self, machines: list[AppServer]) -> None:
        self.rotation = list(machines)
        self.turn = 0
        self.lock = threading.Lock()
        self.in_flight = {app.origin: 0 for app in machines}

    def origin(self) -> str:
        with self.lock:
            self.turn += 1
            chosen = self.rotation[self.turn % len(self.rotation)].origin
            self.in_flight[chosen] += 1
            return chosen

    def answered(self, response: httpx.Response) -> None:
        url = response.request.url
        with self.lock:
            self.in_flight[f"{url.scheme}://{url.netloc.decode()}"] -= 1

    def drain(self, app: AppServer) -> None:
        with self.lock:
            self.rotation.remove(app)
        eventually(lambda: self.in_flight[app.origin] == 0, 10, "its requests answered")

    def restore(self, app: AppServer) -> None:
        with self.lock:
            self.rotation.append(app)

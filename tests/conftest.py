import copy
import logging
import os
import re
import subprocess
import sys
from email.message import EmailMessage
from urllib.parse import urlsplit

import psycopg
import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection
from django.test import Client

from accounts.models import User
from tests.environment import TEST_SECRET_KEY, postgres_server, redis_server, smtp_server
from tests.servers import ROOT, AppServer, free_port, leaked_tokens

# Read before Django's test setup swaps every mailer for its in-memory outbox.
PRODUCTION_MAILERS = copy.deepcopy(django_settings.MAILERS)


class LogLines(logging.Handler):
    """What the app logs in this process during one test."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(autouse=True)
def no_token_in_any_log_line():
    """After every test: nothing it logged holds a sign-in token mailed so far.

    gunicorn's and the worker's logs are checked the same way by AppServer.stop().
    """
    handler = LogLines()
    logging.getLogger().addHandler(handler)
    yield
    logging.getLogger().removeHandler(handler)
    logged = "\n".join(handler.lines)
    assert not leaked_tokens(logged), "a sign-in token was logged"


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--soak",
        action="store_true",
        help="run the load test at full size: 200 people for 60 seconds (CI runs a short one)",
    )


@pytest.fixture(scope="session", autouse=True)
def static_files(django_test_environment) -> None:
    # DEBUG is off, as in production: pages link to whitenoise's hashed files.
    call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(autouse=True)
def real_smtp(settings):
    """Mail goes to the SMTP server on loopback, not to Django's in-memory outbox."""
    settings.MAILERS = PRODUCTION_MAILERS
    smtp_server.mailbox.clear()


@pytest.fixture(autouse=True)
def mail_in_the_request(settings):
    """In-process stories send their email inside the request, as `scripts/run` (DEBUG) does.

    What production runs, the queue and its worker process, has its own tests
    (tests/test_delivery.py) and runs under every gunicorn the system tests start.
    """
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture(autouse=True)
def fresh_cache():
    """Every story starts with no rate-limit counters and no cached sessions."""
    yield
    if redis_server.process is not None:
        for cache in caches.all():
            cache.clear()


@pytest.fixture
def client() -> Client:
    """A browser behind fly's proxy, which terminates TLS and says so in X-Forwarded-Proto."""
    return Client(headers={"X-Forwarded-Proto": "https"})


@pytest.fixture
def mailbox():
    return smtp_server.mailbox


@pytest.fixture
def alice(db) -> User:
    return User.objects.create_user("alice@example.com")


def link_in(message: EmailMessage) -> str:
    """The sign-in link from the plain-text part, as a person would copy it."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(r"https?://\S+", text)
    assert match, f"no link in the email:\n{text}"
    return match.group(0)


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def app_environment(port: int, **overrides: str) -> dict[str, str]:
    """Production settings for a gunicorn instance that shares the test database."""
    database = connection.settings_dict["NAME"]
    return {
        "SECRET_KEY": TEST_SECRET_KEY,
        "SITE_URL": f"https://127.0.0.1:{port}",
        "DATABASE_URL": postgres_server.url.rsplit("/", 1)[0] + "/" + database,
        "WEB_CONCURRENCY": "2",
        **overrides,
    }


def migrate(database_url: str) -> None:
    """Run our migrations on another database, as fly's release command does."""
    test_only = ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in test_only}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env | {"DATABASE_URL": database_url},
        check=True,
    )


def database_of_its_own(name: str) -> str:
    """A new, migrated database on the suite's PostgreSQL; its URL.

    Apps on one database share one mail queue, and any of their workers may send any of its
    emails, as in production. An app configured unlike the others (no mail server) gets its own.
    """
    with psycopg.connect(postgres_server.url.rsplit("/", 1)[0] + "/postgres") as admin:
        admin.autocommit = True
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = postgres_server.url.rsplit("/", 1)[0] + "/" + name
    migrate(url)
    return url


@pytest.fixture
def live_app(transactional_db):
    """Our app on gunicorn, the way production runs it, on the test database and Redis."""
    port = free_port()
    app = AppServer(app_environment(port), port=port).start()
    yield app
    app.stop()


def csrf_token_in(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)

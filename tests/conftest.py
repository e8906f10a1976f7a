import copy
import logging

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.test import Client
from django.test.signals import template_rendered

from accounts.models import User
from harness.servers import leaked_tokens
from tests.environment import (
    postgres_server,
    redis_server,
    smtp_server,
    wait_for_static_files,
)
from tests.helpers import our_app

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
def static_files() -> None:
    """Pages link to whitenoise's hashed files: the first template rendered in this process
    waits for the collectstatic that tests/environment.py started (and our_app() before it
    starts gunicorn). A test that renders no page, such as one reading fly.toml, never waits."""
    template_rendered.connect(
        lambda **kwargs: wait_for_static_files(), weak=False, dispatch_uid="static-files"
    )
    # Each test client loads the middleware anew, and whitenoise indexes every static file when
    # it loads (about 8 ms, 5 s over this tier). In-process it looks each file up on request
    # instead; the system tier serves them as production does (tests/site/test_container.py).
    django_settings.WHITENOISE_AUTOREFRESH = True


@pytest.fixture(scope="session")
def django_db_keepdb() -> bool:
    """The whole cluster is removed after the run: dropping the test database first only costs
    time, and under load it can outlast the app's 2 s statement timeout."""
    return True


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix) -> None:
    """pytest-django's hook before it creates the test database: PostgreSQL must be up."""
    postgres_server.ready()


@pytest.fixture(autouse=True)
def real_smtp(settings):
    """Mail goes to the SMTP server on loopback, not to Django's in-memory outbox."""
    settings.MAILERS = PRODUCTION_MAILERS
    smtp_server.mailbox.clear()


@pytest.fixture(autouse=True)
def mail_in_the_request(settings):
    """In-process stories send their email inside the request, as `scripts/run` (DEBUG) does.

    What production runs, the queue and its worker process, has its own tests
    (tests/mail/test_delivery.py) and runs under every gunicorn the system tests start.
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


@pytest.fixture
def live_app(transactional_db):
    """Our app on gunicorn, the way production runs it, on the test database and Redis."""
    app = our_app()
    yield app
    app.stop()

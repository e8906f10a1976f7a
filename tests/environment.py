"""Loaded by pytest before Django reads its settings (`-p tests.environment` in pyproject.toml).

The suite runs on production settings against real servers: it starts redis-server, PostgreSQL
and an SMTP server on loopback here and hands their addresses to config/settings.py through
the same environment variables production uses.
"""

import logging
import os
import subprocess
import sys

from harness.servers import (
    ROOT,
    AppServer,
    PostgresServer,
    RedisServer,
    SmtpServer,
    remove_scratch,
)

TEST_SECRET_KEY = "test-secret-key-for-the-suite-only-0123456789-abcdefghijklmnop"
TEST_SITE_URL = "https://signin.example.test"

# aiosmtpd narrates every SMTP command at INFO; httpx logs every URL, sign-in tokens included.
logging.getLogger("mail.log").setLevel(logging.WARNING)
logging.getLogger("httpx").setLevel(logging.WARNING)

# The servers' ports are chosen now, because Django reads its settings from the environment
# before any test runs; the servers start in pytest_configure, in the processes that run tests.
redis_server = RedisServer()
postgres_server = PostgresServer()
smtp_server = SmtpServer()
# Every gunicorn and worker the suite starts checks its own logs for these when it stops.
AppServer.issued_tokens = smtp_server.mailbox.issued_tokens

os.environ.update(
    {
        "SECRET_KEY": TEST_SECRET_KEY,
        "SITE_URL": TEST_SITE_URL,
        "DATABASE_URL": postgres_server.url,
        "REDIS_URL": redis_server.url,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_server.port),
        "EMAIL_USE_TLS": "0",
        "EMAIL_TIMEOUT": "3",
    }
)
os.environ.pop("DEBUG", None)
# Playwright's sync API keeps an event loop on the main thread; Django would then refuse the
# database work that tests do between browser steps.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

# Set by pytest-xdist's controller for its workers: the static files are collected already.
COLLECTED = "LATCHKEY_TEST_STATIC_FILES_COLLECTED"
collecting_static_files: subprocess.Popen | None = None


def collect_static_files() -> subprocess.Popen:
    """Pages link to whitenoise's hashed files (DEBUG is off, as in production), so the manifest
    must exist before the first page renders."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_static_files() -> None:
    if collecting_static_files is not None:
        output, _ = collecting_static_files.communicate(timeout=120)
        assert collecting_static_files.returncode == 0, output


def pytest_configure(config) -> None:
    global collecting_static_files
    if config.getoption("numprocesses", None) and not hasattr(config, "workerinput"):
        # pytest-xdist's controller runs no test and needs no server. It collects the static
        # files once, before its workers start, instead of each worker writing the same folder.
        collecting_static_files = collect_static_files()
        wait_for_static_files()
        os.environ[COLLECTED] = "1"
        return
    # Redis and the SMTP server start in a few milliseconds. PostgreSQL takes over a second to
    # create and start: the first test that needs a database starts it (tests/conftest.py). The
    # static files take as long to collect: on the other core, while pytest collects, and the
    # first page rendered waits for them.
    redis_server.start()
    smtp_server.start()
    if not os.environ.get(COLLECTED):
        collecting_static_files = collect_static_files()


def pytest_unconfigure(config) -> None:
    if collecting_static_files is not None and collecting_static_files.poll() is None:
        collecting_static_files.kill()
        collecting_static_files.wait()
    smtp_server.stop()
    postgres_server.stop()
    redis_server.stop()
    remove_scratch()

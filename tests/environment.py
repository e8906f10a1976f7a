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

redis_server = RedisServer().start()
# PostgreSQL takes over a second to create and start: it does so while pytest collects, and the
# first test that needs a database waits for it (tests/conftest.py).
postgres_server = PostgresServer().start_in_background()
smtp_server = SmtpServer().start()
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

# Pages link to whitenoise's hashed files (DEBUG is off, as in production), so the manifest must
# exist before the first page renders. Collected on the other core while pytest collects; the
# suite's first test waits for it (tests/conftest.py).
collecting_static_files = subprocess.Popen(
    [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
    cwd=ROOT,
    env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
)


def pytest_unconfigure(config) -> None:
    collecting_static_files.kill()
    collecting_static_files.wait()
    smtp_server.stop()
    postgres_server.stop()
    redis_server.stop()
    remove_scratch()

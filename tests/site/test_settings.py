"""Configuration from the environment: safe defaults, clear refusals, production that passes."""

import functools
import importlib
import os
import runpy
import subprocess
import sys

import pytest
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.core.exceptions import ImproperlyConfigured

from harness.servers import ROOT

PRODUCTION = {
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnopq",
    "SITE_URL": "https://login.example.com",
    "DATABASE_URL": "postgres://app:secret@db.internal:5432/app",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "EMAIL_HOST": "smtp.example.com",
    "EMAIL_HOST_USER": "apikey",
    "EMAIL_HOST_PASSWORD": "smtp-secret",
}
VARIABLES = {
    "SECRET_KEY", "SITE_URL", "DATABASE_URL", "REDIS_URL", "EMAIL_HOST", "EMAIL_PORT",
    "EMAIL_USE_TLS", "EMAIL_TIMEOUT", "DEBUG", "DJANGO_SETTINGS_MODULE", "SECRET_KEY_FALLBACKS",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
}  # fmt: skip


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if key not in VARIABLES}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def setting(name: str, **env: str) -> str:
    """A setting as config/settings.py computes it from exactly this environment."""
    return str(eval(name, {}, settings_under(tuple(sorted(env.items())))))  # noqa: S307


@functools.cache
def settings_under(env: tuple[tuple[str, str], ...]) -> dict:
    # The module reads the environment once, at its top: running it again here under another
    # environment is what a fresh process would see, without a third of a second to start one.
    clean = {key: value for key, value in os.environ.items() if key not in VARIABLES}
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update({**clean, **dict(env)})
    try:
        return runpy.run_path(str(ROOT / "config" / "settings.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_production_settings_pass_djangos_deployment_checklist():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_a_secret_key_start_up_stops_with_a_sentence_saying_what_to_set():
    env = {key: value for key, value in PRODUCTION.items() if key != "SECRET_KEY"}

    result = run(["manage.py", "check"], **env)

    assert result.returncode != 0
    assert "SECRET_KEY is not set. Set SECRET_KEY to a long random string" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SITE_URL", "login.example.com", "SITE_URL must be an origin"),
        ("LOGIN_LINK_MAX_AGE", "ten minutes", "LOGIN_LINK_MAX_AGE must be a whole number"),
        ("RATE_LIMIT_PER_ADDRESS", "lots", "RATE_LIMIT_PER_ADDRESS must look like 3/15m"),
        ("SIGNUP_POLICY", "invite-only", "SIGNUP_POLICY must be open or closed"),
        ("DEBUG", "maybe", "DEBUG must be true or false"),
    ],
)
def test_a_mistyped_variable_is_refused_with_a_clear_sentence(name, value, message):
    # How a refusal reaches the person starting the app is the test above; here, each sentence.
    with pytest.raises(ImproperlyConfigured, match=message):
        settings_under(tuple(sorted({**PRODUCTION, name: value}.items())))


def keeps_sessions_in_the_database(engine: str) -> bool:
    return issubclass(importlib.import_module(engine).SessionStore, DatabaseSessionStore)


def test_embedded_defaults_need_no_server():
    assert setting("DATABASES['default']['ENGINE']", DEBUG="1") == "django.db.backends.sqlite3"
    assert "LocMemCache" in setting("CACHES['default']['BACKEND']", DEBUG="1")
    assert keeps_sessions_in_the_database(setting("SESSION_ENGINE", DEBUG="1"))
    assert "console" in setting("MAILERS['default']['BACKEND']", DEBUG="1")
    # The email is sent inside the request: no worker to run on a laptop.
    assert "ImmediateBackend" in setting("TASKS['default']['BACKEND']", DEBUG="1")


def test_production_queues_mail_for_the_web_processes_courier_with_no_variable_to_set():
    backend = setting("TASKS['default']['BACKEND']", **PRODUCTION)
    assert backend == "accounts.mail.courier.AfterCommitBackend"


def test_production_settings_follow_from_the_variables_set():
    # What each variable becomes (constants are tested by what they do: the __Host- cookies in
    # tests/sessions/test_sessions.py, the database's deadlines in tests/site/test_faults.py).
    assert "django_redis" in setting("CACHES['default']['BACKEND']", **PRODUCTION)
    assert keeps_sessions_in_the_database(setting("SESSION_ENGINE", **PRODUCTION))
    assert "statement_timeout=2000" in setting("DATABASES['default']['OPTIONS']", **PRODUCTION)
    timeout = setting("DATABASES['default']['OPTIONS']", **PRODUCTION, DATABASE_TIMEOUT="5")
    assert "statement_timeout=5000" in timeout
    assert setting("CSRF_TRUSTED_ORIGINS", **PRODUCTION) == "['https://login.example.com']"
    assert setting("ALLOWED_HOSTS", **PRODUCTION) == "['login.example.com']"


def test_links_live_as_long_as_the_operator_says():
    assert setting("SESAME_MAX_AGE", **PRODUCTION) == "600"
    assert setting("SESAME_MAX_AGE", **PRODUCTION, LOGIN_LINK_MAX_AGE="300") == "300"


def test_old_secret_keys_can_be_kept_while_a_rotation_settles():
    fallbacks = setting("SECRET_KEY_FALLBACKS", **PRODUCTION, SECRET_KEY_FALLBACKS="old-1, old-2")
    assert fallbacks == "['old-1', 'old-2']"
    assert setting("SECRET_KEY_FALLBACKS", **PRODUCTION) == "[]"


def test_a_mail_provider_is_chosen_from_the_environment_with_tracking_off():
    provider = {"EMAIL_PROVIDER": "postmark", "ANYMAIL_POSTMARK_SERVER_TOKEN": "pm-token"}

    backend = setting("MAILERS['default']['BACKEND']", **PRODUCTION, **provider)
    anymail = setting("ANYMAIL", **PRODUCTION, **provider)

    assert backend == "anymail.backends.postmark.EmailBackend"
    assert "'POSTMARK_SERVER_TOKEN': 'pm-token'" in anymail
    assert "'track_clicks': False" in anymail and "'track_opens': False" in anymail
    assert setting("MAILERS['default']['BACKEND']", **PRODUCTION).endswith("smtp.EmailBackend")

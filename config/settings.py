"""Settings for Latchkey.

Everything that differs between a laptop and production is read from the environment here, once,
with its default in plain sight. The README's configuration table lists the same names.
"""

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import idna
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false (1/0, yes/no), not {value!r}.")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None


def env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def env_rate(name: str, default: str) -> str:
    # "3/15m" is three per fifteen minutes (accounts/limits.py reads it).
    value = os.environ.get(name, "").strip() or default
    if not re.fullmatch(r"[1-9]\d*/\d*[smhd]", value):
        raise ImproperlyConfigured(f"{name} must look like 3/15m (count/period), not {value!r}.")
    return value


# --- The environment ---------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
# Old keys, newest first, still accepted for sessions and links while a rotation settles.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")
SITE_URL = os.environ.get("SITE_URL", "http://localhost:8000").rstrip("/")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
REDIS_URL = os.environ.get("REDIS_URL", "")

# Django 6.1 configures mail through MAILERS; the variables keep Django's familiar names.
email_host = os.environ.get("EMAIL_HOST", "")
email_port = env_int("EMAIL_PORT", 587)
email_host_user = os.environ.get("EMAIL_HOST_USER", "")
email_host_password = os.environ.get("EMAIL_HOST_PASSWORD", "")
email_use_tls = env_bool("EMAIL_USE_TLS", True)
email_use_ssl = env_bool("EMAIL_USE_SSL", False)
email_timeout = env_int("EMAIL_TIMEOUT", 10)
# A transactional provider instead of SMTP: "postmark", "amazon_ses", "mailgun", "resend", … (any
# django-anymail backend). Its own settings come from ANYMAIL_* variables, named as in anymail's
# documentation without the prefix: ANYMAIL_POSTMARK_SERVER_TOKEN, ANYMAIL_WEBHOOK_SECRET, …
email_provider = os.environ.get("EMAIL_PROVIDER", "").strip().lower()
if email_provider and not re.fullmatch(r"[a-z_]+", email_provider):
    raise ImproperlyConfigured(
        f"EMAIL_PROVIDER must name an anymail backend, such as postmark, not {email_provider!r}."
    )
anymail_settings = {
    name.removeprefix("ANYMAIL_"): value
    for name, value in os.environ.items()
    if name.startswith("ANYMAIL_")
}

SITE_NAME = os.environ.get("SITE_NAME", "").strip() or "Latchkey"
LOGIN_LINK_MAX_AGE = env_int("LOGIN_LINK_MAX_AGE", 600)
# Wrong tries at one emailed code before it dies (ASVS 5.0 V6.6: limit guesses at OOB codes).
LOGIN_CODE_MAX_ATTEMPTS = env_int("LOGIN_CODE_MAX_ATTEMPTS", 5)
RATE_LIMIT_PER_ADDRESS = env_rate("RATE_LIMIT_PER_ADDRESS", "3/15m")
# Emails sent for one network: an IPv4 address, or an IPv6 /RATE_LIMIT_IPV6_PREFIX (every IPv6
# customer holds at least a /64), and a wider /48 at RATE_LIMIT_PER_WIDE_NETWORK. Only sends count.
RATE_LIMIT_PER_IP = env_rate("RATE_LIMIT_PER_IP", "30/15m")
RATE_LIMIT_IPV6_PREFIX = env_int("RATE_LIMIT_IPV6_PREFIX", 64)
RATE_LIMIT_PER_WIDE_NETWORK = env_rate("RATE_LIMIT_PER_WIDE_NETWORK", "120/15m")
# Every submission of the sign-in form, sent or not (empty, mistyped, "did you mean?"): a
# generous cap against form spam, apart from the allowance of emails.
# Above twice the hard cap (ten times RATE_LIMIT_PER_IP): a proven send posts the form twice.
RATE_LIMIT_FORMS_PER_IP = env_rate("RATE_LIMIT_FORMS_PER_IP", "1000/15m")
# Emails to one mailbox however it is tagged (alice+1@, alice+2@ reach one inbox).
RATE_LIMIT_PER_MAILBOX = env_rate("RATE_LIMIT_PER_MAILBOX", "6/15m")
# Emails the whole site sends: past half, every request proves some work; past all, only
# addresses with an account get mail (accounts/signin/front_door.py).
RATE_LIMIT_SITE = env_rate("RATE_LIMIT_SITE", "2000/1h")
# The proof of work past an allowance (ALTCHA, SHA-256): the answer is a counter below
# PROOF_OF_WORK_MAX_NUMBER, each try PROOF_OF_WORK_COST hashes. Measured in docs/benchmarks.md.
PROOF_OF_WORK_MAX_NUMBER = env_int("PROOF_OF_WORK_MAX_NUMBER", 100_000)
PROOF_OF_WORK_COST = env_int("PROOF_OF_WORK_COST", 1)
# Wrong codes for one address, whichever browser asked: caps guessing across many emails.
RATE_LIMIT_CODE_FAILURES_PER_ADDRESS = env_rate("RATE_LIMIT_CODE_FAILURES_PER_ADDRESS", "10/1d")
SIGNUP_POLICY = os.environ.get("SIGNUP_POLICY", "open").strip().lower()
# Off: an address with no account (signup closed or another domain) gets no email at all. The page
# still answers as for everyone; the time it takes may differ (docs/security.md).
NO_ACCOUNT_EMAIL = env_bool("NO_ACCOUNT_EMAIL", True)
# Compared with the ASCII form of an address's domain (accounts/signin/addresses.py), so
# "faß.de" works.
SIGNUP_EMAIL_DOMAINS = [
    idna.encode(domain, uts46=True).decode() for domain in env_list("SIGNUP_EMAIL_DOMAINS")
]
TRUSTED_PROXY_HEADER = os.environ.get("TRUSTED_PROXY_HEADER", "").strip()
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 60 * 60 * 24)
SESSION_MAX_AGE = env_int("SESSION_MAX_AGE", 60 * 60 * 24 * 14)
SESSION_PRUNE_INTERVAL = env_int("SESSION_PRUNE_INTERVAL", 60 * 60)
# Adding, removing or replacing a way in (a passkey, the address, the account itself) needs a
# sign-in this recent (accounts/pages.py).
RECENT_SIGN_IN_SECONDS = env_int("RECENT_SIGN_IN_SECONDS", 10 * 60)
# For this many days the inbox that held an account can undo a change of address and restore a
# deleted account; a deleted account is erased after it (accounts/account/address_change.py,
# accounts/account/deletion.py).
ACCOUNT_UNDO_DAYS = env_int("ACCOUNT_UNDO_DAYS", 7)
# The admin opens only to a session that signed in with a passkey (accounts/passkeys/ceremony.py).
STAFF_REQUIRE_PASSKEY = env_bool("STAFF_REQUIRE_PASSKEY", False)
# Each web process looks for mail no process got to (it died, it was stopped) this often, and
# when it starts (accounts/mail/courier.py). Mail its own requests queue leaves at once.
MAIL_SWEEP_SECONDS = env_int("MAIL_SWEEP_SECONDS", 60)
# Sign-in events (accounts/records/audit.py) older than this are deleted.
EVENT_RETENTION_DAYS = env_int("EVENT_RETENTION_DAYS", 90)
# Seconds a query, or a connection attempt, may take before the request gives up with a 503.
# 0 lifts the limit: the release command does, so long migrations can finish.
DATABASE_TIMEOUT = env_int("DATABASE_TIMEOUT", 2)

# --- Checks on the environment -----------------------------------------------------------------

if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY to a long random string "
            '(python -c "import secrets; print(secrets.token_urlsafe(50))"), '
            "or set DEBUG=1 on a development machine."
        )
    SECRET_KEY = "django-insecure-development-only-key"  # noqa: S105 - DEBUG only

site = urlsplit(SITE_URL)
if site.scheme not in {"http", "https"} or not site.hostname or site.path not in {"", "/"}:
    raise ImproperlyConfigured(
        f"SITE_URL must be an origin such as https://login.example.com, not {SITE_URL!r}."
    )
if SIGNUP_POLICY not in {"open", "closed"}:
    raise ImproperlyConfigured(f"SIGNUP_POLICY must be open or closed, not {SIGNUP_POLICY!r}.")
if not 32 <= RATE_LIMIT_IPV6_PREFIX <= 128:
    raise ImproperlyConfigured(
        f"RATE_LIMIT_IPV6_PREFIX must be a prefix length from 32 to 128 (64 counts an IPv6 "
        f"customer's /64 as one network), not {RATE_LIMIT_IPV6_PREFIX}."
    )

SITE_HOST = site.hostname
SITE_ORIGIN = f"{site.scheme}://{site.netloc}"
# Passkeys belong to the site's host name and are only used from its origin. A browser refuses
# an IP address as the relying party, so a development passkey needs http://localhost.
PASSKEY_RP_ID = SITE_HOST
PASSKEY_ORIGIN = SITE_ORIGIN
ALLOWED_HOSTS = ALLOWED_HOSTS or [SITE_HOST]
if DEBUG:
    ALLOWED_HOSTS += ["localhost", "127.0.0.1", "[::1]"]
CSRF_TRUSTED_ORIGINS = [SITE_ORIGIN]
# A display name tells people who wrote before they open the email.
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", f"{SITE_NAME} <sign-in@{SITE_HOST}>")

# --- Applications ------------------------------------------------------------------------------

INSTALLED_APPS = [
    # Django
    # Django's admin, which also asks for a passkey when STAFF_REQUIRE_PASSKEY is on.
    "accounts.apps.LatchkeyAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Third-party
    "anymail",
    "django_tasks_db",
    # Ours
    "accounts",
]

MIDDLEWARE = [
    "config.health.health_check_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "accounts.pages.private_pages_middleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "accounts.zones.time_zone_middleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.sessions.lifetime.session_lifetime_middleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.pages.site",
            ],
        },
    },
]

# --- Data --------------------------------------------------------------------------------------

DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=600, conn_health_checks=True)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database that does not answer, or answers slowly, must fail a request within a few
    # seconds, not hang a worker: see config/postgres/base.py for the frozen-server case.
    DATABASES["default"]["ENGINE"] = "config.postgres"
    limits = {
        # TCP keepalives and tcp_user_timeout notice a database host that vanished.
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": 30_000,
    }
    if DATABASE_TIMEOUT:
        limits["connect_timeout"] = max(2, DATABASE_TIMEOUT)  # libpq's minimum is 2 s
        # The server ends a slow statement itself, and a transaction left open by a stuck
        # worker, so neither holds locks for long.
        limits["options"] = (
            f"-c statement_timeout={DATABASE_TIMEOUT * 1000} "
            f"-c idle_in_transaction_session_timeout={DATABASE_TIMEOUT * 5000}"
        )
    DATABASES["default"]["OPTIONS"] = {**limits, **DATABASES["default"].get("OPTIONS", {})}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several gunicorn threads share one file: wait for the lock instead of failing, and take
    # the write lock at the start of a transaction so that it cannot deadlock halfway through.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    # Short timeouts: when Redis is gone, a page says so within a second instead of hanging.
    redis_options = {
        "SOCKET_CONNECT_TIMEOUT": 0.5,
        "SOCKET_TIMEOUT": 0.5,
    }
    CACHES = {
        # Rate limits live here; an error must surface, because limits we cannot check mean
        # we send nothing.
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": redis_options,
        },
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Sessions live in the database only. A Redis copy in front (cached_db) outlived its row when
# sign-out met a Redis blip, and the old cookie worked again; a session read by primary key
# costs about what the Redis round trip did, and signed-in people never depend on Redis.
SESSION_ENGINE = "accounts.sessions.store"

# --- Sign-in -----------------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
# Passwordless: a signed link is the only way in, so Django's password backend is not listed.
AUTHENTICATION_BACKENDS = ["sesame.backends.ModelBackend"]
LOGIN_URL = "sign_in"
# A CSRF failure is most often a form left open while another tab signed in: see the view.
CSRF_FAILURE_VIEW = "accounts.pages.csrf_failure"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "sign_in"

# ASVS 5.0 V6.6.3: out-of-band codes live at most 10 minutes and work once.
SESAME_MAX_AGE = LOGIN_LINK_MAX_AGE
SESAME_ONE_TIME = True
SESAME_TOKENS = ["sesame.tokens_v2"]
SESAME_SIGNATURE_SIZE = 16
# A link mailed to an old address must not work once the address changes.
SESAME_INVALIDATE_ON_EMAIL_CHANGE = True

# ASVS 5.0 V7.3: an idle timeout and an absolute lifetime, both enforced on the server
# (accounts/sessions/lifetime.py); the cookie and the stored session expire with the latter.
SESSION_COOKIE_AGE = SESSION_MAX_AGE

# --- Email -------------------------------------------------------------------------------------

# Sign-in mail is never tracked: click tracking rewrites the link through the provider's
# domain (which then sees the token), and open tracking adds a pixel nobody asked for.
ANYMAIL = {**anymail_settings, "SEND_DEFAULTS": {"track_clicks": False, "track_opens": False}}
if email_provider:
    MAILERS = {"default": {"BACKEND": f"anymail.backends.{email_provider}.EmailBackend"}}
elif email_host:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": email_host,
                "port": email_port,
                "username": email_host_user or None,
                "password": email_host_password or None,
                "use_tls": email_use_tls and not email_use_ssl,
                "use_ssl": email_use_ssl,
                # A stalled mail server must not hold a worker for long.
                "timeout": email_timeout,
            },
        }
    }
else:
    # Development: the email, link included, is printed where runserver prints.
    MAILERS = {"default": {"BACKEND": "accounts.mail.console.ReadableConsoleBackend"}}

# --- Background tasks --------------------------------------------------------------------------

# Mail leaves the request: a sign-in email's own row (accounts/mail/delivery.py), or account
# mail's task in django-tasks-db's table (owed.py), in the same PostgreSQL, committed with the
# request's own writes; each web process's courier sends it as soon as that commit is done, with
# a sweep once a minute for what no process got to (accounts/mail/courier.py). No worker machine.
# With DEBUG on every email is sent inside the request, so `scripts/run` needs nothing more.
TASKS = {
    "default": {
        "BACKEND": "django.tasks.backends.immediate.ImmediateBackend"
        if DEBUG
        else "accounts.mail.courier.AfterCommitBackend"
    }
}

# --- Security headers and cookies --------------------------------------------------------------

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
CSRF_COOKIE_HTTPONLY = True
# The language a person chose (accounts/languages.py), for a year; no script needs to read it.
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_AGE = 60 * 60 * 24 * 365

if not DEBUG:
    # fly.io's proxy terminates TLS and sets X-Forwarded-Proto; never expose gunicorn directly.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # __Host- cookies are Secure, host-only and path=/ by the browser's own rules.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    CSRF_COOKIE_SECURE = True
    LOGIN_LINK_COOKIE_NAME = "__Host-sign-in-link"
    LOGIN_BROWSER_COOKIE_NAME = "__Host-sign-in-browser"
    ADDRESS_LINK_COOKIE_NAME = "__Host-address-link"
    DEVICE_COOKIE_NAME = "__Host-device"
    PASSKEY_COOKIE_NAME = "__Host-passkey-challenge"
    LANGUAGE_COOKIE_NAME = "__Host-language"
    LANGUAGE_COOKIE_SECURE = True
else:
    LOGIN_LINK_COOKIE_NAME = "sign-in-link"
    LOGIN_BROWSER_COOKIE_NAME = "sign-in-browser"
    ADDRESS_LINK_COOKIE_NAME = "address-link"
    DEVICE_COOKIE_NAME = "device"
    PASSKEY_COOKIE_NAME = "passkey-challenge"

# --- Static files, language, time --------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Pages link only to hashed names ({% static %} through the manifest): the unhashed copies would
# be half the files each process indexes at start and holds in memory, served to no one.
WHITENOISE_KEEP_ONLY_HASHED_FILES = True

# Pages and emails speak the reader's language: the one they chose (set_language's cookie), or
# else their browser's Accept-Language, or else English. Each language is named in itself, as
# its reader looks for it. Our catalogues are in locale/ (scripts/messages remakes them).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["config.formats"]
USE_I18N = True
# Times are stored in UTC and shown in the reader's zone when their browser has told us it
# (accounts/zones.py); in UTC, named, when it has not.
TIME_ZONE = "UTC"
USE_TZ = True

# --- Error reports ----------------------------------------------------------------------------

# Whatever reporter an operator adds (AdminEmailHandler, the DEBUG page): no token, code or
# sign-in cookie in it (config/error_reports.py).
DEFAULT_EXCEPTION_REPORTER = "config.error_reports.SecretFreeExceptionReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "config.error_reports.SecretFreeReporterFilter"

# --- Logs --------------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {
        "redact_query_strings": {"()": "config.log_redaction.RedactQueryStrings"},
        "traceback_as_text": {"()": "config.log_redaction.TracebackAsText"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "line",
            "filters": ["redact_query_strings"],
        },
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        # Our own events are the record of what happened; django.request repeats 4xx noise.
        "django.request": {"level": "ERROR"},
        # Two lines per task (started, finished) restate our own events (email_sent, …); a task
        # that fails is still logged, as text: its frames hold the email's link and code.
        "django.tasks": {"level": "WARNING", "filters": ["traceback_as_text"]},
        "django.tasks.backends.immediate": {"filters": ["traceback_as_text"]},
        "django_tasks_db": {"filters": ["traceback_as_text"]},
        # Ours too: the courier's defects happen outside any request, frames holding the email.
        "accounts": {"filters": ["traceback_as_text"]},
        # django-sesame's debug lines name the user in clear; our events mask the address.
        "sesame": {"level": "INFO"},
    },
}

"""django-allauth's login by code, as a careful team would deploy it: the benchmark's reference.

`scripts/bench` runs it on the same stack as Latchkey (gunicorn with config/gunicorn.py and its
worker class, PostgreSQL, Redis, the same SMTP server over STARTTLS), so that Latchkey's costs
are stated as ratios to it, which a noisy machine does not move. Not part of the product: a
development dependency only. Its mail is sent inside the request, as allauth does.
"""

import os

import dj_database_url

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
CSRF_TRUSTED_ORIGINS = [os.environ["SITE_URL"]]
# Behind fly's proxy, as Latchkey is: HTTPS is said by X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "allauth",
    "allauth.account",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]
ROOT_URLCONF = "bench.allauth_reference.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
AUTHENTICATION_BACKENDS = ["allauth.account.auth_backends.AuthenticationBackend"]
# Sessions in the database, as Latchkey keeps them; the cache in the same Redis.
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=600)}
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": os.environ["REDIS_URL"],
    }
}
MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": os.environ["EMAIL_HOST"],
            "port": int(os.environ["EMAIL_PORT"]),
            # STARTTLS, as Latchkey's mail goes; REFERENCE_PLAIN_SMTP=1 for the run without it
            # (allauth's backend builds a TLS context per email: see docs/benchmarks.md).
            "use_tls": not os.environ.get("REFERENCE_PLAIN_SMTP"),
            "timeout": 10,
        },
    }
}
DEFAULT_FROM_EMAIL = "Reference <sign-in@bench.example.test>"
USE_TZ = True
LOGIN_REDIRECT_URL = "/hello/"

# Login by code, by email address only, every account's address taken as proven by the code.
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
# Off: the run asks hundreds of codes a second from one address. Latchkey's limits stay on
# (raised, not removed), so this favours the reference: the ratios err against Latchkey.
ACCOUNT_RATE_LIMITS = False

"""The app's own settings plus Django's password login, for comparison in the benchmark only."""

from config.settings import *  # noqa: F403
from config.settings import AUTHENTICATION_BACKENDS, BASE_DIR, TEMPLATES

ROOT_URLCONF = "bench.urls"
AUTHENTICATION_BACKENDS = [*AUTHENTICATION_BACKENDS, "django.contrib.auth.backends.ModelBackend"]
TEMPLATES[0]["DIRS"] = [*TEMPLATES[0]["DIRS"], BASE_DIR / "bench" / "templates"]

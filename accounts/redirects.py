from django.conf import settings
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next_url(value: str | None) -> str:
    """The ?next= target if it stays on this site, else an empty string.

    Django's own check refuses other hosts, //evil.example, /\\evil.example and javascript: URLs.
    """
    if value and url_has_allowed_host_and_scheme(
        value,
        allowed_hosts={settings.SITE_HOST},
        require_https=settings.SITE_URL.startswith("https://"),
    ):
        return value
    return ""

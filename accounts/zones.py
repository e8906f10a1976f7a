"""The reader's time zone: reported once by their browser, checked, and used for every time shown.

static/js/zone.js writes `Intl.DateTimeFormat().resolvedOptions().timeZone` into the ZONE_COOKIE
cookie when it is missing or out of date (a laptop that travelled). No request is spent on it:
the next page arrives with it. A name zoneinfo does not know is ignored, so a forged cookie can
only choose among real zones. Without one, times are shown in UTC with the zone named.
"""

from collections.abc import Callable
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

ZONE_COOKIE = "zone"


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone_named(name: str | None) -> ZoneInfo | None:
    """The zone with this IANA name, or None for an empty or unknown one."""
    if not name or len(name) > 64 or name not in _known_zones():
        return None
    return ZoneInfo(name)


def known_zone() -> str:
    """The reader's zone, which time_zone_middleware activated from their browser's report
    (or a notice's sender from the account's); "" while none is known."""
    name = timezone.get_current_timezone_name()
    return "" if name == "UTC" else name


def time_zone_middleware(get_response: Callable[[HttpRequest], HttpResponse]):
    def middleware(request: HttpRequest) -> HttpResponse:
        zone = zone_named(request.COOKIES.get(ZONE_COOKIE))
        if zone is None:
            timezone.deactivate()
            return get_response(request)
        timezone.activate(zone)
        try:
            return get_response(request)
        finally:
            timezone.deactivate()

    return middleware

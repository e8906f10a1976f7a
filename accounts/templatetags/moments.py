"""Times as a person reads them: in their language's format and their zone (accounts/zones.py).

On a page each time is a <time datetime> element, so a machine (or a screen reader) has the
exact instant; its text is in the reader's zone when their browser told us it, and in UTC with
the zone named when it has not. An email gives the date alone unless we know the reader's zone:
a bare UTC clock time makes most of the world convert in their head.
"""

from datetime import UTC, datetime

from django import template
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.zones import known_zone

register = template.Library()


@register.simple_tag
def moment(value: datetime | None, part: str = "datetime") -> SafeString | str:
    """`{% moment when %}`, or `{% moment when "time" %}` for the clock time alone."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    text = formats.date_format(local, "TIME_FORMAT" if part == "time" else "DATETIME_FORMAT")
    if not known_zone():
        text = f"{text} UTC"
    return format_html(
        '<time datetime="{}">{}</time>', value.astimezone(UTC).isoformat(timespec="seconds"), text
    )


@register.filter
def email_moment(value: datetime | None) -> str:
    """The date, and the time with its offset from UTC when the reader's zone is known."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    if not known_zone():
        return formats.date_format(local, "DATE_FORMAT")
    # The offset, not the zone's abbreviation: "CET" is English ("MEZ" in German), "+01:00" is
    # read the same in every language.
    return f"{formats.date_format(local, 'DATETIME_FORMAT')} (UTC{_offset(local)})"


def _offset(local: datetime) -> str:
    minutes = int(local.utcoffset().total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours}:{minutes:02d}" if minutes else f"{sign}{hours}"

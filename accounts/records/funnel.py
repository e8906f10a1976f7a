"""The operator's funnel: asked -> delivered -> signed in, for the last day and the last week.

It reads two records the app keeps anyway. A SignInEmail row per request for an email (kept
eight days; a day after asking it keeps only its domain, outcome and times: see
accounts/sessions/pruning.py) says what was asked, delivered, bounced and complained of; a
SIGNED_IN SignInEvent per sign-in says how (link, code, passkey), at which domain, and how long
after asking. Each is read with one grouped query per window:

- emails: `requested_at >= since`, grouped by domain and outcome. The table holds eight days, so
  a week's query reads most of it, and PostgreSQL scans it once (a million rows: about a
  second); a day's uses the `signinemail_requested_at` index.
- sign-ins: `kind = 'signed_in' AND at >= since`, grouped by domain and method, over the
  `signinevent_kind_at` index: the ninety days of every other event are never read.

Times are UTC days, as the operator's other dashboards are.
"""

import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import SignInEmail, SignInEvent

Status = SignInEmail.Status
SIGNED_IN = SignInEvent.Kind.SIGNED_IN
METHODS = ("link", "code", "passkey")
BY_EMAIL = ("link", "code")
TOP_DOMAINS = 10


@dataclass
class Counts:
    asked: int = 0
    delivered: int = 0
    failed: int = 0
    # No account (NO_ACCOUNT_EMAIL off), a suppressed address, the site's budget spent.
    not_sent: int = 0
    bounced: int = 0
    complained: int = 0
    signed_in: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METHODS, 0))

    @property
    def by_email(self) -> int:
        """Sign-ins by link or code: the funnel's last step (a passkey asks for no email)."""
        return sum(self.signed_in[method] for method in BY_EMAIL)

    @property
    def bounce_rate(self) -> float | None:
        return percent(self.bounced, self.delivered)

    @property
    def complaint_rate(self) -> float | None:
        return percent(self.complained, self.delivered)

    @property
    def completion(self) -> float | None:
        """Sign-ins by email per email asked for (a person who asked twice asked two)."""
        return percent(self.by_email, self.asked)


def percent(part: int, whole: int) -> float | None:
    """A percentage, or None when there is nothing to divide by."""
    return 100 * part / whole if whole else None


@dataclass
class Window:
    name: str
    since: datetime
    total: Counts
    domains: list[tuple[str, Counts]]
    median_seconds: float | None
    # How many sign-ins the median is over: only those whose browser asked have a wait.
    timed: int


@dataclass
class Day:
    day: str
    asked: int
    delivered: int
    signed_in: int


def funnel(now: datetime | None = None) -> list[Window]:
    """The last day and the last week."""
    now = now or timezone.now()
    return [window("day", now - timedelta(days=1)), window("week", now - timedelta(days=7))]


def window(name: str, since: datetime) -> Window:
    by_domain: dict[str, Counts] = {}
    total = Counts()
    emails = (
        SignInEmail.objects.filter(requested_at__gte=since)
        .values("domain")
        .annotate(
            asked=Count("pk"),
            delivered=Count("pk", filter=Q(status=Status.SENT)),
            failed=Count("pk", filter=Q(status=Status.FAILED)),
            not_sent=Count("pk", filter=Q(status=Status.NOT_SENT)),
            bounced=Count("pk", filter=Q(feedback="bounced")),
            complained=Count("pk", filter=Q(feedback="complained")),
        )
    )
    for row in emails:
        counts = by_domain.setdefault(row.pop("domain"), Counts())
        for key, value in row.items():
            setattr(counts, key, value)
            setattr(total, key, getattr(total, key) + value)
    sign_ins = (
        SignInEvent.objects.filter(kind=SIGNED_IN, at__gte=since)
        .values("domain", "detail")
        .annotate(count=Count("pk"))
    )
    for row in sign_ins:
        if row["detail"] in METHODS:
            counts = by_domain.setdefault(row["domain"], Counts())
            counts.signed_in[row["detail"]] += row["count"]
            total.signed_in[row["detail"]] += row["count"]
    top = sorted(by_domain.items(), key=lambda item: (-item[1].asked, item[0]))[:TOP_DOMAINS]
    return Window(name, since, total, top, *median_wait(since))


class Median(Aggregate):
    """PostgreSQL's exact median, computed where the rows are."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def median_wait(since: datetime) -> tuple[float | None, int]:
    """The median seconds from asking for an email to signing in with it, and over how many
    sign-ins (a link opened on another device has no wait to count)."""
    waits = SignInEvent.objects.filter(
        kind=SIGNED_IN, at__gte=since, detail__in=BY_EMAIL, seconds__isnull=False
    )
    if connection.vendor == "postgresql":
        seen = waits.aggregate(median=Median("seconds"), timed=Count("pk"))
        return seen["median"], seen["timed"]
    # SQLite (development): few rows, read them.
    seconds = list(waits.values_list("seconds", flat=True))
    return (statistics.median(seconds) if seconds else None), len(seconds)


def days(now: datetime | None = None, count: int = 7) -> list[Day]:
    """Each of the last `count` UTC days, oldest first, for the chart."""
    now = (now or timezone.now()).astimezone(UTC)
    first = (now - timedelta(days=count - 1)).date()
    since = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    emails = {
        row["day"]: row
        for row in SignInEmail.objects.filter(requested_at__gte=since)
        .annotate(day=TruncDate("requested_at", tzinfo=UTC))
        .values("day")
        .annotate(asked=Count("pk"), delivered=Count("pk", filter=Q(status=Status.SENT)))
    }
    sign_ins = dict(
        SignInEvent.objects.filter(kind=SIGNED_IN, at__gte=since, detail__in=BY_EMAIL)
        .annotate(day=TruncDate("at", tzinfo=UTC))
        .values("day")
        .annotate(count=Count("pk"))
        .values_list("day", "count")
    )
    each = [first + timedelta(days=n) for n in range(count)]
    return [
        Day(
            day=day.isoformat(),
            asked=emails.get(day, {}).get("asked", 0),
            delivered=emails.get(day, {}).get("delivered", 0),
            signed_in=sign_ins.get(day, 0),
        )
        for day in each
    ]

"""The funnel's admin page (/admin/funnel/): staff only, drawn on the server, no JavaScript."""

from dataclasses import dataclass

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.mail.suppression import webhooks_open
from accounts.pages import changes_no_way_in
from accounts.records.funnel import Day, days, funnel

# The chart's drawing area, in SVG user units; it scales to the page's width. Below the bars,
# a line of day labels.
WIDTH, HEIGHT, GAP, LABELS = 700, 220, 16, 24
# One bar per step of the funnel, each day. Blue, darker blue and orange: told apart by
# lightness as well as hue (colour-blind readers), each at least 3:1 on the admin's white, and
# outlined in the text's colour for its dark mode.
STEPS = (("asked", "#4292c6"), ("delivered", "#08519c"), ("signed_in", "#d94801"))


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    fill: str
    title: str


@require_GET
@never_cache
@changes_no_way_in
def funnel_page(request: HttpRequest) -> HttpResponse:
    """Staff read it as the rest of the admin (STAFF_REQUIRE_PASSKEY included); a signed-in
    person who is not staff is refused (403), one signed out is sent to sign in."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    if not admin.site.has_permission(request):
        if request.user.is_staff:
            # Staff kept out by STAFF_REQUIRE_PASSKEY: the admin's sign-in page says why.
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        raise PermissionDenied
    week = days()
    context = {
        **admin.site.each_context(request),
        "title": _("Sign-in funnel"),
        "windows": funnel(),
        "days": week,
        "bars": bars(week),
        "legend": legend(),
        "labels": labels(week),
        "chart": {
            "width": WIDTH,
            "height": HEIGHT + LABELS,
            "baseline": HEIGHT,
            "label_y": HEIGHT + LABELS - 6,
            "tallest": _tallest(week),
        },
        # Without the webhook's secret no bounce or complaint is ever heard: no rate to show.
        "feedback_heard": webhooks_open(),
    }
    return render(request, "admin/funnel.html", context)


def _tallest(week: list[Day]) -> int:
    """The chart's top: the largest bar (a day's sign-ins can outnumber its requests)."""
    return max((getattr(day, step) for day in week for step, _fill in STEPS), default=0)


def _names() -> dict[str, str]:
    return {"asked": _("asked"), "delivered": _("delivered"), "signed_in": _("signed in")}


def legend() -> list[tuple[str, str]]:
    names = _names()
    return [(fill, names[step]) for step, fill in STEPS]


def labels(week: list[Day]) -> list[tuple[float, str]]:
    """Each day's label (month-day, "today" for the last), centred under its bars."""
    group = WIDTH / max(len(week), 1)
    last = len(week) - 1
    return [
        (round((n + 0.5) * group, 1), _("today") if n == last else day.day[5:])
        for n, day in enumerate(week)
    ]


def bars(week: list[Day]) -> list[Bar]:
    """Three bars a day (asked, delivered, signed in by email), scaled to the busiest day."""
    names = _names()
    tallest = _tallest(week) or 1
    group = WIDTH / max(len(week), 1)
    width = (group - GAP) / len(STEPS)
    drawn = []
    for n, day in enumerate(week):
        for k, (step, fill) in enumerate(STEPS):
            value = getattr(day, step)
            height = HEIGHT * value / tallest
            drawn.append(
                Bar(
                    x=round(n * group + GAP / 2 + k * width, 1),
                    y=round(HEIGHT - height, 1),
                    width=round(width, 1),
                    height=round(height, 1),
                    fill=fill,
                    title=f"{day.day}: {value} {names[step]}",
                )
            )
    return drawn

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

from accounts.pages import changes_no_way_in
from accounts.records.funnel import Day, days, funnel

# The chart's drawing area, in SVG user units; it scales to the page's width.
WIDTH, HEIGHT, GAP = 700, 220, 12
# One bar per step of the funnel, each day: its colour (light enough for the admin's dark
# mode too) and the name its title gives.
STEPS = (("asked", "#7aa7d6"), ("delivered", "#417690"), ("signed_in", "#2e7d32"))


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
        raise PermissionDenied
    week = days()
    context = {
        **admin.site.each_context(request),
        "title": _("Sign-in funnel"),
        "windows": funnel(),
        "days": week,
        "bars": bars(week),
        "chart": {"width": WIDTH, "height": HEIGHT + 20, "baseline": HEIGHT},
    }
    return render(request, "admin/funnel.html", context)


def bars(week: list[Day]) -> list[Bar]:
    """Three bars a day (asked, delivered, signed in by email), scaled to the busiest day."""
    names = {"asked": _("asked"), "delivered": _("delivered"), "signed_in": _("signed in")}
    tallest = max((day.asked for day in week), default=0) or 1
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

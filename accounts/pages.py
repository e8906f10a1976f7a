"""Shared answers: rate limited, unavailable, a stale form (CSRF), private pages, and the one
rule for every way in.

The one rule for every way in: adding, removing or replacing one needs a fresh sign-in.

A way in is what lets someone sign in as the account: its address, its passkeys, the account
itself. A session is a cookie, and cookies outlive the moment they were earned (a computer left
signed in, a cookie copied off a disk, a session kept for two weeks). If such a session could add
a passkey, it would sign in with that passkey and hold a fresh session: every other check would
then pass. So every view that changes a way in carries `needs_recent_sign_in`, and every other
view says it changes none (`changes_no_way_in`): a test walks the URL patterns and fails on a
view that says neither (tests/account/test_ways_in.py). The inbox can still undo what a fresh
session did, for ACCOUNT_UNDO_DAYS (docs/security.md, "The way back").
"""

import time
from collections.abc import Callable
from functools import wraps
from http import HTTPStatus

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _

from accounts.limits import RateLimited
from accounts.records.log import log_event
from accounts.sessions.lifetime import SIGNED_IN_AT
from accounts.signin.codes import pending_code_issued_at

View = Callable[..., HttpResponse]


def site(request: HttpRequest) -> dict:
    """What every page names (a context processor): the site, as SITE_NAME calls it, and the
    languages it speaks, each in its own words (Django's tag would translate "English")."""
    return {"site_name": settings.SITE_NAME, "languages": settings.LANGUAGES}


def signed_in_recently(request: HttpRequest) -> bool:
    signed_in_at = request.session.get(SIGNED_IN_AT)
    return (
        signed_in_at is not None and time.time() - signed_in_at <= settings.RECENT_SIGN_IN_SECONDS
    )


def needs_recent_sign_in(what: str, back_to: str, *, answers_json: bool = False):
    """Refuse a signed-in session older than RECENT_SIGN_IN_SECONDS with a page that signs in
    again and comes back to the page named `back_to`. `what` names the action for a sentence
    ("Adding a passkey"). Signed-out requests pass: the view's own login check answers them.
    `answers_json`: the browser's script asked, and gets {"error": "sign_in_again"} to act on.
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated or signed_in_recently(request):
                return view(request, *args, **kwargs)
            log_event("sign_in_again_needed", user=request.user.pk, action=back_to)
            if answers_json:
                return JsonResponse({"error": "sign_in_again"}, status=HTTPStatus.FORBIDDEN)
            return sign_in_again(request, what, reverse(back_to))

        checked.changes_a_way_in = True
        return checked

    return decorator


def sign_in_again(request: HttpRequest, what: str, next_url: str) -> HttpResponse:
    """403: `what` needs a fresh sign-in; the page signs in again and comes back to next_url."""
    context = {
        "what": what,
        "next_url": next_url,
        "minutes": max(1, settings.RECENT_SIGN_IN_SECONDS // 60),
    }
    return render(request, "accounts/sign_in_again.html", context, status=HTTPStatus.FORBIDDEN)


def proven_by_the_inbox(view: View) -> View:
    """Said of a view that changes a way in on the strength of an emailed link alone (undo,
    restore): the inbox is the root of trust, and its owner may be signed out everywhere."""
    view.changes_a_way_in = "by the inbox"
    return view


def changes_no_way_in(view: View) -> View:
    """Said of a view that adds, removes and replaces no way in, so the walk of the URL patterns
    knows it was thought about."""
    view.changes_a_way_in = False
    return view


# Pages are personal: an address, a CSRF token, a confirm button. No cache may keep one.
def private_pages_middleware(get_response: Callable[[HttpRequest], HttpResponse]):
    """`Cache-Control: private, no-store` on every response that does not set its own.

    Static files never get here (whitenoise answers them first, with long-lived headers).
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, private=True, no_store=True)
        return response

    return middleware


def rate_limited(request: HttpRequest, limited: RateLimited, address: str = "") -> HttpResponse:
    """429: which limit it was (this address, this network), when it lifts, and the typed address
    kept for then; emails are mentioned only if this browser was sent one."""
    minutes = max(1, -(-limited.retry_after // 60))
    context = {
        "minutes": minutes,
        "scope": limited.scope,
        "address": address,
        "has_code": pending_code_issued_at(request) is not None,
    }
    response = render(
        request, "accounts/rate_limited.html", context, status=HTTPStatus.TOO_MANY_REQUESTS
    )
    response["Retry-After"] = str(limited.retry_after)
    return response


def sending_unavailable(request: HttpRequest, passkey: bool = False) -> HttpResponse:
    """503 while the rate limits cannot be checked; `passkey` when a passkey sign-in met it."""
    response = render(
        request,
        "accounts/unavailable.html",
        {"passkey": passkey},
        status=HTTPStatus.SERVICE_UNAVAILABLE,
    )
    response["Retry-After"] = "30"
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form that can no longer be sent: most often another tab signed in meanwhile."""
    if request.user.is_authenticated:
        messages.info(request, _("You are signed in."))
        return redirect("dashboard")
    return render(request, "403_csrf.html", status=HTTPStatus.FORBIDDEN)

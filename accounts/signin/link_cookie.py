"""A link's token leaves the address bar before any page loads: a 303 into a short cookie."""

import re
import secrets
from http import HTTPStatus
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

# What a token in one of our links can look like: django-sesame's URL-safe base64, or Django's
# signing of a signup or an address change, whose parts are joined with ".". Anything else is no
# token, and must not reach a cookie header (non-Latin-1 text cannot be sent in one at all).
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_.:-]{1,1000}")


def link_cookie() -> dict:
    # No max_age: the cookies end with the browser session, so a link opened but never confirmed
    # on a shared computer does not outlive the browser; the token's own age limits it anyway.
    return {"secure": settings.SESSION_COOKIE_SECURE, "httponly": True, "samesite": "Lax"}


def see_other_keeping_token(to: str, cookie_name: str, token: str) -> HttpResponse:
    """303 to `to`, the token moved from the address bar into a cookie (none if it is no token).

    A page whose URL holds a token must send no Referer, and under "no-referrer" browsers send
    "Origin: null" with the page's form, which Django's CSRF check refuses. So no page that has
    a form ever has a token in its URL: the link's GET lands here first. (The address links and
    the page of an expired or used link once skipped this, and their buttons failed in every
    real browser while the test client, which sends no Origin, passed.)
    """
    response = HttpResponseRedirect(to)
    response.status_code = HTTPStatus.SEE_OTHER
    if TOKEN_SHAPE.fullmatch(token):
        response.set_cookie(cookie_name, token, **link_cookie())
    else:
        response.delete_cookie(cookie_name)
    # This response's URL holds the token: nothing may carry it further.
    response["Referrer-Policy"] = "no-referrer"
    return response


def token_to_cookie(request: HttpRequest, token: str, sealed_next: str) -> HttpResponse:
    """Redirect to /link/ with the token in a cookie: no page ever has it in its URL."""
    query = "?" + urlencode({"next": sealed_next}) if sealed_next else ""
    response = see_other_keeping_token(
        reverse("confirm_link") + query, settings.LOGIN_LINK_COOKIE_NAME, token
    )
    if settings.LOGIN_BROWSER_COOKIE_NAME not in request.COOKIES:
        # Names this browser to a second press of Sign in (login_links.remember_claim).
        browser = secrets.token_urlsafe(16)
        response.set_cookie(settings.LOGIN_BROWSER_COOKIE_NAME, browser, **link_cookie())
    return response


def stash_account_link(request: HttpRequest, parameter: str, to: str) -> HttpResponse:
    """An account link's token (an address change, an undo, a restore, a "not me") out of the
    address bar, into ADDRESS_LINK_COOKIE_NAME, as a sign-in link's is."""
    return see_other_keeping_token(
        to, settings.ADDRESS_LINK_COOKIE_NAME, request.GET[parameter][:1000]
    )


def account_link_token(request: HttpRequest, parameter: str) -> str:
    """The token of an account link: posted by its page's form, or, to show that page, the one
    stashed in the cookie. A POST without one (a code's form) has none, whatever the cookie."""
    if request.method == "POST":
        return request.POST.get(parameter, "")[:1000]
    return request.COOKIES.get(settings.ADDRESS_LINK_COOKIE_NAME, "")[:1000]

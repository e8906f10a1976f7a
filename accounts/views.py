from http import HTTPStatus
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.addresses import display_address
from accounts.client_ip import client_ip
from accounts.events import log_event, mask_address
from accounts.forms import ConfirmLinkForm, LoginLinkForm
from accounts.login_links import (
    EmailNotSent,
    LinkProblem,
    check_login_link,
    claim_login_link,
    find_or_create_user,
    send_login_email,
)
from accounts.rate_limits import (
    LimitsUnavailable,
    RateLimited,
    check_address_limit,
    check_client_limit,
    limits_are_checkable,
)
from accounts.redirects import open_next_url, safe_next_url
from accounts.session_lifetime import start_session_clock
from accounts.session_pruning import prune_expired_sessions_now_and_then

LINK_PROBLEM_STATUS = {
    "invalid": HTTPStatus.BAD_REQUEST,
    "expired": HTTPStatus.GONE,
    "used": HTTPStatus.GONE,
}


@require_http_methods(["GET", "HEAD", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        next_url = safe_next_url(request.GET.get("next"))
        if request.user.is_authenticated:
            return redirect(next_url or "dashboard")
        if not limits_are_checkable():
            return sending_unavailable(request)
        form = LoginLinkForm(initial={"next": next_url})
        return render(request, "accounts/sign_in.html", {"form": form})

    form = LoginLinkForm(request.POST)
    try:
        check_client_limit(request)
        if not form.is_valid():
            return render(
                request, "accounts/sign_in.html", {"form": form}, status=HTTPStatus.BAD_REQUEST
            )
        address = form.cleaned_data["email"]
        next_url = safe_next_url(form.cleaned_data["next"])
        check_address_limit(address)
        user = find_or_create_user(address)
        send_login_email(address, user, next_url)
    except RateLimited as limited:
        log_event("rate_limited", ip=client_ip(request))
        return rate_limited(request, limited.retry_after)
    except LimitsUnavailable:
        log_event("sending_unavailable", reason="rate limits cannot be checked")
        return sending_unavailable(request)
    except EmailNotSent as error:
        log_event("email_failed", email=mask_address(address), error=error)
        return render(
            request,
            "accounts/email_failed.html",
            {"next_url": next_url},
            status=HTTPStatus.SERVICE_UNAVAILABLE,
        )
    log_event(
        "email_sent",
        email=mask_address(address),
        kind="login_link" if user else "no_account",
        ip=client_ip(request),
    )
    # The answer is the same whether or not the address has an account: nobody can probe.
    request.session["login_address"] = address
    query = "?" + urlencode({"next": next_url}) if next_url else ""
    return redirect(reverse("check_inbox") + query)


@require_GET
def check_inbox(request: HttpRequest) -> HttpResponse:
    address = request.session.get("login_address")
    if not address:
        return redirect("sign_in")
    next_url = safe_next_url(request.GET.get("next"))
    return render(
        request,
        "accounts/check_inbox.html",
        {"address": display_address(address), "next_url": next_url},
    )


@require_http_methods(["GET", "HEAD", "POST"])
@sensitive_post_parameters("sesame")
@never_cache
def confirm_link(request: HttpRequest) -> HttpResponse:
    """Where the emailed link lands. Only the POST from the confirm page spends the link.

    GET and HEAD spend nothing: mail scanners open links before people do. A GET that carries
    the token moves it out of the address bar into a short-lived cookie and redirects, so the
    page with the button has no token in its URL. That page can then keep a same-origin
    Referrer-Policy, which browsers need to send a real Origin header with the form (with
    no-referrer, Chromium sends "Origin: null" and Django's CSRF check refuses the sign-in).
    """
    try:
        if request.method == "POST":
            return _claim(request)
        if "sesame" in request.GET:
            return _stash_token(request)
        return _show_confirm_page(request)
    except LinkProblem as problem:
        log_event("link_rejected", reason=problem.reason, ip=client_ip(request))
        response = render(
            request,
            "accounts/link_problem.html",
            {"reason": problem.reason},
            status=LINK_PROBLEM_STATUS[problem.reason],
        )
        response.delete_cookie(settings.LOGIN_LINK_COOKIE_NAME)
        response["Referrer-Policy"] = "no-referrer"
        return response


def _stash_token(request: HttpRequest) -> HttpResponse:
    form = ConfirmLinkForm(request.GET)
    if not form.is_valid():
        raise LinkProblem("invalid")
    check_login_link(form.cleaned_data["sesame"])
    # The sealed `next` is opened only on the POST, beside the token it was sealed with.
    sealed_next = form.cleaned_data["next"]
    query = "?" + urlencode({"next": sealed_next}) if sealed_next else ""
    response = HttpResponseRedirect(reverse("confirm_link") + query)
    response.status_code = HTTPStatus.SEE_OTHER
    # No max_age: the cookie ends with the browser session, so a link opened but never
    # confirmed on a shared computer does not outlive the browser.
    response.set_cookie(
        settings.LOGIN_LINK_COOKIE_NAME,
        form.cleaned_data["sesame"],
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    # This response's URL holds the token: nothing may carry it further.
    response["Referrer-Policy"] = "no-referrer"
    return response


def _show_confirm_page(request: HttpRequest) -> HttpResponse:
    token = request.COOKIES.get(settings.LOGIN_LINK_COOKIE_NAME, "")
    form = ConfirmLinkForm({"sesame": token, "next": request.GET.get("next", "")})
    if not form.is_valid():
        raise LinkProblem("invalid")
    user = check_login_link(form.cleaned_data["sesame"])
    # Whoever reaches this page should see what pressing the button changes: a link planted
    # by another site, or forwarded by someone, names an account this browser did not ask for.
    signed_in_as = request.user if request.user.is_authenticated else None
    asked_for = request.session.get("login_address")
    context = {
        "form": form,
        "user": user,
        "switching_from": signed_in_as if signed_in_as and signed_in_as.pk != user.pk else None,
        "asked_here": asked_for == user.email,
        "asked_for": display_address(asked_for) if asked_for else "",
    }
    return render(request, "accounts/confirm.html", context)


def _claim(request: HttpRequest) -> HttpResponse:
    form = ConfirmLinkForm(request.POST)
    if not form.is_valid():
        raise LinkProblem("invalid")
    token = form.cleaned_data["sesame"]
    user = claim_login_link(token)
    previous_sign_in = user.last_login
    login(request, user)
    start_session_clock(request)
    prune_expired_sessions_now_and_then()
    request.session["previous_sign_in"] = previous_sign_in.isoformat() if previous_sign_in else ""
    log_event("signed_in", user=user.pk, ip=client_ip(request))
    response = redirect(open_next_url(form.cleaned_data["next"], token) or "dashboard")
    response.delete_cookie(settings.LOGIN_LINK_COOKIE_NAME)
    return response


@require_GET
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    previous = parse_datetime(request.session.get("previous_sign_in") or "")
    return render(request, "accounts/dashboard.html", {"previous_sign_in": previous})


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        log_event("signed_out", user=request.user.pk)
    # logout() deletes the session on the server, not only the cookie.
    logout(request)
    messages.success(request, _("You are signed out."))
    return redirect("sign_in")


def rate_limited(request: HttpRequest, retry_after: int) -> HttpResponse:
    minutes = max(1, -(-retry_after // 60))
    response = render(
        request,
        "accounts/rate_limited.html",
        {"minutes": minutes},
        status=HTTPStatus.TOO_MANY_REQUESTS,
    )
    response["Retry-After"] = str(retry_after)
    return response


def sending_unavailable(request: HttpRequest) -> HttpResponse:
    response = render(request, "accounts/unavailable.html", status=HTTPStatus.SERVICE_UNAVAILABLE)
    response["Retry-After"] = "30"
    return response


@require_GET
def admin_sign_in(request: HttpRequest) -> HttpResponse:
    """The admin has no password page of its own: staff use the same emailed link."""
    next_url = safe_next_url(request.GET.get("next")) or reverse("admin:index")
    return redirect(reverse("sign_in") + "?" + urlencode({"next": next_url}))

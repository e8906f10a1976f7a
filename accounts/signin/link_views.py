"""Where the emailed link lands: a confirm page with a button, so that a mail scanner's GET
spends nothing, and the press that signs in."""

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.client_ip import client_ip
from accounts.models import SignInEvent
from accounts.pages import changes_no_way_in
from accounts.records.audit import record, record_link_opened
from accounts.records.log import log_event
from accounts.refusals import status_of
from accounts.sessions.lifetime import keep_days
from accounts.signin.addresses import display_address
from accounts.signin.finish import sign_in_browser
from accounts.signin.forms import ConfirmLinkForm
from accounts.signin.link_cookie import token_to_cookie
from accounts.signin.links import (
    LinkProblem,
    check_login_link,
    claim_login_link,
    reclaim,
    remember_claim,
)
from accounts.signin.redirects import go_to, open_next_url

Kind = SignInEvent.Kind


@require_http_methods(["GET", "HEAD", "POST"])
@sensitive_post_parameters("sesame")
@never_cache
@changes_no_way_in
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
        if request.user.is_authenticated:
            # Back after signing in, or the link opened again: no error for the person who
            # is already in. A valid link for another account shows its page instead.
            messages.info(request, _("You are already signed in."))
            response = redirect("dashboard")
            response["Referrer-Policy"] = "no-referrer"
        elif "sesame" in request.GET:
            # The page that explains must not hold the token in its URL either: under
            # no-referrer its "Send a new email" form would be refused (Origin: null). It
            # loads from the cookie, as the confirm page does, and says what is wrong there;
            # text no token could be goes no further than the URL (and is invalid there).
            return token_to_cookie(request, request.GET["sesame"], "")
        else:
            log_event("link_rejected", reason=problem.reason, ip=client_ip(request))
            record(Kind.REJECTED, request, problem.user, detail=f"link {problem.reason}")
            response = _link_problem_page(request, problem)
        response.delete_cookie(settings.LOGIN_LINK_COOKIE_NAME)
        return response


def _link_problem_page(request: HttpRequest, problem: LinkProblem) -> HttpResponse:
    address = problem.user.email if problem.user else request.session.get("login_address", "")
    return render(
        request,
        "accounts/link_problem.html",
        {"reason": problem.reason, "address": address},
        status=status_of(problem.reason),
    )


def _stash_token(request: HttpRequest) -> HttpResponse:
    form = ConfirmLinkForm(request.GET)
    if not form.is_valid():
        raise LinkProblem("invalid")
    user = check_login_link(form.cleaned_data["sesame"])
    record_link_opened(request, user)
    # The sealed `next` is opened only on the POST, beside the token it was sealed with.
    sealed_next = form.cleaned_data["next"]
    if request.user.is_authenticated and request.user.pk == user.pk:
        messages.info(request, _("You are already signed in."))
        response = go_to(open_next_url(sealed_next, form.cleaned_data["sesame"]))
        response["Referrer-Policy"] = "no-referrer"
        return response
    return token_to_cookie(request, form.cleaned_data["sesame"], sealed_next)


def _show_confirm_page(request: HttpRequest) -> HttpResponse:
    token = request.COOKIES.get(settings.LOGIN_LINK_COOKIE_NAME, "")
    form = ConfirmLinkForm({"sesame": token, "next": request.GET.get("next", "")})
    if not form.is_valid():
        raise LinkProblem("invalid")
    user = check_login_link(form.cleaned_data["sesame"])
    signed_in_as = request.user if request.user.is_authenticated else None
    if signed_in_as and signed_in_as.pk == user.pk:
        messages.info(request, _("You are already signed in."))
        return redirect("dashboard")
    # Whoever reaches this page should see what pressing the button changes: a link planted
    # by another site, or forwarded by someone, names an account this browser did not ask for.
    asked_for = request.session.get("login_address")
    context = {
        "form": form,
        "user": user,
        "switching_from": signed_in_as,
        "asked_here": asked_for == user.email,
        "asked_for": display_address(asked_for) if asked_for else "",
        "keep_days": keep_days(),
    }
    return render(request, "accounts/confirm.html", context)


def _claim(request: HttpRequest) -> HttpResponse:
    form = ConfirmLinkForm(request.POST)
    if not form.is_valid():
        raise LinkProblem("invalid")
    token = form.cleaned_data["sesame"]
    next_url = open_next_url(form.cleaned_data["next"], token)
    browser = request.COOKIES.get(settings.LOGIN_BROWSER_COOKIE_NAME, "")
    keep = form.cleaned_data["keep"]
    try:
        response = sign_in_browser(request, lambda: claim_login_link(token), "link", next_url, keep)
    except LinkProblem as problem:
        first = reclaim(token, browser) if problem.reason == "used" else None
        if first is None:
            raise
        log_event("second_press", user=first.user.pk, ip=client_ip(request))
        response = sign_in_browser(request, lambda: first.user, "link", next_url, keep, again=first)
    # The device cookie this answer sets, if any (a browser that had one keeps it); remembered
    # again after a second press, so that a third one still finds its session.
    device = response.cookies.get(settings.DEVICE_COOKIE_NAME)
    session = request.session.session_key
    remember_claim(token, browser, request.user, session, device.value if device else None)
    return response

"""Asking for a sign-in email, waiting for it (and typing its code), signing out, and the
admin's way in: the same emailed link or code."""

import functools
import math
import time
from datetime import UTC, datetime
from email.utils import parseaddr
from http import HTTPStatus
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.client_ip import client_ip
from accounts.limits import (
    LimitsUnavailable,
    RateLimited,
    count_form,
    limits_are_checkable,
    network_of,
    rate,
)
from accounts.mail.delivery import delivery_status, request_email
from accounts.models import SignInEmail, SignInEvent
from accounts.pages import changes_no_way_in, rate_limited, sending_unavailable
from accounts.passkeys.staff import passkey_required_for_admin
from accounts.records.audit import record
from accounts.records.log import log_event, mask_address
from accounts.refusals import Reason, What, sentence, status_of
from accounts.sessions.lifetime import keep_days
from accounts.signin.addresses import display_address
from accounts.signin.codes import (
    CodeProblem,
    claim_code,
    issue_code,
    pending_code_issued_at,
    pending_request,
)
from accounts.signin.finish import sign_in_browser
from accounts.signin.forms import LoginCodeForm, LoginLinkForm
from accounts.signin.front_door import Step, admit
from accounts.signin.proof import challenge_for
from accounts.signin.redirects import go_to, safe_next_url
from accounts.signin.typos import suggestion

Kind = SignInEvent.Kind
Status = SignInEmail.Status

# "Send a new email" pressed again within this many seconds sends nothing and says why.
RESEND_COOL_DOWN = 30
# Only the code is replaced: the earlier email's link, if it arrived, still works until a
# sign-in (django-sesame's one-time token); an earlier email that had not left is called off
# (accounts/mail/delivery.py).
NEW_EMAIL_SENT = gettext_lazy(
    "We are sending a new email. Use the code in it: the earlier one no longer works."
)


@require_http_methods(["GET", "HEAD", "POST"])
@changes_no_way_in
def sign_in(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _sign_in_page(request)
    form = LoginLinkForm(request.POST)
    if form.is_valid() and form.cleaned_data["resend"] and _cool_down_left(request):
        # The page counts down to when a press sends again (templates/accounts/_resend_form.html).
        messages.info(request, _("We sent an email moments ago. It can take a minute to arrive."))
        return _check_inbox_redirect(form.cleaned_data["next"])
    try:
        count_form(request)
        if not form.is_valid():
            return render(
                request, "accounts/sign_in.html", {"form": form}, status=HTTPStatus.BAD_REQUEST
            )
        address = form.cleaned_data["email"]
        next_url = safe_next_url(form.cleaned_data["next"])
        if not form.cleaned_data["as_typed"] and (meant := suggestion(address)):
            context = {"form": form, "typed": address, "suggestion": meant, "next_url": next_url}
            return render(request, "accounts/did_you_mean.html", context)
        # Only now does it count against the network's allowance: a typo or an empty form has
        # cost the crowded office nothing.
        step = admit(request, address, form.cleaned_data["altcha"])
        if step == Step.PROVE:
            return _prove_first(request, form, next_url)
        # The same work for every address: whom the email is for is decided by the worker.
        email = request_email(request, address, next_url, step == Step.ACCOUNTS_ONLY)
        issue_code(request, email)
    except RateLimited as limited:
        log_event("rate_limited", scope=limited.scope, ip=client_ip(request))
        return rate_limited(request, limited, form.cleaned_data.get("email", ""))
    except LimitsUnavailable:
        log_event("sending_unavailable", reason="rate limits cannot be checked")
        return sending_unavailable(request)
    log_event("email_requested", email=mask_address(address), ip=client_ip(request))
    request.session[ACCOUNTS_ONLY] = step == Step.ACCOUNTS_ONLY
    if form.cleaned_data["resend"]:
        messages.success(request, NEW_EMAIL_SENT)
    # The answer is the same whether or not the address has an account: nobody can probe.
    request.session["login_address"] = address
    return _check_inbox_redirect(next_url)


def _sign_in_page(request: HttpRequest) -> HttpResponse:
    next_url = safe_next_url(request.GET.get("next"))
    if request.user.is_authenticated:
        return go_to(next_url)
    if not limits_are_checkable():
        return sending_unavailable(request)
    form = LoginLinkForm(
        initial={"next": next_url, "email": request.session.pop(SIGN_IN_AGAIN_AS, None)}
    )
    return render(request, "accounts/sign_in.html", {"form": form})


# The address of a person who pressed "Sign in again" (accounts/pages.py), kept typed for them.
SIGN_IN_AGAIN_AS = "sign_in_again_as"

# Set when the email was asked for while the site's budget was spent (the page says so to all).
ACCOUNTS_ONLY = "accounts_only"


def _prove_first(request: HttpRequest, form: LoginLinkForm, next_url: str) -> HttpResponse:
    """The step before a stop: the same form again, with a proof of work to solve first."""
    log_event("proof_asked", ip=client_ip(request))
    context = {
        "form": form,
        "address": form.cleaned_data["email"],
        "next_url": next_url,
        "challenge": challenge_for("sign-in", network_of(client_ip(request))),
        "widget_js": "js/vendor/altcha.js",
        "proof_failed": bool(form.cleaned_data["altcha"]),
        "pressed_early": "proving" in request.POST and not form.cleaned_data["altcha"],
        "minutes": max(1, rate(settings.RATE_LIMIT_PER_IP).get_expiry() // 60),
    }
    # The address is typed already: focus would open a phone's keyboard over the check.
    form.fields["email"].widget.attrs.pop("autofocus", None)
    status = HTTPStatus.BAD_REQUEST if context["proof_failed"] or context["pressed_early"] else 200
    return render(request, "accounts/prove.html", context, status=status)


def _cool_down_left(request: HttpRequest, status: str | None = None) -> int:
    """Whole seconds until "Send a new email" sends again; 0 when it sends at once."""
    issued_at = pending_code_issued_at(request)
    left = math.ceil(issued_at + RESEND_COOL_DOWN - time.time()) if issued_at else 0
    if left <= 0:
        return 0
    # "Try again" after an email that could not be delivered is never held back.
    status = status or delivery_status(pending_request(request))
    return 0 if status == SignInEmail.Status.FAILED else left


def _check_inbox_redirect(next_url: str) -> HttpResponse:
    query = "?" + urlencode({"next": next_url}) if next_url else ""
    return HttpResponseRedirect(reverse("check_inbox") + query)


@require_http_methods(["GET", "HEAD", "POST"])
@sensitive_post_parameters("code")
@changes_no_way_in
def check_inbox(request: HttpRequest) -> HttpResponse:
    """Where the person waits for the email, and types its code to sign in this browser."""
    next_url = safe_next_url(request.GET.get("next"))
    if request.user.is_authenticated:
        messages.info(request, _("You are signed in."))
        return go_to(next_url)
    address = request.session.get("login_address")
    if not address:
        return redirect("sign_in")
    form = LoginCodeForm(request.POST or None)
    status = HTTPStatus.OK
    if request.method == "POST":
        try:
            if form.is_valid():
                code, keep = form.cleaned_data["code"], form.cleaned_data["keep"]
                claim = functools.partial(claim_code, request, code)
                return sign_in_browser(request, claim, "code", next_url, keep)
            status = HTTPStatus.BAD_REQUEST
        except CodeProblem as problem:
            log_event("code_rejected", reason=problem.reason, ip=client_ip(request))
            record(Kind.REJECTED, request, detail=f"code {problem.reason}")
            if problem.reason == "none":
                return redirect("sign_in")
            form.add_error("code", sentence(What.CODE, problem.reason, problem.tries_left))
            # The last wrong try spends the code as surely as too many do: the page says so
            # once, and offers only a new email (it drew a live code field before).
            spent = problem.reason == Reason.WRONG and not problem.tries_left
            status = status_of(Reason.EXHAUSTED if spent else problem.reason)
        except LimitsUnavailable:
            return sending_unavailable(request)
    return _check_inbox_page(request, form, address, next_url, status)


def _check_inbox_page(
    request: HttpRequest, form: LoginCodeForm, address: str, next_url: str, status: int
) -> HttpResponse:
    """The page: where the email stands, whom it is from, until when its code works."""
    issued_at = pending_code_issued_at(request)
    expires_at = issued_at + settings.LOGIN_LINK_MAX_AGE if issued_at else None
    expired = expires_at is not None and time.time() >= expires_at
    email_id = pending_request(request)
    # Not while only accounts get mail: "sent" at once for a new address, "sending" for an
    # account would tell them apart (found 2026-12-06).
    delivery = delivery_status(email_id) if email_id else None
    accounts_only = request.session.get(ACCOUNTS_ONLY, False)
    context = {
        "delivery": None if accounts_only else delivery,
        "form": form,
        "address": address,
        "shown_address": display_address(address),
        "next_url": next_url,
        # "Latchkey" and "sign-in@example.com", as a mail client lists them, not "Name <…>".
        "sender": parseaddr(settings.DEFAULT_FROM_EMAIL),
        "subject": _("… is your %(site)s sign-in code") % {"site": settings.SITE_NAME},
        "expires_at": datetime.fromtimestamp(expires_at, UTC) if expires_at else None,
        "minutes": max(1, settings.LOGIN_LINK_MAX_AGE // 60),
        "keep_days": keep_days(),
        "code_dead": expired or status in (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.GONE),
        "expired": expired,
        # While only accounts get mail, as if queued: "failed" (no countdown) is an account's.
        "resend_in": 0
        if expired
        else _cool_down_left(request, Status.QUEUED if accounts_only else delivery),
        "accounts_only": accounts_only,
    }
    if not context["code_dead"]:
        # What the person came to do here, on arrival and after a wrong try.
        form.fields["code"].widget.attrs["autofocus"] = True
    response = render(request, "accounts/check_inbox.html", context, status=status)
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        response["Retry-After"] = str(max(1, int(expires_at - time.time())) if expires_at else 60)
    return response


@require_POST
@changes_no_way_in
def sign_out(request: HttpRequest) -> HttpResponse:
    address = request.user.email if request.user.is_authenticated else ""
    if address:
        log_event("signed_out", user=request.user.pk)
        record(Kind.SIGNED_OUT, request, request.user)
    # logout() deletes the session on the server, not only the cookie.
    logout(request)
    next_url = safe_next_url(request.POST.get("next"))
    if next_url:  # "Sign in again" before something that needs a fresh sign-in
        # The address stays typed, and the page says why the person is here.
        request.session[SIGN_IN_AGAIN_AS] = address
        messages.info(request, _("Sign in again to go on: we email your address a new link."))
        return HttpResponseRedirect(reverse("sign_in") + "?" + urlencode({"next": next_url}))
    messages.success(request, _("You are signed out."))
    return redirect("sign_in")


@require_GET
@changes_no_way_in
def admin_sign_in(request: HttpRequest) -> HttpResponse:
    """The admin has no password page of its own: staff use the same emailed link."""
    if request.user.is_authenticated:
        if request.user.is_staff and passkey_required_for_admin(request):
            context = {"has_passkey": request.user.passkeys.exists()}
            return render(
                request, "accounts/admin_needs_passkey.html", context, status=HTTPStatus.FORBIDDEN
            )
        # Signed in, but not staff: sending them to sign in again would loop for ever.
        return render(request, "accounts/not_staff.html", status=HTTPStatus.FORBIDDEN)
    next_url = safe_next_url(request.GET.get("next")) or reverse("admin:index")
    return HttpResponseRedirect(reverse("sign_in") + "?" + urlencode({"next": next_url}))

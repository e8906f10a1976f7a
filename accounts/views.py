import re
import secrets
import time
from datetime import UTC, datetime
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
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.account_mail import still_owed
from accounts.address_change import (
    UNDO_DAYS,
    ChangeProblem,
    ask_to_change,
    change,
    check_code,
    check_link,
    check_undo,
    next_change_allowed_at,
    pending_change,
    undo,
)
from accounts.addresses import display_address
from accounts.admin_site import passkey_required_for_admin, passkeys_locked
from accounts.audit import device_of, record, record_link_opened
from accounts.browsers import browsers_of, end, end_all_but, note_sign_in
from accounts.client_ip import client_ip
from accounts.deletion import RestoreProblem, check_restore, close_account, restore
from accounts.delivery import delivery_status, request_email
from accounts.events import log_event, mask_address
from accounts.forms import (
    ChangeAddressForm,
    ConfirmAddressForm,
    ConfirmLinkForm,
    DeleteAccountForm,
    LoginCodeForm,
    LoginLinkForm,
)
from accounts.login_codes import (
    CodeProblem,
    claim_code,
    issue_code,
    pending_code_issued_at,
    pending_request,
)
from accounts.login_links import (
    LinkProblem,
    check_login_link,
    claim_login_link,
    reclaim,
    remember_claim,
)
from accounts.models import SignInEmail, SignInEvent, User
from accounts.new_browsers import recognise, set_device_cookie
from accounts.pruning import prune_now_and_then
from accounts.rate_limits import (
    LimitsUnavailable,
    RateLimited,
    check_address_limit,
    check_client_limit,
    limits_are_checkable,
)
from accounts.recent_sign_in import changes_no_way_in, needs_recent_sign_in, proven_by_the_inbox
from accounts.redirects import go_to, open_next_url, safe_next_url
from accounts.session_lifetime import FORGET_PASSKEY, SIGNED_IN_WITH, start_session_clock
from accounts.signup import signup_allowed
from accounts.typos import suggestion

Kind = SignInEvent.Kind

LINK_PROBLEM_STATUS = {
    "invalid": HTTPStatus.BAD_REQUEST,
    "expired": HTTPStatus.GONE,
    "used": HTTPStatus.GONE,
}
CODE_PROBLEM_STATUS = {
    "wrong": HTTPStatus.BAD_REQUEST,
    "expired": HTTPStatus.GONE,
    "used": HTTPStatus.GONE,
    "exhausted": HTTPStatus.TOO_MANY_REQUESTS,
}


def _keep_days() -> int:
    """How long "Keep me signed in" keeps a browser: the absolute session lifetime, in days."""
    return max(1, settings.SESSION_MAX_AGE // (24 * 60 * 60))


# How many of an account's latest events /account/ shows.
RECENT_EVENTS = 20
# "Send a new email" pressed again within this many seconds sends nothing and says why.
RESEND_COOL_DOWN = 30


@require_http_methods(["GET", "HEAD", "POST"])
@changes_no_way_in
def sign_in(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        next_url = safe_next_url(request.GET.get("next"))
        if request.user.is_authenticated:
            return go_to(next_url)
        if not limits_are_checkable():
            return sending_unavailable(request)
        form = LoginLinkForm(initial={"next": next_url})
        return render(request, "accounts/sign_in.html", {"form": form})

    form = LoginLinkForm(request.POST)
    if form.is_valid() and form.cleaned_data["resend"] and _cooling_down(request):
        messages.info(request, _("We sent an email moments ago. It can take a minute to arrive."))
        return _check_inbox_redirect(form.cleaned_data["next"])
    try:
        check_client_limit(request)
        if not form.is_valid():
            return render(
                request, "accounts/sign_in.html", {"form": form}, status=HTTPStatus.BAD_REQUEST
            )
        address = form.cleaned_data["email"]
        next_url = safe_next_url(form.cleaned_data["next"])
        if not form.cleaned_data["as_typed"] and (meant := suggestion(address)):
            context = {"form": form, "typed": address, "suggestion": meant, "next_url": next_url}
            return render(request, "accounts/did_you_mean.html", context)
        check_address_limit(address)
        # The same work for every address: whom the email is for is decided by the worker.
        email = request_email(request, address, next_url)
        issue_code(request, email)
    except RateLimited as limited:
        log_event("rate_limited", scope=limited.scope, ip=client_ip(request))
        return rate_limited(request, limited)
    except LimitsUnavailable:
        log_event("sending_unavailable", reason="rate limits cannot be checked")
        return sending_unavailable(request)
    log_event("email_requested", email=mask_address(address), ip=client_ip(request))
    # The answer is the same whether or not the address has an account: nobody can probe.
    request.session["login_address"] = address
    return _check_inbox_redirect(next_url)


def _cooling_down(request: HttpRequest) -> bool:
    issued_at = pending_code_issued_at(request)
    if issued_at is None or time.time() - issued_at >= RESEND_COOL_DOWN:
        return False
    # "Try again" after an email that could not be delivered is never held back.
    return delivery_status(pending_request(request)) != SignInEmail.Status.FAILED


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
                user = claim_code(request, form.cleaned_data["code"])
                keep = form.cleaned_data["keep"]
                return sign_in_browser(request, user, "code", next_url, keep)
            status = HTTPStatus.BAD_REQUEST
        except CodeProblem as problem:
            log_event("code_rejected", reason=problem.reason, ip=client_ip(request))
            record(Kind.REJECTED, request, detail=f"code {problem.reason}")
            if problem.reason == "none":
                return redirect("sign_in")
            form.add_error("code", _code_problem_message(problem))
            status = CODE_PROBLEM_STATUS[problem.reason]
        except LimitsUnavailable:
            return sending_unavailable(request)
    issued_at = pending_code_issued_at(request)
    expires_at = issued_at + settings.LOGIN_LINK_MAX_AGE if issued_at else None
    email_id = pending_request(request)
    context = {
        "delivery": delivery_status(email_id) if email_id else None,
        "form": form,
        "address": address,
        "shown_address": display_address(address),
        "next_url": next_url,
        "sender": settings.DEFAULT_FROM_EMAIL,
        "subject": _("… is your %(site)s sign-in code") % {"site": settings.SITE_NAME},
        "expires_at": datetime.fromtimestamp(expires_at, UTC) if expires_at else None,
        "minutes": max(1, settings.LOGIN_LINK_MAX_AGE // 60),
        "keep_days": _keep_days(),
        "code_dead": status in (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.GONE),
    }
    response = render(request, "accounts/check_inbox.html", context, status=status)
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        response["Retry-After"] = str(max(1, int(expires_at - time.time())) if expires_at else 60)
    return response


def _code_problem_message(problem: CodeProblem) -> str:
    if problem.reason == "wrong" and problem.tries_left:
        return ngettext(
            "That code is not right. Check the most recent email: %(left)s try left.",
            "That code is not right. Check the most recent email: %(left)s tries left.",
            problem.tries_left,
        ) % {"left": problem.tries_left}
    if problem.reason in ("wrong", "exhausted"):
        return _("Too many wrong codes. Ask for a new email below.")
    if problem.reason == "expired":
        return _("This code has expired. Ask for a new email below.")
    return _("This code was already used, or a newer sign-in replaced it. Ask for a new email.")


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
            return _token_to_cookie(request, request.GET["sesame"], "")
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
        status=LINK_PROBLEM_STATUS[problem.reason],
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
    return _token_to_cookie(request, form.cleaned_data["sesame"], sealed_next)


# What a token in one of our links can look like: django-sesame's URL-safe base64, or Django's
# signing of a signup or an address change, whose parts are joined with ".". Anything else is no
# token, and must not reach a cookie header (non-Latin-1 text cannot be sent in one at all).
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_.:-]{1,1000}")


def _link_cookie() -> dict:
    # No max_age: the cookies end with the browser session, so a link opened but never confirmed
    # on a shared computer does not outlive the browser; the token's own age limits it anyway.
    return {"secure": settings.SESSION_COOKIE_SECURE, "httponly": True, "samesite": "Lax"}


def _see_other_keeping_token(to: str, cookie_name: str, token: str) -> HttpResponse:
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
        response.set_cookie(cookie_name, token, **_link_cookie())
    else:
        response.delete_cookie(cookie_name)
    # This response's URL holds the token: nothing may carry it further.
    response["Referrer-Policy"] = "no-referrer"
    return response


def _token_to_cookie(request: HttpRequest, token: str, sealed_next: str) -> HttpResponse:
    """Redirect to /link/ with the token in a cookie: no page ever has it in its URL."""
    query = "?" + urlencode({"next": sealed_next}) if sealed_next else ""
    response = _see_other_keeping_token(
        reverse("confirm_link") + query, settings.LOGIN_LINK_COOKIE_NAME, token
    )
    if settings.LOGIN_BROWSER_COOKIE_NAME not in request.COOKIES:
        # Names this browser to a second press of Sign in (login_links.remember_claim).
        browser = secrets.token_urlsafe(16)
        response.set_cookie(settings.LOGIN_BROWSER_COOKIE_NAME, browser, **_link_cookie())
    return response


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
        "keep_days": _keep_days(),
    }
    return render(request, "accounts/confirm.html", context)


def _claim(request: HttpRequest) -> HttpResponse:
    form = ConfirmLinkForm(request.POST)
    if not form.is_valid():
        raise LinkProblem("invalid")
    token = form.cleaned_data["sesame"]
    next_url = open_next_url(form.cleaned_data["next"], token)
    browser = request.COOKIES.get(settings.LOGIN_BROWSER_COOKIE_NAME, "")
    try:
        user = claim_login_link(token)
    except LinkProblem as problem:
        user = reclaim(token, browser) if problem.reason == "used" else None
        if user is None:
            raise
        log_event("second_press", user=user.pk, ip=client_ip(request))
        return sign_in_browser(request, user, "link", next_url, form.cleaned_data["keep"])
    response = sign_in_browser(request, user, "link", next_url, form.cleaned_data["keep"])
    remember_claim(token, browser, user, request.session.session_key)
    return response


def sign_in_browser(
    request: HttpRequest, user: User, method: str, next_url: str, keep: bool = False
):
    """Sign this browser in as `user`, who proved the inbox by link or code, or used a passkey."""
    previous_sign_in = user.last_login
    # Named, because a code is no credential a backend checks: the account was proven by the
    # claim, and with more than one backend (the benchmark's, passkeys later) Django must know.
    login(request, user, backend="sesame.backends.ModelBackend")
    start_session_clock(request, keep)
    request.session[SIGNED_IN_WITH] = method
    request.session["previous_sign_in"] = previous_sign_in.isoformat() if previous_sign_in else ""
    # The session's row is written once, here, with everything in it: its browser's row points
    # at it, and the save after the view finds nothing new (accounts/session_store.py).
    request.session.save()
    note_sign_in(request, user)
    prune_now_and_then()
    log_event("signed_in", user=user.pk, method=method, ip=client_ip(request))
    record(Kind.SIGNED_IN, request, user, detail=method)
    device_cookie = recognise(request, user, first_sign_in=previous_sign_in is None)
    response = go_to(next_url)
    response.delete_cookie(settings.LOGIN_LINK_COOKIE_NAME)
    set_device_cookie(response, device_cookie)
    return response


@require_GET
@login_required
@changes_no_way_in
def dashboard(request: HttpRequest) -> HttpResponse:
    previous = parse_datetime(request.session.get("previous_sign_in") or "")
    context = {"previous_sign_in": previous, "has_passkey": request.user.passkeys.exists()}
    return render(request, "accounts/dashboard.html", context)


@require_GET
@login_required
@changes_no_way_in
def account(request: HttpRequest) -> HttpResponse:
    """This account's browsers, each of which can be signed out, and its recent activity."""
    here = request.session.session_key
    browsers = [
        {
            "handle": browser.handle,
            "device": device_of(browser.user_agent) or _("Unknown browser"),
            "network": browser.network,
            "signed_in_at": browser.signed_in_at,
            "last_active": browser.last_active,
            "here": browser.session_id == here,
        }
        for browser in browsers_of(request.user)
    ]
    recent = [
        {
            "at": event.at,
            "what": event.get_kind_display(),
            "detail": event.detail,
            "device": device_of(event.user_agent),
            "network": event.network,
            "likely_scanner": event.likely_scanner,
        }
        for event in request.user.events.order_by("-at")[:RECENT_EVENTS]
    ]
    passkeys = list(request.user.passkeys.order_by("created_at"))
    context = {
        "passkeys": passkeys,
        "passkey_account": _passkey_account(request.user, passkeys),
        "forget_passkey": request.session.pop(FORGET_PASSKEY, ""),
        "passkey_rp_id": settings.PASSKEY_RP_ID,
        "passkeys_locked": passkeys_locked(request),
        "browsers": browsers,
        "events": recent,
        "others": sum(not b["here"] for b in browsers),
        "owed": still_owed(request.user),
    }
    return render(request, "accounts/account.html", context)


def _passkey_account(user: User, passkeys: list) -> dict | None:
    """What the browser's password manager should hold for this account (static/js/passkeys.js
    tells it through WebAuthn's Signal API): its passkeys, and its address as their name."""
    if not passkeys:
        return None
    return {
        "user_id": urlsafe_base64_encode(bytes(passkeys[0].user_handle)),
        "name": user.email,
        "display_name": user.display_email,
        "accepted": " ".join(urlsafe_base64_encode(bytes(p.credential_id)) for p in passkeys),
    }


@require_POST
@login_required
@changes_no_way_in
def end_browser(request: HttpRequest) -> HttpResponse:
    handle = request.POST.get("browser", "")
    if handle == "others":
        ended = end_all_but(request)
        messages.success(
            request,
            ngettext("Signed out %(n)s other browser.", "Signed out %(n)s other browsers.", ended)
            % {"n": ended},
        )
    elif end(request.user, handle[:32]):
        messages.success(request, _("That browser is signed out."))
    else:
        messages.info(request, _("That browser was already signed out."))
    log_event("browsers_ended", user=request.user.pk)
    record(Kind.BROWSER_ENDED, request, request.user)
    return redirect("account")


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@needs_recent_sign_in(gettext_lazy("Deleting your account"), "delete_account")
def delete_account_view(request: HttpRequest) -> HttpResponse:
    """A confirm step (type the address), then the account and its personal data go."""
    form = DeleteAccountForm(request.POST or None, account_address=request.user.email)
    if request.method != "POST":
        context = {"form": form, "undo_days": settings.ACCOUNT_UNDO_DAYS}
        return render(request, "accounts/delete_account.html", context)
    if not form.is_valid():
        context = {"form": form, "undo_days": settings.ACCOUNT_UNDO_DAYS}
        return render(
            request, "accounts/delete_account.html", context, status=HTTPStatus.BAD_REQUEST
        )
    close_account(request.user)
    logout(request)
    messages.success(
        request,
        ngettext(
            "Your account is closed, and will be erased in %(days)s day. "
            "Until then, the email we sent can restore it.",
            "Your account is closed, and will be erased in %(days)s days. "
            "Until then, the email we sent can restore it.",
            settings.ACCOUNT_UNDO_DAYS,
        )
        % {"days": settings.ACCOUNT_UNDO_DAYS},
    )
    return redirect("sign_in")


@require_http_methods(["GET", "HEAD", "POST"])
@sensitive_post_parameters("restore")
@never_cache
@proven_by_the_inbox
def restore_account(request: HttpRequest) -> HttpResponse:
    """From the farewell email, or the one asked for at the sign-in page: open it again."""
    if "restore" in request.GET:
        return _see_other_keeping_token(
            reverse("restore_account"),
            settings.ADDRESS_LINK_COOKIE_NAME,
            request.GET["restore"][:1000],
        )
    if request.method == "POST":
        token = request.POST.get("restore", "")[:1000]
    else:
        token = request.COOKIES.get(settings.ADDRESS_LINK_COOKIE_NAME, "")[:1000]
    try:
        user = check_restore(token)
        context = {"token": token, "address": display_address(user.email)}
        if request.method != "POST":
            return render(request, "accounts/restore_account.html", context)
        restore(user)
        record(Kind.RESTORED, request, user)
        response = render(request, "accounts/account_restored.html", context)
    except RestoreProblem as problem:
        status = HTTPStatus.BAD_REQUEST if problem.reason == "invalid" else HTTPStatus.GONE
        context = {"reason": problem.reason, "days": settings.ACCOUNT_UNDO_DAYS}
        response = render(request, "accounts/restore_problem.html", context, status=status)
    response.delete_cookie(settings.ADDRESS_LINK_COOKIE_NAME)
    return response


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@needs_recent_sign_in(gettext_lazy("Changing your address"), "change_address")
def change_address(request: HttpRequest) -> HttpResponse:
    """Type the new address; a link and a code go there to prove it."""
    if allowed_at := next_change_allowed_at(request.user):
        status = HTTPStatus.FORBIDDEN if request.method == "POST" else HTTPStatus.OK
        context = {"allowed_at": allowed_at, "days": UNDO_DAYS}
        return render(request, "accounts/change_address_later.html", context, status=status)
    form = ChangeAddressForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        new_address = form.cleaned_data["email"]
        if new_address == request.user.email:
            form.add_error("email", _("That is already your address."))
        elif not signup_allowed(new_address):
            form.add_error("email", _("Accounts here cannot use an address at that domain."))
        else:
            try:
                check_client_limit(request)
                check_address_limit(new_address)
            except RateLimited as limited:
                return rate_limited(request, limited)
            except LimitsUnavailable:
                return sending_unavailable(request)
            ask_to_change(request, new_address)
            return redirect("confirm_address_change")
    status = HTTPStatus.BAD_REQUEST if form.errors else HTTPStatus.OK
    return render(request, "accounts/change_address.html", {"form": form}, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
@sensitive_post_parameters("code", "change")
@never_cache
def confirm_address_change(request: HttpRequest) -> HttpResponse:
    """The code typed here, or the emailed link opened in a browser signed in to the account."""
    if "change" in request.GET:
        # Moves the token out of the address bar and changes nothing: before any other answer,
        # so that no page, not even "sign in again", loads with the token in its URL.
        return _stash_address_token(request, reverse("confirm_address_change") + "?link")
    return _confirm_address_change(request)


# The check is on the inner view, after the token has left the address bar.
confirm_address_change.changes_a_way_in = True


@needs_recent_sign_in(gettext_lazy("Changing your address"), "confirm_address_change")
def _confirm_address_change(request: HttpRequest) -> HttpResponse:
    token = _address_token(request) if "link" in request.GET or request.method == "POST" else ""
    if not request.user.is_authenticated:
        # No redirect: `next` would carry the sign-in off to the link's page (never allowed).
        return render(request, "accounts/address_sign_in_first.html", status=HTTPStatus.OK)
    form = ConfirmAddressForm(request.POST if "code" in request.POST else None)
    try:
        if token and request.method == "POST":
            proven = check_link(request.user, token)
            return _address_changed(request, proven.to_address, change(request, proven))
        if token:
            to = check_link(request.user, token).to_address
            context = {"token": token, "to": display_address(to)}
            return render(request, "accounts/confirm_address_link.html", context)
        if request.method == "POST" and form.is_valid():
            proven = check_code(request, form.cleaned_data["code"])
            return _address_changed(request, proven.to_address, change(request, proven))
    except ChangeProblem as problem:
        if token:
            response = render(
                request,
                "accounts/address_link_problem.html",
                {"reason": problem.reason},
                status=HTTPStatus.GONE
                if problem.reason in ("expired", "used", "cancelled")
                else HTTPStatus.BAD_REQUEST,
            )
            response.delete_cookie(settings.ADDRESS_LINK_COOKIE_NAME)
            return response
        form.add_error("code", _address_problem_message(problem))
    except LimitsUnavailable:
        return sending_unavailable(request)
    pending = pending_change(request)
    if pending is None:
        return redirect("change_address")
    context = {
        "form": form,
        "to": display_address(pending["to"]),
        "sender": settings.DEFAULT_FROM_EMAIL,
    }
    status = HTTPStatus.BAD_REQUEST if form.errors else HTTPStatus.OK
    return render(request, "accounts/confirm_address_code.html", context, status=status)


def _stash_address_token(request: HttpRequest, to: str) -> HttpResponse:
    """An address link's token out of the address bar, as a sign-in link's is."""
    return _see_other_keeping_token(
        to, settings.ADDRESS_LINK_COOKIE_NAME, request.GET["change"][:1000]
    )


def _address_token(request: HttpRequest) -> str:
    """The token of an address link: posted by its page's form, or, to show that page, the one
    stashed in the cookie. A POST without one (the code's form) has none, whatever the cookie."""
    if request.method == "POST":
        return request.POST.get("change", "")[:1000]
    return request.COOKIES.get(settings.ADDRESS_LINK_COOKIE_NAME, "")[:1000]


def _address_changed(request: HttpRequest, new_address: str, now: bool) -> HttpResponse:
    if now:  # not when the link or the code had already done it
        record(Kind.ADDRESS_CHANGED, request, request.user)
    messages.success(
        request,
        _("Your address is now %(address)s.") % {"address": display_address(new_address)},
    )
    response = redirect("account")
    response.delete_cookie(settings.ADDRESS_LINK_COOKIE_NAME)
    return response


@require_http_methods(["GET", "HEAD", "POST"])
@sensitive_post_parameters("change")
@never_cache
@proven_by_the_inbox
def undo_address_change(request: HttpRequest) -> HttpResponse:
    """From the notice to the old address: put it back, and end every sign-in and passkey."""
    if "change" in request.GET:
        return _stash_address_token(request, reverse("undo_address_change"))
    token = _address_token(request)
    try:
        made = check_undo(token)
        user = made.user
        if request.method != "POST":
            context = {
                "token": token,
                "now": display_address(made.to_address),
                "before": display_address(made.from_address),
            }
            return render(request, "accounts/undo_address_change.html", context)
        undo(made)
        record(Kind.ADDRESS_CHANGED, request, user, detail="undone")
        if request.user.pk == user.pk:
            logout(request)  # its session is gone already; this also drops the cookie
        context = {"address": display_address(made.from_address)}
        response = render(request, "accounts/address_change_undone.html", context)
    except ChangeProblem as problem:
        status = HTTPStatus.GONE if problem.reason in ("expired", "used", "closed") else 400
        context = {"reason": problem.reason, "days": UNDO_DAYS}
        response = render(request, "accounts/undo_problem.html", context, status=status)
    response.delete_cookie(settings.ADDRESS_LINK_COOKIE_NAME)
    return response


def _address_problem_message(problem: ChangeProblem) -> str:
    if problem.reason == "taken":
        return _("Another account has that address now. Nothing changed.")
    if problem.reason == "cancelled":
        return _(
            "Another change of your address, made in another browser, was confirmed first, "
            "so this one was cancelled. Nothing changed here."
        )
    return _code_problem_message(problem)


@require_POST
@changes_no_way_in
def sign_out(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        log_event("signed_out", user=request.user.pk)
        record(Kind.SIGNED_OUT, request, request.user)
    # logout() deletes the session on the server, not only the cookie.
    logout(request)
    messages.success(request, _("You are signed out."))
    next_url = safe_next_url(request.POST.get("next"))
    if next_url:  # "Sign in again" before something that needs a fresh sign-in
        return HttpResponseRedirect(reverse("sign_in") + "?" + urlencode({"next": next_url}))
    return redirect("sign_in")


def rate_limited(request: HttpRequest, limited: RateLimited) -> HttpResponse:
    minutes = max(1, -(-limited.retry_after // 60))
    context = {
        "minutes": minutes,
        "scope": limited.scope,
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


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form that can no longer be sent: most often another tab signed in meanwhile."""
    if request.user.is_authenticated:
        messages.info(request, _("You are signed in."))
        return redirect("dashboard")
    return render(request, "403_csrf.html", status=HTTPStatus.FORBIDDEN)

"""Passkey pages. The browser asks for options as JSON (static/js/passkeys.js), runs the WebAuthn
ceremony, and posts the answer in an ordinary form, so every outcome is an ordinary page.

Nothing here is shown without JavaScript: the forms are `hidden` until the script finds WebAuthn.

accounts/passkeys/ceremony.py is imported by each view, not at start: py_webauthn brings
cryptography's X.509 and pyOpenSSL for attestation formats, about 16 MB per process, paid only
by a process that has served a passkey ceremony.
"""

from http import HTTPStatus
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts.client_ip import client_ip
from accounts.limits import (
    LimitsUnavailable,
    RateLimited,
    check_passkey_failures,
    check_passkey_options,
    count_passkey_failure,
)
from accounts.models import Passkey, SignInEvent
from accounts.pages import (
    changes_no_way_in,
    needs_recent_sign_in,
    proven_by_the_inbox,
    rate_limited,
    sending_unavailable,
)
from accounts.passkeys.forms import PasskeyNameForm
from accounts.passkeys.notice import RefusalProblem, announce, check_refusal
from accounts.passkeys.notice import refuse as refuse_passkey
from accounts.passkeys.staff import passkeys_locked
from accounts.records.audit import record
from accounts.records.log import log_event
from accounts.refusals import What, sentence, status_of
from accounts.sessions.lifetime import FORGET_PASSKEY
from accounts.signin.finish import sign_in_browser
from accounts.signin.forms import LoginLinkForm
from accounts.signin.link_cookie import account_link_token, stash_account_link
from accounts.signin.redirects import safe_next_url

if TYPE_CHECKING:
    from accounts.passkeys.ceremony import PasskeyProblem

Kind = SignInEvent.Kind


def _options(body: str) -> HttpResponse:
    # Private and never stored (accounts/caching.py): the challenge is for one browser only.
    return HttpResponse(body, content_type="application/json")


@require_POST
@changes_no_way_in
def sign_in_options(request: HttpRequest) -> HttpResponse:
    from accounts.passkeys import ceremony

    try:
        check_passkey_options(request)
    except RateLimited as limited:
        log_event("rate_limited", scope="passkey options", ip=client_ip(request))
        refused = JsonResponse({"error": "rate_limited"}, status=HTTPStatus.TOO_MANY_REQUESTS)
        refused["Retry-After"] = str(limited.retry_after)
        return refused
    except LimitsUnavailable:
        return JsonResponse({"error": "unavailable"}, status=HTTPStatus.SERVICE_UNAVAILABLE)
    options, sealed = ceremony.sign_in_options(
        request.COOKIES.get(settings.PASSKEY_COOKIE_NAME, "")
    )
    response = _options(options)
    # This browser's alone, for as long as the challenge lives; read only by the answer.
    response.set_cookie(
        settings.PASSKEY_COOKIE_NAME,
        sealed,
        max_age=ceremony.CHALLENGE_SECONDS,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Strict",
    )
    return response


@require_POST
@sensitive_post_parameters("credential")
@changes_no_way_in
def sign_in(request: HttpRequest) -> HttpResponse:
    from accounts.passkeys import ceremony

    next_url = safe_next_url(request.POST.get("next"))
    try:
        check_passkey_failures(request)
        passkey = ceremony.authenticate(request, request.POST.get("credential", ""))
    except RateLimited as limited:
        log_event("rate_limited", scope="passkey", ip=client_ip(request))
        return rate_limited(request, limited)
    except LimitsUnavailable:
        return sending_unavailable(request, passkey=True)
    except ceremony.PasskeyProblem as problem:
        # The cookie stays: another sign-in page in this browser may still answer its own.
        return _refused(request, problem, next_url)
    response = sign_in_browser(request, lambda: passkey.user, "passkey", next_url)
    response.delete_cookie(settings.PASSKEY_COOKIE_NAME, samesite="Strict")
    return response


def _refused(request: HttpRequest, problem: "PasskeyProblem", next_url: str) -> HttpResponse:
    try:
        count_passkey_failure(request)
    except LimitsUnavailable:
        pass  # The next attempt meets the outage in check_passkey_failures.
    log_event("passkey_refused", reason=problem.reason, ip=client_ip(request))
    record(Kind.REJECTED, request, detail="passkey")
    context = {
        "form": LoginLinkForm(initial={"next": next_url}),
        "passkey_problem": sentence(What.PASSKEY_SIGN_IN, problem.reason),
        "forget_passkey": problem.credential_id,
        "passkey_rp_id": settings.PASSKEY_RP_ID,
    }
    return render(request, "accounts/sign_in.html", context, status=HTTPStatus.BAD_REQUEST)


@require_POST
@login_required
@needs_recent_sign_in(gettext_lazy("Adding a passkey"), "account", answers_json=True)
def add_options(request: HttpRequest) -> HttpResponse:
    from accounts.passkeys import ceremony

    if passkeys_locked(request):
        return JsonResponse({"error": "passkey_sign_in_needed"}, status=HTTPStatus.FORBIDDEN)
    return _options(ceremony.registration_options(request, request.user))


def _locked(request: HttpRequest) -> HttpResponse:
    messages.error(request, _("Sign in with one of your passkeys first: then you can change them."))
    return redirect("account")


@require_POST
@login_required
@needs_recent_sign_in(gettext_lazy("Adding a passkey"), "account")
@sensitive_post_parameters("credential")
def add(request: HttpRequest) -> HttpResponse:
    from accounts.passkeys import ceremony

    if passkeys_locked(request):
        return _locked(request)
    try:
        passkey = ceremony.register(request, request.user, request.POST.get("credential", ""))
    except ceremony.PasskeyProblem as problem:
        log_event("passkey_not_added", reason=problem.reason, user=request.user.pk)
        messages.error(request, sentence(What.PASSKEY_ADD, problem.reason))
        return redirect("account")
    log_event("passkey_added", user=request.user.pk)
    record(Kind.PASSKEY_ADDED, request, request.user)
    announce(request, passkey)
    messages.success(
        request,
        _("Passkey added: “%(name)s”. Next time, sign in with it alone.") % {"name": passkey.name},
    )
    return redirect("account")


@require_POST
@login_required
@changes_no_way_in
def rename(request: HttpRequest, pk: int) -> HttpResponse:
    passkey = get_object_or_404(Passkey, pk=pk, user=request.user)
    form = PasskeyNameForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.errors["name"][0])
        return redirect("account")
    passkey.name = form.cleaned_data["name"]
    passkey.save(update_fields=["name"])
    messages.success(request, _("Passkey renamed."))
    return redirect("account")


@require_POST
@login_required
@needs_recent_sign_in(gettext_lazy("Removing a passkey"), "account")
def remove(request: HttpRequest, pk: int) -> HttpResponse:
    passkey = get_object_or_404(Passkey, pk=pk, user=request.user)
    if passkeys_locked(request):
        return _locked(request)
    passkey.delete()
    # /account/ then asks the browser to forget it too (static/js/passkeys.js).
    request.session[FORGET_PASSKEY] = urlsafe_base64_encode(bytes(passkey.credential_id))
    log_event("passkey_removed", user=request.user.pk)
    record(Kind.PASSKEY_REMOVED, request, request.user)
    messages.success(request, _("Passkey removed: “%(name)s”.") % {"name": passkey.name})
    return redirect("account")


@require_http_methods(["GET", "HEAD", "POST"])
@sensitive_post_parameters("refuse")
@never_cache
@proven_by_the_inbox
def refuse(request: HttpRequest) -> HttpResponse:
    """From the "passkey added" notice: not me. The passkey goes, and every browser with it."""
    if "refuse" in request.GET:
        return stash_account_link(request, "refuse", reverse("refuse_passkey"))
    token = account_link_token(request, "refuse")
    try:
        passkey = check_refusal(token)
        context = {"token": token, "name": passkey.name, "address": passkey.user.display_email}
        if request.method != "POST":
            return render(request, "accounts/refuse_passkey.html", context)
        refuse_passkey(passkey)
        record(Kind.PASSKEY_REMOVED, request, passkey.user, detail="by the inbox")
        if request.user.pk == passkey.user_id:
            logout(request)  # its session is gone already; this also drops the cookie
        response = render(request, "accounts/passkey_refused.html", context)
    except RefusalProblem as problem:
        status = status_of(problem.reason)
        context = {"reason": problem.reason, "days": settings.ACCOUNT_UNDO_DAYS}
        response = render(request, "accounts/refusal_problem.html", context, status=status)
    response.delete_cookie(settings.ADDRESS_LINK_COOKIE_NAME)
    return response

"""/account/ and the dashboard: this account's browsers, passkeys and activity, and
deleting (closing) and restoring the account."""

from http import HTTPStatus

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.account.deletion import RestoreProblem, check_restore, close_account, restore
from accounts.account.forms import DeleteAccountForm
from accounts.mail.owed import still_owed
from accounts.models import SignInEvent, User
from accounts.pages import changes_no_way_in, needs_recent_sign_in, proven_by_the_inbox
from accounts.passkeys.staff import passkeys_locked
from accounts.records.activity import sentence
from accounts.records.audit import device_of, record
from accounts.records.log import log_event
from accounts.refusals import status_of
from accounts.sessions.browsers import browsers_of, end, end_all_but
from accounts.sessions.lifetime import FORGET_PASSKEY
from accounts.signin.addresses import display_address
from accounts.signin.link_cookie import account_link_token, stash_account_link

Kind = SignInEvent.Kind

# How many of an account's latest events /account/ shows.
RECENT_EVENTS = 20


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
    # This browser first, then the others, most recently active first.
    browsers.sort(key=lambda browser: not browser["here"])
    _tell_apart(browsers)
    recent = [
        {
            "at": event.at,
            "what": sentence(event),
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


def _tell_apart(browsers: list[dict]) -> None:
    """Two "Chrome 131 on Linux" become "… (1)" and "… (2)": each Sign out button's accessible
    name must say which browser it signs out."""
    names = [browser["device"] for browser in browsers]
    seen: dict[str, int] = {}
    for browser in browsers:
        if names.count(browser["device"]) > 1:
            seen[browser["device"]] = seen.get(browser["device"], 0) + 1
            browser["device"] = f"{browser['device']} ({seen[browser['device']]})"


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
    elif ended := end(request.user, handle):
        device = device_of(ended.user_agent) or _("Unknown browser")
        messages.success(request, _("%(device)s is signed out.") % {"device": device})
    else:
        messages.info(request, _("That browser was already signed out."))
    log_event("browsers_ended", user=request.user.pk)
    record(Kind.BROWSER_ENDED, request, request.user)
    return redirect("account")


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@needs_recent_sign_in(gettext_lazy("Deleting your account"), "delete_account")
def delete_account(request: HttpRequest) -> HttpResponse:
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
        return stash_account_link(request, "restore", reverse("restore_account"))
    token = account_link_token(request, "restore")
    try:
        user = check_restore(token)
        context = {"token": token, "address": display_address(user.email)}
        if request.method != "POST":
            return render(request, "accounts/restore_account.html", context)
        restore(user)
        record(Kind.RESTORED, request, user)
        response = render(request, "accounts/account_restored.html", context)
    except RestoreProblem as problem:
        status = status_of(problem.reason)
        context = {"reason": problem.reason, "days": settings.ACCOUNT_UNDO_DAYS}
        response = render(request, "accounts/restore_problem.html", context, status=status)
    response.delete_cookie(settings.ADDRESS_LINK_COOKIE_NAME)
    return response

"""Changing the address (asked, proven by the new inbox) and undoing it from the old one."""

from email.utils import parseaddr
from http import HTTPStatus

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.account.address_change import (
    SESSION_KEY,
    ask_to_change,
    change,
    check_code,
    check_link,
    next_change_allowed_at,
    pending_change,
)
from accounts.account.changes import UNDO_DAYS, ChangeProblem
from accounts.account.forms import ChangeAddressForm, ConfirmAddressForm
from accounts.account.undo import check_undo, undo
from accounts.limits import (
    LimitsUnavailable,
    RateLimited,
    count_form,
)
from accounts.models import SignInEvent
from accounts.pages import (
    needs_recent_sign_in,
    proven_by_the_inbox,
    rate_limited,
    sending_unavailable,
)
from accounts.records.audit import record
from accounts.refusals import Reason, What, sentence, status_of
from accounts.signin.addresses import display_address
from accounts.signin.front_door import admit
from accounts.signin.link_cookie import account_link_token, stash_account_link
from accounts.signin.signup import signup_allowed

Kind = SignInEvent.Kind


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
                count_form(request)
                # A signed-in person, fresh from a sign-in: no proof of work, only the counts
                # (past the network's allowance, a stop: this form has no proof step).
                admit(request, new_address, "", form="change")
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
        return stash_account_link(request, "change", reverse("confirm_address_change") + "?link")
    return _confirm_address_change(request)


# The check is on the inner view, after the token has left the address bar.
confirm_address_change.changes_a_way_in = True


@needs_recent_sign_in(gettext_lazy("Changing your address"), "confirm_address_change")
def _confirm_address_change(request: HttpRequest) -> HttpResponse:
    token = (
        account_link_token(request, "change")
        if "link" in request.GET or request.method == "POST"
        else ""
    )
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
            return _link_refused(request, problem)
        if problem.reason == "cancelled":
            return _cancelled(request)
        form.add_error("code", sentence(What.ADDRESS_CODE, problem.reason, problem.tries_left))
    except LimitsUnavailable:
        return sending_unavailable(request)
    return _code_page(request, form)


def _cancelled(request: HttpRequest) -> HttpResponse:
    """Another browser's change landed first: this one is over, and the page says where the
    account stands now instead of asking for a code that can no longer change anything."""
    request.session.pop(SESSION_KEY, None)
    messages.info(request, sentence(What.ADDRESS_CODE, Reason.CANCELLED))
    return redirect("account")


def _link_refused(request: HttpRequest, problem: ChangeProblem) -> HttpResponse:
    status = status_of(problem.reason)
    context = {"reason": problem.reason}
    response = render(request, "accounts/address_link_problem.html", context, status=status)
    response.delete_cookie(settings.ADDRESS_LINK_COOKIE_NAME)
    return response


def _code_page(request: HttpRequest, form: ConfirmAddressForm) -> HttpResponse:
    """Where the code from the new inbox is typed, while a change waits for it."""
    pending = pending_change(request)
    if pending is None:
        return redirect("change_address")
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    context = {
        "form": form,
        "to": display_address(pending["to"]),
        # As the check-inbox page names it: "Latchkey (sign-in@example.com)".
        "sender": f"{name} ({address})" if name else address,
    }
    form.fields["code"].widget.attrs["autofocus"] = True  # what the person came here to do
    status = HTTPStatus.BAD_REQUEST if form.errors else HTTPStatus.OK
    return render(request, "accounts/confirm_address_code.html", context, status=status)


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
        return stash_account_link(request, "change", reverse("undo_address_change"))
    token = account_link_token(request, "change")
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
        status = status_of(problem.reason)
        context = {"reason": problem.reason, "days": UNDO_DAYS}
        response = render(request, "accounts/undo_problem.html", context, status=status)
    response.delete_cookie(settings.ADDRESS_LINK_COOKIE_NAME)
    return response

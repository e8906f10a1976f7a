"""The one "a sign-in happened" step every way in ends with: link, code or passkey."""

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import login
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from accounts.account.new_browsers import Recognised, recognise, set_device_cookie
from accounts.client_ip import client_ip
from accounts.metrics import SIGN_IN_TIME
from accounts.models import SignInEvent, User
from accounts.records.audit import record
from accounts.records.log import log_event
from accounts.sessions.browsers import note_sign_in
from accounts.sessions.lifetime import SIGNED_IN_WITH, start_session_clock
from accounts.sessions.pruning import prune_now_and_then
from accounts.sessions.store import SessionStore
from accounts.signin.codes import pending_code_issued_at
from accounts.signin.links import Reclaimed
from accounts.signin.redirects import go_to
from accounts.zones import known_zone

Kind = SignInEvent.Kind


def sign_in_browser(
    request: HttpRequest,
    claim: Callable[[], User],
    method: str,
    next_url: str,
    keep: bool = False,
    again: "Reclaimed | None" = None,
) -> HttpResponse:
    """Sign this browser in as the user `claim` returns: it spends the link or code (or names
    the passkey's owner), or raises to say why nobody is signed in.

    The claim and everything a sign-in writes (the session, its browser's row, the audit event,
    a new browser's row and notice) are one transaction: one COMMIT where there were six, and a
    sign-in that fails halfway leaves its link or code unspent rather than spent for nothing.
    `again`: the same browser's second press of one link, whose first answer was lost
    (accounts/signin/links.py, reclaim): signed in once more, counted once; the lost answer's
    session ends (nobody holds it), and its device cookie is given again rather than a new
    browser announced twice.
    """
    # When this browser asked for its email (a link opened elsewhere: not known).
    asked_at = pending_code_issued_at(request) if method != "passkey" else None
    waited = max(0, round(time.time() - asked_at)) if asked_at and not again else None
    with transaction.atomic():
        user = claim()
        # The record says "link again" for the second press: the funnel counts sign-ins once.
        detail = f"{method} again" if again else method
        if again:
            SessionStore().delete(again.lost_session)
        response = _signed_in(request, user, method, next_url, keep, waited, detail, again)
    # Told once it is true: the transaction committed. From here nothing may fail the answer:
    # the link or code is spent, and the browser must get its session.
    if not again:
        log_event("signed_in", user=user.pk, method=method, ip=client_ip(request))
    if waited is not None:
        SIGN_IN_TIME.labels(method).observe(max(0.0, time.time() - asked_at))
    _prune_without_failing()
    return response


def _prune_without_failing() -> None:
    """A sweep of old rows now and then: no part of the sign-in, so it cannot fail one."""
    try:
        prune_now_and_then()
    except DatabaseError as error:
        log_event("prune_failed", level=logging.WARNING, problem=type(error).__name__)
    except Exception:
        # A defect in the sweep: its traceback goes to the error report, the sign-in stands.
        logging.getLogger("accounts").exception("prune_failed")


def _signed_in(
    request: HttpRequest,
    user: User,
    method: str,
    next_url: str,
    keep: bool,
    waited: int | None,
    detail: str,
    again: "Reclaimed | None",
) -> HttpResponse:
    previous_sign_in = user.last_login
    # Named, because a code is no credential a backend checks: the account was proven by the
    # claim, and with more than one backend (the benchmark's, passkeys) Django must know.
    login(request, user, backend="sesame.backends.ModelBackend")
    start_session_clock(request, keep)
    request.session[SIGNED_IN_WITH] = method
    request.session["previous_sign_in"] = previous_sign_in.isoformat() if previous_sign_in else ""
    # The session's row is written once, here, with everything in it: its browser's row points
    # at it, and the save after the view finds nothing new (accounts/sessions/store.py).
    request.session.save()
    note_sign_in(request, user)
    record(Kind.SIGNED_IN, request, user, detail=detail, seconds=waited)
    if again:
        # The first press recognised (and, if new, announced) this browser: its cookie again.
        seen = Recognised(again.device or None, long_known=False)
    else:
        seen = recognise(request, user, first_sign_in=previous_sign_in is None)
    if seen.long_known:
        remember_language_and_zone(request, user)
    response = go_to(next_url)
    response.delete_cookie(settings.LOGIN_LINK_COOKIE_NAME)
    set_device_cookie(response, seen.cookie)
    return response


def remember_language_and_zone(request: HttpRequest, user: User) -> None:
    """Keep this sign-in's language and zone for the account's notices (the first sign-in's
    are kept by its claim: accounts/models/users.py). One UPDATE, only when one changed."""
    language = translation.get_language() or user.language
    zone = known_zone() or user.time_zone
    if (language, zone) != (user.language, user.time_zone):
        user.language, user.time_zone = language, zone
        User.objects.filter(pk=user.pk).update(language=language, time_zone=zone)

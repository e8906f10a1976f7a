"""Where an account is signed in, and ending those sign-ins from another browser.

Sessions live in PostgreSQL only (no cache in front), so deleting a session row signs that
browser out on its next request, on every machine. A SignedInBrowser row per session, keyed by
account, lists them without reading every session; it goes when its session goes.
"""

import hashlib
import re
import secrets
from contextlib import suppress
from enum import StrEnum

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import SignedInBrowser, User
from accounts.records.audit import origin_of

# What secrets.token_urlsafe(12) gives a browser as its handle.
HANDLE = re.compile(r"[A-Za-z0-9_-]{1,32}")
# Last activity is written at most this often: a page view must not always write.
ACTIVITY_GRANULARITY = 60


def note_sign_in(request: HttpRequest, user: User) -> None:
    """Remember this browser's new session (called right after login(), which made it)."""
    SignedInBrowser.objects.create(
        session_id=request.session.session_key,
        user=user,
        handle=secrets.token_urlsafe(12),
        **origin_of(request),
    )


def note_activity(request: HttpRequest) -> None:
    """Move this browser's last activity on; list it if it was signed in before the list existed."""
    key = request.session.session_key
    if key and not SignedInBrowser.objects.filter(session_id=key).update(
        last_active=timezone.now()
    ):
        if Session.objects.filter(pk=key).exists():
            note_sign_in(request, request.user)


def browsers_of(user: User) -> list[SignedInBrowser]:
    return list(SignedInBrowser.objects.filter(user=user).order_by("-last_active"))


def end(user: User, handle: str) -> SignedInBrowser | None:
    """Sign out the user's browser with this handle; the browser it was, None if there is none."""
    if not HANDLE.fullmatch(handle):
        return None  # no handle we gave out (a NUL byte once reached PostgreSQL: a 500)
    browser = SignedInBrowser.objects.filter(user=user, handle=handle).first()
    if browser is None:
        return None
    Session.objects.filter(pk=browser.session_id).delete()  # takes its row with it
    _remember_why([browser.session_id], Why.ANOTHER_BROWSER)
    return browser


def end_all_but(request: HttpRequest) -> int:
    """Sign out every other browser of this account; how many."""
    return end_all(request.user, but=request.session.session_key)


def end_all(user: User, but: str | None = None, why: "Why | None" = None) -> int:
    """Sign out every browser of this account (but the session `but`); how many. `why` is what
    each of them is told on its next page (another browser of theirs, if not said)."""
    browsers = SignedInBrowser.objects.filter(user=user).exclude(session_id=but)
    sessions = list(browsers.values_list("session_id", flat=True))
    Session.objects.filter(pk__in=sessions).delete()  # their browsers' rows go with them
    _remember_why(sessions, why or Why.ANOTHER_BROWSER)
    return len(sessions)


class Why(StrEnum):
    """Why a browser was signed out from elsewhere: it says so on its next page, once."""

    ANOTHER_BROWSER = "another_browser"
    UNDONE = "undone"  # the old inbox undid a change of address
    DELETED = "deleted"
    PASSKEY_REFUSED = "passkey_refused"  # the inbox's "not me" on a passkey notice


def _remember_why(sessions: list[str], why: Why) -> None:
    # Kept by the session key's digest (the key itself is a credential until its row is gone),
    # as long as the cookie could live. Best effort: without Redis the page simply says nothing.
    keys = {_why_key(session): str(why) for session in sessions}
    with suppress(Exception):
        cache.set_many(keys, timeout=settings.SESSION_MAX_AGE)


def why_signed_out(session_key: str) -> Why | None:
    """Why the session with this cookie was ended elsewhere, once; None if it was not."""
    key = _why_key(session_key)
    with suppress(Exception):
        why = cache.get(key)
        if why is not None:
            cache.delete(key)
            return Why(why)
    return None


def _why_key(session_key: str) -> str:
    return "signed-out:" + hashlib.sha256(session_key.encode()).hexdigest()

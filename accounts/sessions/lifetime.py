"""How long a sign-in lasts: ended after a while without use, and after a while in any case.

Django's own SESSION_COOKIE_AGE gives one of the two, and only by rewriting the session on every
request. Here the session remembers when it began and when it was last used (rewritten at most
once a minute), and this middleware ends it, on the server, when either limit has passed.
"""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.records.log import log_event
from accounts.sessions.browsers import ACTIVITY_GRANULARITY, Why, note_activity, why_signed_out

SIGNED_IN_AT = "signed_in_at"
LAST_SEEN_AT = "last_seen_at"
# Set when the person chose "Keep me signed in on this device" as they signed in.
KEPT = "kept_signed_in"
# How this session signed in: "link", "code" or "passkey" (STAFF_REQUIRE_PASSKEY reads it).
SIGNED_IN_WITH = "signed_in_with"
# A removed passkey's ID, for the next /account/ page to ask the browser to forget it.
FORGET_PASSKEY = "passkey_to_forget"


SIGNED_OUT_BECAUSE = {
    # Not "another of your browsers": the server cannot know it was the owner's.
    Why.ANOTHER_BROWSER: gettext_lazy(
        "This browser was signed out from another browser signed in to your account. If that "
        "was not you, sign in and look at where you are signed in."
    ),
    Why.UNDONE: gettext_lazy(
        "You were signed out: a change of your address was undone from its old inbox."
    ),
    Why.DELETED: gettext_lazy("You were signed out: your account was deleted."),
    Why.PASSKEY_REFUSED: gettext_lazy(
        "You were signed out: a passkey was refused from the email about it, which signs out "
        "every browser."
    ),
}


def start_session_clock(request: HttpRequest, keep: bool = False) -> None:
    now = int(time.time())
    request.session[SIGNED_IN_AT] = now
    request.session[LAST_SEEN_AT] = now
    if keep:
        request.session[KEPT] = True


def keep_days() -> int:
    """How long "Keep me signed in" keeps a browser: the absolute session lifetime, in days."""
    return max(1, settings.SESSION_MAX_AGE // (24 * 60 * 60))


def session_lifetime_middleware(get_response):
    def middleware(request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = int(time.time())
            signed_in_at = request.session.setdefault(SIGNED_IN_AT, now)
            last_seen_at = request.session.setdefault(LAST_SEEN_AT, now)
            # Kept: no idle limit short of the absolute one, which still ends every sign-in.
            idle_limit = (
                settings.SESSION_MAX_AGE
                if request.session.get(KEPT)
                else settings.SESSION_IDLE_TIMEOUT
            )
            idle = now - last_seen_at > idle_limit
            too_old = now - signed_in_at > settings.SESSION_MAX_AGE
            if idle or too_old:
                user_id = request.user.pk
                logout(request)
                log_event("session_expired", user=user_id, reason="idle" if idle else "max_age")
                messages.info(request, _("You were signed out after a while. Sign in again."))
            elif now - last_seen_at > ACTIVITY_GRANULARITY:
                request.session[LAST_SEEN_AT] = now
                note_activity(request)
        elif (
            cookie := request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        ) and request.session.is_empty():
            # A session cookie with no session behind it: ended from elsewhere, or long ago.
            # SessionMiddleware drops the cookie on this response, so this is asked once.
            if why := why_signed_out(cookie):
                messages.info(request, SIGNED_OUT_BECAUSE[why])
        return get_response(request)

    return middleware

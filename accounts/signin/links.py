"""Making and redeeming sign-in links (accounts/mail/delivery.py mails them).

Links for existing accounts carry django-sesame's tokens. An address with no account yet gets
no account when it asks: anyone could fill the user table with addresses nobody confirmed. Its
link carries a signup token instead, made with Django's signing framework (salted, timestamped,
valid for LOGIN_LINK_MAX_AGE), and the account is created when that link, or its code, is
confirmed: exactly once, by the unique index on the address. Both kinds travel in the `sesame`
parameter and are told apart by their alphabet: a signup token's parts are joined with ".",
which django-sesame's URL-safe base64 never contains.
"""

import hashlib
from datetime import timedelta
from typing import NamedTuple
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.urls import reverse
from redis.exceptions import RedisError
from sesame.utils import get_token, get_user

from accounts.models import User
from accounts.signin.redirects import seal_next_url
from accounts.signin.signup import create_account, signup_allowed

# A token made for signing in is useless anywhere else, and tokens made elsewhere are useless here.
LOGIN_SCOPE = "accounts:login"

# Only used to tell "expired" from "invalid": a genuine token older than the limit.
EXPIRED_LOOKBACK = timedelta(days=365)


class LinkProblem(Exception):
    """A link that cannot sign anyone in, and why: invalid, expired or used.

    `user` is the account of an expired link, so that its page can offer a new email for it.
    """

    def __init__(self, reason: str, user: User | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.user = user


# Signup tokens: salted apart from everything else Django signs, parts joined with ".".
SIGNUP_SALT = "accounts.signup"
SIGNUP_SEPARATOR = "."


def find_account(address: str) -> User | None:
    """Whom a link for this address would sign in, or None if nobody may.

    An existing, active account; or, where the signup policy lets this address in and no
    account has it yet, an unsaved User: its link and code create the account when confirmed.
    """
    user = User.objects.filter(email=address).first()
    if user is not None:
        return user if user.is_active else None
    return User(email=address) if signup_allowed(address) else None


def build_login_link(user: User, next_url: str = "") -> str:
    """The absolute link to the confirm page, on SITE_URL, never on the request's Host."""
    if user.pk is None:
        token = _signup_signer().sign_object({"email": user.email})
    else:
        token = get_token(user, scope=LOGIN_SCOPE)
    query = {"sesame": token}
    if next_url:
        query["next"] = seal_next_url(next_url, token)
    return settings.SITE_URL + reverse("confirm_link") + "?" + urlencode(query)


def check_login_link(token: str) -> User:
    """The user a link signs in, without using it up; raise LinkProblem if it cannot.

    For a signup link, an unsaved User: the account does not exist until the claim.
    """
    if SIGNUP_SEPARATOR in token:
        return User(email=_signup_address(token))
    user = get_user(token, scope=LOGIN_SCOPE, update_last_login=False)
    if user is None:
        raise _diagnose(token)
    return user


def claim_login_link(token: str) -> User:
    """Use the link up and return its user; of many simultaneous claims exactly one wins."""
    if SIGNUP_SEPARATOR in token:
        address = _signup_address(token)
        _remember_used(token)
        user = create_account(address)
        if user is None or not User.objects.claim(user, None):
            raise LinkProblem("used")
        return user
    user = check_login_link(token)
    # Remembered first, so that a request losing the race can already say "used".
    _remember_used(token)
    if not User.objects.claim(user, user.last_login):
        raise LinkProblem("used")
    return user


def _signup_signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SIGNUP_SALT, sep=SIGNUP_SEPARATOR)


def _signup_address(token: str) -> str:
    """The address a signup link proves, while it has no account yet and may sign up."""
    try:
        signed = _signup_signer().unsign_object(token, max_age=settings.LOGIN_LINK_MAX_AGE)
        address = signed["email"]
    except signing.SignatureExpired:
        expired = _signup_signer().unsign_object(token)["email"]
        raise LinkProblem("expired", user=User(email=expired)) from None
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise LinkProblem("invalid") from None
    if User.objects.filter(email=address).exists():
        raise LinkProblem("used")  # its account was created: by this link, or a newer one
    if not signup_allowed(address):
        raise LinkProblem("invalid")
    return address


def _diagnose(token: str) -> LinkProblem:
    if _was_used(token):
        return LinkProblem("used")
    expired = get_user(token, scope=LOGIN_SCOPE, max_age=EXPIRED_LOOKBACK, update_last_login=False)
    if expired:
        return LinkProblem("expired", user=expired)
    return LinkProblem("invalid")


def _used_key(token: str) -> str:
    # Only a digest is stored: the cache never holds a token that could be replayed.
    return "accounts:used-link:" + _digest(token)


def _remember_used(token: str) -> None:
    try:
        cache.set(_used_key(token), True, timeout=settings.LOGIN_LINK_MAX_AGE)
    except RedisError:
        pass  # Only the wording of a later error page depends on it.


def _was_used(token: str) -> bool:
    try:
        return bool(cache.get(_used_key(token)))
    except RedisError:
        return False


# --- A second press of Sign in, from the browser whose first answer was lost -------------------

# How long after a claim the same browser may press Sign in again and still be signed in.
SECOND_PRESS_WINDOW = 120


def remember_claim(
    token: str, browser: str, user: User, session_key: str, device: str | None
) -> None:
    """Note which browser claimed this link, its new session and its device cookie, so that a
    repeated press from it is recognised while that session lasts.

    On a slow network a person presses Sign in twice: the browser drops the first answer (the
    one with the new session) and shows the second, which finds the link used. `browser` is a
    random value in a cookie this browser got when it opened the link: another browser holding
    the same link does not have it. Only a digest of the session key is kept; the device cookie
    the lost answer carried is kept as it is, for the second answer to carry instead of a new
    one (a second "new browser" notice for one browser would read like an intruder).
    """
    if not browser:
        return
    remembered = (_digest(browser), user.pk, _digest(session_key), device or "")
    try:
        cache.set(_claim_key(token), remembered, timeout=SECOND_PRESS_WINDOW)
    except RedisError:
        pass  # The second press then says "used", as it did before.


class Reclaimed(NamedTuple):
    user: User
    # The session the lost answer carried: nobody holds it, so the second press ends it.
    lost_session: str
    # The device cookie the lost answer carried ("" if the browser had one already).
    device: str


def reclaim(token: str, browser: str) -> Reclaimed | None:
    """The user a used link signed in, if this same browser claimed it moments ago and the
    session it got then still exists: a press after "sign out other browsers", or after an
    undone address change, must not sign that browser in again."""
    try:
        remembered = cache.get(_claim_key(token))
    except RedisError:
        return None
    if not browser or not remembered or len(remembered) != 4 or remembered[0] != _digest(browser):
        return None
    user = User.objects.filter(pk=remembered[1], is_active=True).first()
    sessions = user.browsers.values_list("session_id", flat=True) if user else []
    lost = next((key for key in sessions if _digest(key) == remembered[2]), None)
    return Reclaimed(user, lost, remembered[3]) if lost else None


def _claim_key(token: str) -> str:
    return "accounts:claimed-link:" + _digest(token)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()

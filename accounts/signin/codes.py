"""Six-digit codes beside every emailed link: they sign in the browser that asked, and no other.

A person often asks on a laptop and reads the mail on a phone. The link signs in whatever opens
it; the code, typed on the laptop, signs in the laptop. Nothing a mail scanner does can use a
code: it has to be typed into the page of the browser that asked.

- The code is never stored. It is derived from the random id of the request for the email
  (a SignInEmail row) with Django's salted HMAC and SECRET_KEY: the worker that mails it and
  the page that checks it compute the same six digits, a retried email carries the same code,
  and without SECRET_KEY nothing in the task queue or the database tells the code. Only the
  asking browser's session names the request: another browser has nothing to check against.
- Wrong tries are counted in Redis with one atomic INCR per try, per request for an email, so
  of 30 simultaneous guesses at most LOGIN_CODE_MAX_ATTEMPTS are judged, on any number of
  machines and threads. Wrong codes for one address are also capped per day, whichever browser
  asked (RATE_LIMIT_CODE_FAILURES_PER_ADDRESS), so asking again and again buys few guesses.
- The claim is the link's claim: one conditional UPDATE of last_login, so a code and a link of
  one email cannot both sign in, and any sign-in ends every older code and link.
- A newer email from the same browser replaces the session's code.

Addresses without an account get a request too, for a code never sent: a typed code is then
answered exactly as a wrong one is, so the page says nothing about who has an account.
"""

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare, salted_hmac
from redis.exceptions import RedisError

from accounts.limits import LimitsUnavailable, code_guessing_allowed, count_wrong_code
from accounts.models import SignInEmail, User
from accounts.signin.signup import create_account, signup_allowed

SESSION_KEY = "login_code"
DIGITS = 6


class CodeProblem(Exception):
    """A typed code that signs no one in: wrong (with tries left), exhausted, expired, used."""

    def __init__(self, reason: str, tries_left: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tries_left = tries_left


def issue_code(request: HttpRequest, email: SignInEmail) -> None:
    """Tie the code of this email to this browser, replacing any older one."""
    request.session[SESSION_KEY] = {
        "request": email.id,
        "address": email.address,
        "issued_at": int(email.requested_at.timestamp()),
    }


def code_for(request_id: str, secret: str | None = None) -> str:
    """The six digits of one request's email: a keyed hash of its id, cut down as HOTP does."""
    keyed = salted_hmac("accounts.login_codes", request_id, secret=secret, algorithm="sha256")
    return f"{int.from_bytes(keyed.digest()) % 10**DIGITS:0{DIGITS}d}"


def grouped(code: str) -> str:
    """381604 as people read it: 381 604."""
    return f"{code[:3]} {code[3:]}"


def pending_code_issued_at(request: HttpRequest) -> int | None:
    """When this browser asked for its latest email (a Unix time), if it has one."""
    pending = request.session.get(SESSION_KEY)
    return pending["issued_at"] if pending else None


def pending_request(request: HttpRequest) -> str | None:
    """The id of the email this browser asked for last, if any."""
    pending = request.session.get(SESSION_KEY)
    return pending["request"] if pending else None


def claim_code(request: HttpRequest, typed: str) -> User:
    """The user this browser's code signs in, used up; raise CodeProblem if it signs no one."""
    pending = request.session.get(SESSION_KEY)
    if not pending:
        raise CodeProblem("none")
    if time.time() - pending["issued_at"] > settings.LOGIN_LINK_MAX_AGE:
        raise CodeProblem("expired")
    tries = count_try(pending["request"])
    if tries > settings.LOGIN_CODE_MAX_ATTEMPTS or not code_guessing_allowed(pending["address"]):
        raise CodeProblem("exhausted")
    email = SignInEmail.objects.filter(pk=pending["request"]).select_related("user").first()
    # A code for nobody (no account, or not handed to the mail server yet) is answered exactly
    # as a wrong one. Whom it is for is written down before the email leaves.
    for_someone = email is not None and (email.user_id is not None or email.signup)
    if not (code_matches(pending["request"], typed) and for_someone):
        count_wrong_code(pending["address"])
        raise CodeProblem("wrong", tries_left=settings.LOGIN_CODE_MAX_ATTEMPTS - tries)
    if email.signup:
        return _claim_signup(request, pending["address"])
    user = email.user
    # A code mailed to an address the account no longer has dies with it, as its link does
    # (SESAME_INVALIDATE_ON_EMAIL_CHANGE): else one asked for before a change, or before an
    # undone one, still signed in whoever read it at the address the account left.
    if user is None or not user.is_active or user.email != email.address:
        raise CodeProblem("used")
    if not User.objects.claim(user, email.user_last_login):
        raise CodeProblem("used")
    _spend(request)
    return user


def _claim_signup(request: HttpRequest, address: str) -> User:
    user = create_account(address) if signup_allowed(address) else None
    # Its first claim, like any other: last_login moves from nothing to now.
    if user is None or not User.objects.claim(user, None):
        raise CodeProblem("used")
    _spend(request)
    return user


def _spend(request: HttpRequest) -> None:
    """The code is used: this browser forgets it."""
    request.session.pop(SESSION_KEY)


def code_matches(request_id: str, typed: str) -> bool:
    # Codes mailed before a key rotation still work under SECRET_KEY_FALLBACKS.
    secrets = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return any(constant_time_compare(typed, code_for(request_id, secret)) for secret in secrets)


def count_try(request_id: str) -> int:
    key = f"accounts:code-tries:{request_id}"
    try:
        cache.add(key, 0, timeout=settings.LOGIN_LINK_MAX_AGE)
        return cache.incr(key)
    except RedisError as error:
        raise LimitsUnavailable from error

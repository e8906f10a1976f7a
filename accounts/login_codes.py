"""Six-digit codes beside every emailed link: they sign in the browser that asked, and no other.

A person often asks on a laptop and reads the mail on a phone. The link signs in whatever opens
it; the code, typed on the laptop, signs in the laptop. Nothing a mail scanner does can use a
code: it has to be typed into the page of the browser that asked.

- The code lives in the asking browser's session, as a keyed hash (Django's salted HMAC with
  SECRET_KEY), never in clear and never in a log. Another browser has nothing to check against.
- Wrong tries are counted in Redis with one atomic INCR per try, per request for an email, so
  of 30 simultaneous guesses at most LOGIN_CODE_MAX_ATTEMPTS are judged, on any number of
  machines and threads. Wrong codes for one address are also capped per day, whichever browser
  asked (RATE_LIMIT_CODE_FAILURES_PER_ADDRESS), so asking again and again buys few guesses.
- The claim is the link's claim: one conditional UPDATE of last_login, so a code and a link of
  one email cannot both sign in, and any sign-in ends every older code and link.
- A newer email from the same browser replaces the session's code.

Addresses without an account get a code record too, for a code never sent: a typed code is
then answered exactly as a wrong one is, so the page says nothing about who has an account.
"""

import secrets
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.dateparse import parse_datetime
from redis.exceptions import RedisError

from accounts.models import User
from accounts.rate_limits import LimitsUnavailable, code_guessing_allowed, count_wrong_code
from accounts.signup import create_account, signup_allowed

SESSION_KEY = "login_code"
DIGITS = 6


class CodeProblem(Exception):
    """A typed code that signs no one in: wrong (with tries left), exhausted, expired, used."""

    def __init__(self, reason: str, tries_left: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tries_left = tries_left


def issue_code(request: HttpRequest, address: str, user: User | None) -> str:
    """A new code for this browser, replacing any older one; the code itself, to be mailed."""
    code = f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"
    request_id = secrets.token_urlsafe(16)
    request.session[SESSION_KEY] = {
        "request": request_id,
        "hash": _hash(request_id, code),
        "address": address,
        "user": user.pk if user else None,
        # An address that may sign up: the right code creates its account.
        "signup": user is not None and user.pk is None,
        "last_login": user.last_login.isoformat() if user and user.last_login else "",
        "issued_at": int(time.time()),
    }
    return code


def grouped(code: str) -> str:
    """381604 as people read it: 381 604."""
    return f"{code[:3]} {code[3:]}"


def pending_code_issued_at(request: HttpRequest) -> int | None:
    """When this browser's code was mailed (a Unix time), if it has one."""
    pending = request.session.get(SESSION_KEY)
    return pending["issued_at"] if pending else None


def claim_code(request: HttpRequest, typed: str) -> User:
    """The user this browser's code signs in, used up; raise CodeProblem if it signs no one."""
    pending = request.session.get(SESSION_KEY)
    if not pending:
        raise CodeProblem("none")
    if time.time() - pending["issued_at"] > settings.LOGIN_LINK_MAX_AGE:
        raise CodeProblem("expired")
    tries = _count_try(pending["request"])
    if tries > settings.LOGIN_CODE_MAX_ATTEMPTS or not code_guessing_allowed(pending["address"]):
        raise CodeProblem("exhausted")
    if not constant_time_compare(_hash(pending["request"], typed), pending["hash"]):
        count_wrong_code(pending["address"])
        raise CodeProblem("wrong", tries_left=settings.LOGIN_CODE_MAX_ATTEMPTS - tries)
    if pending["signup"]:
        return _claim_signup(request, pending["address"])
    user = User.objects.filter(pk=pending["user"], is_active=True).first()
    seen = parse_datetime(pending["last_login"]) if pending["last_login"] else None
    if user is None or not User.objects.claim(user, seen):
        raise CodeProblem("used")
    del request.session[SESSION_KEY]
    return user


def _claim_signup(request: HttpRequest, address: str) -> User:
    user = create_account(address) if signup_allowed(address) else None
    if user is None:
        raise CodeProblem("used")
    del request.session[SESSION_KEY]
    return user


def _hash(request_id: str, code: str) -> str:
    keyed = salted_hmac("accounts.login_codes", f"{request_id}:{code}", algorithm="sha256")
    return keyed.hexdigest()


def _count_try(request_id: str) -> int:
    key = f"accounts:code-tries:{request_id}"
    try:
        cache.add(key, 0, timeout=settings.LOGIN_LINK_MAX_AGE)
        return cache.incr(key)
    except RedisError as error:
        raise LimitsUnavailable from error

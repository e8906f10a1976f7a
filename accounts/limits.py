"""How often one address, or one client, may ask for a sign-in link (`limits`, moving window).

A moving window keeps the time of each accepted request, so "3 per 15 minutes" holds for every
15 minutes, not per fixed window: django-ratelimit's fixed windows let 6 emails through in a
second across a window boundary. The counters live in Redis, shared by every machine.
"""

import functools
import math
import re
import time

from django.conf import settings
from django.http import HttpRequest
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError

from accounts.client_ip import client_ip

UNIT_SECONDS = {"s": 1, "m": 60, "h": 60 * 60, "d": 24 * 60 * 60}


class RateLimited(Exception):
    """Past a limit; `scope` says which: "address" (this inbox) or "network" (this client IP)."""

    def __init__(self, retry_after: int, scope: str) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after
        self.scope = scope


class LimitsUnavailable(Exception):
    """The store holding the counters cannot be reached, so nothing may be sent."""


def check_client_limit(request: HttpRequest) -> None:
    """Count this request against its client IP; raise RateLimited past the limit."""
    _count(rate(settings.RATE_LIMIT_PER_IP), "login-link:ip", client_ip(request), "network")


def check_address_limit(address: str) -> None:
    """Count one more email to this address; raise RateLimited past the limit."""
    _count(rate(settings.RATE_LIMIT_PER_ADDRESS), "login-link:address", address, "address")


def forgive_address(address: str) -> None:
    """After a send that failed: the address's window starts again.

    The email never left, so it must not count against the person. `limits` can clear a window
    but not take back one hit, so earlier emails are forgiven too; the per-IP limit still holds,
    and a mail server that refuses an address every time delivers nothing to flood it with.
    """
    try:
        _limiter().clear(rate(settings.RATE_LIMIT_PER_ADDRESS), "login-link:address", address)
    except (StorageError, RedisError):
        pass  # The person waits out the window instead.


def code_guessing_allowed(address: str) -> bool:
    """Whether wrong codes for this address are still under their daily limit (counts nothing)."""
    item = rate(settings.RATE_LIMIT_CODE_FAILURES_PER_ADDRESS)
    try:
        return _limiter().test(item, "login-code:failures", address)
    except (StorageError, RedisError) as error:
        raise LimitsUnavailable from error


def count_wrong_code(address: str) -> None:
    """Count one wrong code for this address, across every request for an email."""
    item = rate(settings.RATE_LIMIT_CODE_FAILURES_PER_ADDRESS)
    try:
        _limiter().hit(item, "login-code:failures", address)
    except (StorageError, RedisError) as error:
        raise LimitsUnavailable from error


def check_passkey_failures(request: HttpRequest) -> None:
    """Before a passkey sign-in: raise RateLimited if this client IP failed too often lately.

    Failures count against RATE_LIMIT_PER_IP, as requests for links do; successes count nothing.
    """
    item = rate(settings.RATE_LIMIT_PER_IP)
    _count(item, "passkey:failures", client_ip(request), "network", hit=False)


def check_passkey_options(request: HttpRequest) -> None:
    """Count a request for passkey sign-in options against RATE_LIMIT_PER_IP: each one makes
    and signs a challenge, work nobody should be able to ask for without end."""
    _count(rate(settings.RATE_LIMIT_PER_IP), "passkey:options", client_ip(request), "network")


def count_passkey_failure(request: HttpRequest) -> None:
    try:
        _limiter().hit(rate(settings.RATE_LIMIT_PER_IP), "passkey:failures", client_ip(request))
    except (StorageError, RedisError) as error:
        raise LimitsUnavailable from error


def limits_are_checkable() -> bool:
    """Whether the store behind the counters answers right now."""
    try:
        return _limiter().storage.check()
    except (StorageError, RedisError):
        return False


@functools.cache
def rate(text: str) -> RateLimitItem:
    """ "3/15m" (config/settings.py checks the shape) as a `limits` item: 3 per 900 seconds."""
    count, period = text.split("/")
    number, unit = re.fullmatch(r"(\d*)([smhd])", period).groups()
    return RateLimitItemPerSecond(int(count), int(number or 1) * UNIT_SECONDS[unit])


@functools.cache
def _limiter() -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(_storage(settings.REDIS_URL))


def _storage(redis_url: str) -> Storage:
    if not redis_url:
        return MemoryStorage()  # development: one process, nothing to share
    # Short timeouts: when Redis is gone, the page says so within a second.
    return RedisStorage(
        redis_url,
        key_prefix="latchkey-limits",
        wrap_exceptions=True,
        socket_connect_timeout=0.5,
        socket_timeout=0.5,
    )


def _count(item: RateLimitItem, group: str, key: str, scope: str, hit: bool = True) -> None:
    """Raise RateLimited past the limit; with hit=False, look without counting."""
    try:
        if (_limiter().hit if hit else _limiter().test)(item, group, key):
            return
        reset_at, _ = _limiter().get_window_stats(item, group, key)
    except (StorageError, RedisError) as error:
        raise LimitsUnavailable from error
    raise RateLimited(retry_after=max(1, math.ceil(reset_at - time.time())), scope=scope)

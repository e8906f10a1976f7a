"""How often one address, or one network, may be sent a sign-in email (`limits`, moving window).

A moving window keeps the time of each accepted request, so "3 per 15 minutes" holds for every
15 minutes, not per fixed window: django-ratelimit's fixed windows let 6 emails through in a
second across a window boundary. The counters live in Redis, shared by every machine.

A network is what one customer holds: an IPv4 address, or an IPv6 /64 (RATE_LIMIT_IPV6_PREFIX):
every IPv6 customer can pick any of 2^64 addresses, so counting IPv6 addresses one by one counted
one attacker as billions of networks. A wider /48 tier at a larger allowance holds across /64s
(Zulip, Authelia, caddy-ratelimit and go-chi's httprate bucket IPv6 the same way). Only sends
count against a network's allowance: an empty form, a typo or a "did you mean?" step costs the
crowded office nothing; they count on a separate, generous cap against form spam.
"""

import functools
import ipaddress
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


def network_of(ip: str) -> str:
    """The network one customer holds: an IPv4 address (an IPv4-mapped IPv6 address counts as
    its IPv4), or the IPv6 /RATE_LIMIT_IPV6_PREFIX around an IPv6 one."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and (inside := _ipv4_inside(address)):
        return str(inside)
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    prefix = settings.RATE_LIMIT_IPV6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _ipv4_inside(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries, where it is that host's (found 2026-12-06: a 6to4
    address gave an IPv4 host a second allowance): mapped, 6to4, Teredo's client, NAT64."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def wide_network_of(ip: str) -> str | None:
    """The /48 around an IPv6 address (a site's allocation); None for IPv4."""
    network = network_of(ip)
    if ":" not in network:
        return None
    return str(ipaddress.ip_network(f"{network.split('/')[0]}/48", strict=False))


def count_form(request: HttpRequest) -> None:
    """Count any submission of a form that may send mail, sent or not; RateLimited past the
    generous cap against form spam."""
    item = rate(settings.RATE_LIMIT_FORMS_PER_IP)
    count(item, "forms:network", network_of(client_ip(request)), "network")


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
    count(item, "passkey:failures", network_of(client_ip(request)), "network", hit=False)


def check_passkey_options(request: HttpRequest) -> None:
    """Count a request for passkey sign-in options against the generous cap on forms
    (RATE_LIMIT_FORMS_PER_IP): each one makes and signs a challenge, work nobody should be able
    to ask for without end, but every sign-in page asks for one (autofill), and a crowded
    office's 31st page must still offer passkeys."""
    item = rate(settings.RATE_LIMIT_FORMS_PER_IP)
    count(item, "passkey:options", network_of(client_ip(request)), "network")


def count_passkey_failure(request: HttpRequest) -> None:
    try:
        item = rate(settings.RATE_LIMIT_PER_IP)
        _limiter().hit(item, "passkey:failures", network_of(client_ip(request)))
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


def count(
    item: RateLimitItem,
    group: str,
    key: str,
    scope: str,
    hit: bool = True,
    quiet: bool = False,
) -> None:
    """Raise RateLimited past the limit; with hit=False, look without counting; with quiet,
    count if there is room and say nothing if there is none."""
    try:
        if (_limiter().hit if hit else _limiter().test)(item, group, key) or quiet:
            return
        reset_at, _ = _limiter().get_window_stats(item, group, key)
    except (StorageError, RedisError) as error:
        raise LimitsUnavailable from error
    raise RateLimited(retry_after=max(1, math.ceil(reset_at - time.time())), scope=scope)


def took(item: RateLimitItem, group: str, key: str) -> bool:
    """Count one, in one atomic step, if there is room; whether there was."""
    try:
        return _limiter().hit(item, group, key)
    except (StorageError, RedisError) as error:
        raise LimitsUnavailable from error


def remaining(item: RateLimitItem, group: str, key: str) -> int:
    """How many more this window allows."""
    try:
        return _limiter().get_window_stats(item, group, key).remaining
    except (StorageError, RedisError) as error:
        raise LimitsUnavailable from error


def scaled(item: RateLimitItem, factor: int) -> RateLimitItem:
    """The same window, `factor` times the amount."""
    return RateLimitItemPerSecond(item.amount * factor, item.get_expiry())

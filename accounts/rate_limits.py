"""How often one address, or one client, may ask for a sign-in link (django-ratelimit)."""

import math

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class LimitsUnavailable(Exception):
    """The cache holding the counters cannot be reached, so nothing may be sent."""


def check_client_limit(request: HttpRequest) -> None:
    """Count this request against its client IP; raise RateLimited past the limit."""
    _count(request, group="login-link:ip", key="ip", rate=settings.RATE_LIMIT_PER_IP)


def check_address_limit(request: HttpRequest, address: str) -> None:
    """Count one more email to this address; raise RateLimited past the limit."""
    _count(
        request,
        group="login-link:address",
        key=lambda group, request: address,
        rate=settings.RATE_LIMIT_PER_ADDRESS,
    )


def limits_are_checkable() -> bool:
    """Whether the cache behind the counters answers right now."""
    try:
        caches[settings.RATELIMIT_USE_CACHE].get("accounts:availability")
    except RedisError:
        return False
    return True


def _count(request: HttpRequest, *, group: str, key, rate: str) -> None:
    try:
        usage = get_usage(request, group=group, key=key, rate=rate, increment=True)
    except RedisError as error:
        raise LimitsUnavailable from error
    if usage is None:  # RATELIMIT_ENABLE = False
        return
    if usage["limit"] == 0:
        # django-ratelimit's answer when it could not read or write the counter.
        raise LimitsUnavailable
    if usage["should_limit"]:
        raise RateLimited(retry_after=max(1, math.ceil(usage["time_left"])))

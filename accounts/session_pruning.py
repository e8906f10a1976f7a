"""Expired sessions are deleted from the database now and then, by the app itself.

Django leaves expired rows until someone runs `clearsessions`, and nothing in production ran
it, so the table grew forever. A cron job would be one more thing to deploy on fly.io; here
the first sign-in of each hour, on any machine, deletes what has expired (one indexed
DELETE on expire_date). With no sign-ins, no sessions are created either.
"""

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from redis.exceptions import RedisError

PRUNED_KEY = "accounts:sessions-pruned"


def prune_expired_sessions_now_and_then() -> None:
    try:
        due = cache.add(PRUNED_KEY, True, timeout=settings.SESSION_PRUNE_INTERVAL)
    except RedisError:
        return  # The next sign-in will try again.
    if due:
        SessionStore.clear_expired()

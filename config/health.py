"""Is this machine able to serve? Answered before anything else in the stack.

- GET /healthz is what fly.io checks. fly stops routing to a machine whose check fails, so it
  fails only when the machine cannot serve signed-in people: when the database does not answer.
  A Redis outage only stops new links (the sign-in page says so); were it to fail this check,
  it would take every machine out of service at once.
- GET /healthz/full is for people and monitors: the database, Redis, whether Redis may evict
  keys, and whether sign-in mail is leaving. With an eviction policy, rate-limit counters can
  vanish under memory pressure, and the limits with them; an email due for three minutes means
  no process is sending mail. Both are worth a 503 and an alert.

fly.io's checker connects over the private network with the machine's own IP as Host, so this
runs ahead of host validation and the HTTPS redirect. It says nothing secret: a word per part.
"""

from collections.abc import Callable
from datetime import timedelta

from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from redis.exceptions import RedisError

HEALTH_PATH = "/healthz"
FULL_HEALTH_PATH = "/healthz/full"
# The only policy under which Redis never drops a key before it expires (volatile-* policies
# drop keys that have a TTL, which every counter has).
SAFE_EVICTION_POLICIES = {"noeviction"}


def health_check_middleware(get_response: Callable[[HttpRequest], HttpResponse]):
    def middleware(request: HttpRequest) -> HttpResponse:
        if request.path_info == HEALTH_PATH:
            checks = {"database": database_state}
        elif request.path_info == FULL_HEALTH_PATH:
            checks = {
                "database": database_state,
                "cache": cache_state,
                "eviction": eviction,
                "mail": mail_state,
            }
        else:
            return get_response(request)
        if request.method not in ("GET", "HEAD"):
            return JsonResponse({"error": "method not allowed"}, status=405)
        state = {name: check() for name, check in checks.items()}
        healthy = all(value in ("ok", "off") for value in state.values())
        response = JsonResponse(state, status=200 if healthy else 503)
        response["Cache-Control"] = "no-store"
        return response

    return middleware


def database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        # A broken connection must not be reused by the next request of this thread.
        connection.close()
        return "unavailable"
    return "ok"


def cache_state() -> str:
    try:
        cache.get("healthz")
    except RedisError:
        return "unavailable"
    return "ok"


def eviction() -> str:
    """'off' when Redis keeps every key, else the policy that may drop rate-limit counters."""
    if not hasattr(cache, "client"):
        return "off"  # the in-memory cache of development
    try:
        info = cache.client.get_client().info("memory")
    except RedisError:
        return "unknown"
    policy = info.get("maxmemory_policy", "unknown")
    return "off" if policy in SAFE_EVICTION_POLICIES else policy


# Mail leaves as its request commits, and each process sweeps for what was left once a minute
# (MAIL_SWEEP_SECONDS): an email due for three minutes means no process is sending.
MAIL_OVERDUE = timedelta(minutes=3)


def mail_state() -> str:
    """'ok' while queued mail leaves; 'waiting' when some has been due for three minutes."""
    # Imported here: tests and tools read HEALTH_PATH before Django has loaded its models.
    from django_tasks_db.models import DBTaskResult, get_date_max

    from accounts.mail.sign_in_email import WAITING
    from accounts.models import SignInEmail

    cutoff = timezone.now() - MAIL_OVERDUE
    due_long_ago = Q(run_after__lt=cutoff) | Q(run_after=get_date_max(), enqueued_at__lt=cutoff)
    try:
        overdue = (
            SignInEmail.objects.filter(status__in=WAITING, due_at__lt=cutoff).exists()
            or DBTaskResult.objects.ready().filter(due_long_ago).exists()
        )
    except DatabaseError:
        connection.close()
        return "unknown"
    return "waiting" if overdue else "ok"

"""GET /healthz: is this machine able to serve? Answered before anything else in the stack.

fly.io's checker connects over the private network with the machine's own IP as Host, so this
runs ahead of host validation and the HTTPS redirect. It says nothing secret: two words of state.
"""

from collections.abc import Callable

from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from redis.exceptions import RedisError

HEALTH_PATH = "/healthz"


def health_check_middleware(get_response: Callable[[HttpRequest], HttpResponse]):
    def middleware(request: HttpRequest) -> HttpResponse:
        if request.path_info != HEALTH_PATH:
            return get_response(request)
        if request.method not in ("GET", "HEAD"):
            return JsonResponse({"error": "method not allowed"}, status=405)
        state = {"database": database_state(), "cache": cache_state()}
        healthy = all(value == "ok" for value in state.values())
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

"""Pages are personal: an address, a CSRF token, a confirm button. No cache may keep one."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control


def private_pages_middleware(get_response: Callable[[HttpRequest], HttpResponse]):
    """`Cache-Control: private, no-store` on every response that does not set its own.

    Static files never get here (whitenoise answers them first, with long-lived headers).
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, private=True, no_store=True)
        return response

    return middleware

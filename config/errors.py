import sys

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template.loader import render_to_string

from accounts.metrics import BACKEND_ERRORS


def server_error(request: HttpRequest) -> HttpResponse:
    """Our 500 page, except when the database is out of reach: that is a 503, and passes.

    Django calls this inside its exception handler, from a view or any middleware, so the
    exception being handled is at hand. Its health check reconnects on a later request.
    """
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        BACKEND_ERRORS.labels("database").inc()
        # Rendered without the request: its context (messages, user) would ask the database.
        response = HttpResponse(render_to_string("503.html", _site()), status=503)
        response["Retry-After"] = "30"
        return response
    # Django's own view renders with an empty context: the page would name no site.
    return HttpResponseServerError(render_to_string("500.html", _site()))


def _site() -> dict:
    return {"site_name": settings.SITE_NAME}

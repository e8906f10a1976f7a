import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.views.defaults import server_error as django_server_error


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500 page, except when the database is out of reach: that is a 503, and passes.

    Django calls this inside its exception handler, from a view or any middleware, so the
    exception being handled is at hand. Its health check reconnects on a later request.
    """
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        # Rendered without the request: its context (messages, user) would ask the database.
        response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = "30"
        return response
    return django_server_error(request)

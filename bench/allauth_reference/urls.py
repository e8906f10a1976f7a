from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.utils.html import format_html


@login_required
def hello(request: HttpRequest) -> HttpResponse:
    """The page a sign-in lands on, as Latchkey's dashboard greets."""
    return HttpResponse(format_html("<h1>Hello, {}</h1>", request.user.email))


urlpatterns = [path("accounts/", include("allauth.urls")), path("hello/", hello)]

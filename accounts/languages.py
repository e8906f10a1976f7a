"""The language chooser every page's footer holds: a form, so it works without JavaScript.

Django's own set_language would also follow the Referer when `next` is missing; this one goes
only where safe_next_url allows, and remembers a signed-in person's choice for their notices.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import check_for_language
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.pages import changes_no_way_in
from accounts.signin.redirects import safe_next_url


@changes_no_way_in
@require_POST
def choose_language(request: HttpRequest) -> HttpResponse:
    response = HttpResponseRedirect(safe_next_url(request.POST.get("next")) or "/")
    language = request.POST.get("language", "")
    if language not in dict(settings.LANGUAGES) or not check_for_language(language):
        return response  # an old page's choice we no longer offer: nothing to change
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    if request.user.is_authenticated and request.user.language != language:
        User.objects.filter(pk=request.user.pk).update(language=language)
    return response

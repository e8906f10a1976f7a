"""The language chooser every page's footer holds: a form, so it works without JavaScript.

Django's own set_language would also follow the Referer when `next` is missing; this one goes
back only to a plain path of this site, and keeps a signed-in person's choice for their notices
when their browser is a long-known one.
"""

from urllib.parse import parse_qs, urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import check_for_language
from django.views.decorators.http import require_POST

from accounts.account.new_browsers import long_known
from accounts.models import User
from accounts.pages import changes_no_way_in
from accounts.signin.redirects import is_local_path, safe_next_url


@changes_no_way_in
@require_POST
def choose_language(request: HttpRequest) -> HttpResponse:
    response = HttpResponseRedirect(_back_to(request.POST.get("next", "")))
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
    # Kept for the account's notices only from a browser it has used beyond the undo week: a
    # session from one phished code must not choose the words the owner is warned in.
    user = request.user
    if user.is_authenticated and user.language != language and long_known(request, user):
        User.objects.filter(pk=user.pk).update(language=language)
    return response


def _back_to(value: str) -> str:
    """The page the chooser was pressed on: a path of this site, with at most its own `next`
    (never a token). Unlike a sign-in's `next`, it may be a page that spends a credential when
    its form is posted (the confirm page, an undo): going back to it by GET spends nothing, and
    its token waits in its cookie (accounts/signin/link_cookie.py)."""
    path, _, query = value.partition("?")
    if not is_local_path(path):
        return "/"
    next_url = safe_next_url(parse_qs(query).get("next", [""])[0])
    return f"{path}?{urlencode({'next': next_url})}" if next_url else path

"""Error reports that never carry a sign-in secret (DEFAULT_EXCEPTION_REPORTER and _FILTER).

Django's reports (AdminEmailHandler, the DEBUG page) show the request's URL, its GET and POST
parameters, its cookies, META and every frame's local variables. On `/link/?sesame=…` the URL
alone holds a working token; a frame of claim_login_link() holds it in `token`; the POST of
check-inbox holds a code. Django's own filter only hides settings names and the POST fields a
view marks. Here every secret value the request carries (the `sesame` and `code` parameters, the
sign-in cookies and the session cookie) is found first and then starred out wherever it appears
in the finished report, URL, frames and all.
"""

from django.conf import settings
from django.http import HttpRequest
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

# `change`: an address-change or undo link's token (accounts/account/); `restore`: a closed
# account's (accounts/account/deletion.py); `refuse`: a passkey's "not me" (accounts/passkeys/).
SECRET_PARAMETERS = ("sesame", "change", "restore", "refuse", "code", "csrfmiddlewaretoken")
STARS = SafeExceptionReporterFilter.cleansed_substitute


def secrets_in(request: HttpRequest | None) -> set[str]:
    """The secret values this request carries: tokens, codes, sign-in and session cookies."""
    if request is None:
        return set()
    found: set[str] = set()
    for source in (getattr(request, "GET", {}), getattr(request, "POST", {})):
        for name in SECRET_PARAMETERS:
            found.update(value for value in source.getlist(name) if value)
    cookies = getattr(request, "COOKIES", {})
    for name in (
        settings.LOGIN_LINK_COOKIE_NAME,
        settings.LOGIN_BROWSER_COOKIE_NAME,
        settings.ADDRESS_LINK_COOKIE_NAME,
        settings.SESSION_COOKIE_NAME,
        settings.CSRF_COOKIE_NAME,
    ):
        if cookies.get(name):
            found.add(cookies[name])
    # Shorter values are no secret of ours, and starring them would blank random text.
    return {value for value in found if len(value) >= 6}


class SecretFreeReporterFilter(SafeExceptionReporterFilter):
    """Also treats the sign-in parameters and cookies as sensitive, by name."""

    def get_post_parameters(self, request):
        cleansed = super().get_post_parameters(request).copy()
        for name in SECRET_PARAMETERS:
            if name in cleansed:
                cleansed[name] = STARS
        return cleansed

    def cleanse_setting(self, key, value):
        if key in (
            settings.LOGIN_LINK_COOKIE_NAME,
            settings.LOGIN_BROWSER_COOKIE_NAME,
            settings.ADDRESS_LINK_COOKIE_NAME,
        ):
            return STARS
        return super().cleanse_setting(key, value)


class SecretFreeExceptionReporter(ExceptionReporter):
    def get_traceback_html(self) -> str:
        return self._scrub(super().get_traceback_html())

    def get_traceback_text(self) -> str:
        return self._scrub(super().get_traceback_text())

    def _scrub(self, report: str) -> str:
        # Longest first, so that no secret is left half-starred inside a longer one.
        for secret in sorted(secrets_in(self.request), key=len, reverse=True):
            report = report.replace(secret, STARS)
        return report

"""The admin site, with one more condition: STAFF_REQUIRE_PASSKEY.

With it on, the admin opens only to a session that signed in with a passkey; staff signed in by
email are shown why (accounts/views.py, admin_sign_in), and how to add one first.

The passkeys of such staff then guard themselves: once an account has one, only a session that
signed in with a passkey adds or removes any. Otherwise a code phished from them (the very thing
the setting is for) would open an email session, which would add its own passkey, or remove
theirs and add its own, and sign in with it into the admin.
"""

from functools import wraps

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.pages import sign_in_again, signed_in_recently
from accounts.sessions.lifetime import SIGNED_IN_WITH


def passkey_required_for_admin(request: HttpRequest) -> bool:
    """Whether STAFF_REQUIRE_PASSKEY keeps this session out of the admin."""
    return settings.STAFF_REQUIRE_PASSKEY and request.session.get(SIGNED_IN_WITH) != "passkey"


class LatchkeyAdminSite(admin.AdminSite):
    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and not passkey_required_for_admin(request)

    def admin_view(self, view, cacheable: bool = False):
        """Every change made in the admin needs a fresh sign-in, as every way in does: a staff
        session left open must not rename an account's address or remove its passkeys (found
        2026-12-06: the admin escaped the rule). Reading needs none."""
        inner = super().admin_view(view, cacheable)

        @wraps(inner)
        def checked(request: HttpRequest, *args, **kwargs):
            signing_out = request.path == reverse("admin:logout")
            if request.method == "POST" and not signing_out and not signed_in_recently(request):
                what = _("A change in the admin")
                return sign_in_again(request, what, reverse("admin:index"))
            return inner(request, *args, **kwargs)

        return checked


def passkeys_locked(request: HttpRequest) -> bool:
    """Whether this session may not add or remove the account's passkeys (see above)."""
    user = request.user
    return (
        settings.STAFF_REQUIRE_PASSKEY
        and (user.is_staff or user.is_superuser)
        and request.session.get(SIGNED_IN_WITH) != "passkey"
        and user.passkeys.exists()
    )

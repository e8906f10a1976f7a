"""The admin site, with one more condition: STAFF_REQUIRE_PASSKEY.

With it on, the admin opens only to a session that signed in with a passkey; staff signed in by
email are shown why (accounts/views.py, admin_sign_in), and how to add one first.

The passkeys of such staff then guard themselves: once an account has one, only a session that
signed in with a passkey adds or removes any. Otherwise a code phished from them (the very thing
the setting is for) would open an email session, which would add its own passkey, or remove
theirs and add its own, and sign in with it into the admin.
"""

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest

from accounts.sessions.lifetime import SIGNED_IN_WITH


def passkey_required_for_admin(request: HttpRequest) -> bool:
    """Whether STAFF_REQUIRE_PASSKEY keeps this session out of the admin."""
    return settings.STAFF_REQUIRE_PASSKEY and request.session.get(SIGNED_IN_WITH) != "passkey"


class LatchkeyAdminSite(admin.AdminSite):
    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and not passkey_required_for_admin(request)


def passkeys_locked(request: HttpRequest) -> bool:
    """Whether this session may not add or remove the account's passkeys (see above)."""
    user = request.user
    return (
        settings.STAFF_REQUIRE_PASSKEY
        and (user.is_staff or user.is_superuser)
        and request.session.get(SIGNED_IN_WITH) != "passkey"
        and user.passkeys.exists()
    )

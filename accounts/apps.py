import importlib
import sys

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.contrib.auth.signals import user_logged_in

# Tasks already queued name the module their function lived in when queued (django-tasks-db
# stores "accounts.delivery.deliver"). The house moved them on 2026-12-06; these names stay
# importable for one release. Remove after 2026-12-20: no task queued before the move waits
# that long (the longest, a notice, was tried for an hour).
OLD_TASK_MODULES = {
    "accounts.delivery": "accounts.mail.delivery",
    "accounts.new_browsers": "accounts.account.new_browsers",
    "accounts.passkey_notice": "accounts.passkeys.notice",
    "accounts.address_change": "accounts.account.address_mail",
    "accounts.deletion": "accounts.account.deletion",
}


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts.mail import suppression  # noqa: F401 - connects the webhook receiver

        for old, new in OLD_TASK_MODULES.items():
            sys.modules.setdefault(old, importlib.import_module(new))

        # Every sign-in here is a claim (User.objects.claim), which has just moved last_login
        # in its one conditional UPDATE; Django's receiver would write it a second time.
        user_logged_in.disconnect(dispatch_uid="update_last_login")


class LatchkeyAdminConfig(admin_apps.AdminConfig):
    """Django's admin app, with accounts/passkeys/staff.py's site as `admin.site`."""

    default = False  # "accounts" alone still means AccountsConfig
    default_site = "accounts.passkeys.staff.LatchkeyAdminSite"

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.contrib.auth.signals import user_logged_in


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import suppression  # noqa: F401 - connects the webhook receiver

        # Every sign-in here is a claim (User.objects.claim), which has just moved last_login
        # in its one conditional UPDATE; Django's receiver would write it a second time.
        user_logged_in.disconnect(dispatch_uid="update_last_login")


class LatchkeyAdminConfig(admin_apps.AdminConfig):
    """Django's admin app, with accounts/admin_site.py's site as `admin.site`."""

    default = False  # "accounts" alone still means AccountsConfig
    default_site = "accounts.admin_site.LatchkeyAdminSite"

from django.contrib import admin
from django.urls import include, path

from accounts.mail.suppression import webhook_urls
from accounts.records.funnel_views import funnel_page
from accounts.signin.views import admin_sign_in

urlpatterns = [
    # Before admin.site.urls, so that the admin's password form is never shown.
    path("admin/login/", admin_sign_in),
    path("admin/funnel/", funnel_page, name="admin_funnel"),
    path("admin/", admin.site.urls),
    # Mail providers' webhooks (bounces, complaints), authenticated by ANYMAIL_WEBHOOK_SECRET.
    path("anymail/", include(webhook_urls())),
    path("", include("accounts.urls")),
]

handler500 = "config.errors.server_error"

from django.contrib.auth.views import LoginView
from django.urls import path

from config.urls import handler500  # noqa: F401 - the app's 503 for a database out of reach
from config.urls import urlpatterns as app_urlpatterns

urlpatterns = [
    # What people would otherwise pick: Django's LoginView with the default password hasher.
    path("password-login/", LoginView.as_view(template_name="bench/password_login.html")),
    *app_urlpatterns,
]

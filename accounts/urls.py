from django.urls import path

from accounts import views

urlpatterns = [
    path("", views.sign_in, name="sign_in"),
    path("check-inbox/", views.check_inbox, name="check_inbox"),
    path("link/", views.confirm_link, name="confirm_link"),
    # Without this, CommonMiddleware answers /link?sesame=… with a cacheable 301 that repeats
    # the token in its Location; here the view moves the token into its cookie as usual.
    path("link", views.confirm_link),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("sign-out/", views.sign_out, name="sign_out"),
    path("account/", views.account, name="account"),
    path("account/sign-out-browser/", views.end_browser, name="end_browser"),
    path("account/delete/", views.delete_account_view, name="delete_account"),
    path("account/email/", views.change_address, name="change_address"),
    path("account/email/confirm/", views.confirm_address_change, name="confirm_address_change"),
]

from django.urls import path

from accounts import passkey_views, views

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
    path("account/email/undo/", views.undo_address_change, name="undo_address_change"),
    path("account/restore/", views.restore_account, name="restore_account"),
    # Passkeys: options for the browser's WebAuthn call (JSON), then the answer in a form.
    path(
        "passkeys/sign-in/options/",
        passkey_views.sign_in_options,
        name="passkey_sign_in_options",
    ),
    path("passkeys/sign-in/", passkey_views.sign_in, name="passkey_sign_in"),
    path("account/passkeys/options/", passkey_views.add_options, name="passkey_add_options"),
    path("account/passkeys/", passkey_views.add, name="add_passkey"),
    path("account/passkeys/<int:pk>/name/", passkey_views.rename, name="rename_passkey"),
    path("account/passkeys/<int:pk>/remove/", passkey_views.remove, name="remove_passkey"),
]

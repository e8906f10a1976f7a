"""Every page, by capability: signing in, the account, passkeys. The only module that imports
views (the import-linter contract in pyproject.toml holds it to that)."""

from django.urls import path

from accounts import languages
from accounts.account import address_views
from accounts.account import views as account_views
from accounts.passkeys import views as passkey_views
from accounts.signin import link_views
from accounts.signin import views as signin_views

urlpatterns = [
    # Signing in: ask, wait for the email (or type its code), confirm the link, sign out.
    path("", signin_views.sign_in, name="sign_in"),
    path("check-inbox/", signin_views.check_inbox, name="check_inbox"),
    path("link/", link_views.confirm_link, name="confirm_link"),
    # Without this, CommonMiddleware answers /link?sesame=… with a cacheable 301 that repeats
    # the token in its Location; here the view moves the token into its cookie as usual.
    path("link", link_views.confirm_link),
    path("sign-out/", signin_views.sign_out, name="sign_out"),
    # Every page's footer: the language to read the site in.
    path("language/", languages.choose_language, name="choose_language"),
    # The account: its page, its browsers, closing and restoring it.
    path("dashboard/", account_views.dashboard, name="dashboard"),
    path("account/", account_views.account, name="account"),
    path("account/sign-out-browser/", account_views.end_browser, name="end_browser"),
    path("account/delete/", account_views.delete_account, name="delete_account"),
    path("account/restore/", account_views.restore_account, name="restore_account"),
    # Its address: change it (proven by the new inbox), and undo that from the old one.
    path("account/email/", address_views.change_address, name="change_address"),
    path(
        "account/email/confirm/",
        address_views.confirm_address_change,
        name="confirm_address_change",
    ),
    path("account/email/undo/", address_views.undo_address_change, name="undo_address_change"),
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
    # The inbox's "not me" from the notice: no session needed.
    path("account/passkeys/refuse/", passkey_views.refuse, name="refuse_passkey"),
    # Every emailed link, typed or wrapped without its slash: CommonMiddleware would answer with
    # a cacheable 301 that repeats the token; the view moves it into its cookie instead.
    path("account/email/confirm", address_views.confirm_address_change),
    path("account/email/undo", address_views.undo_address_change),
    path("account/restore", account_views.restore_account),
    path("account/passkeys/refuse", passkey_views.refuse),
]

"""Where a person goes after signing in (`next`), and why it can never sign anyone in again."""

import posixpath
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core import signing
from django.http import HttpResponseRedirect
from django.urls import Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme

# Query parameters that carry a credential. A `next` holding one is how an attacker chains a
# genuine sign-in into a second one, into the attacker's account (login CSRF).
CREDENTIAL_PARAMETERS = ("sesame",)
# Pages that spend a credential: no `next` may lead there, with or without one.
SIGN_IN_VIEWS = {
    "confirm_link",
    "confirm_address_change",
    "undo_address_change",
    "restore_account",
    "refuse_passkey",
}


def safe_next_url(value: str | None) -> str:
    """The ?next= target if it is a path on this site that signs nobody in, else "".

    A path starts with exactly one "/": a bare word is not one, and must never reach
    django.shortcuts.redirect(), which reads "account" or "evil" as the name of a URL pattern
    (a page of ours, or a 500). Django's own check then refuses //evil.example, /\\evil.example
    and anything else a browser would take off-site.
    """
    if value and is_local_path(value) and not _leads_to_a_sign_in(value):
        return value
    return ""


def is_local_path(value: str) -> bool:
    """A path on this site, whatever page it is: nothing a browser would take elsewhere."""
    return (
        value.startswith("/")
        and not value.startswith(("//", "/\\"))
        and url_has_allowed_host_and_scheme(
            value,
            allowed_hosts={settings.SITE_HOST},
            require_https=settings.SITE_URL.startswith("https://"),
        )
    )


def _leads_to_a_sign_in(value: str) -> bool:
    decoded = value
    for _ in range(3):  # %2573 is %73 is "s": look through nested percent-encoding.
        decoded = unquote(decoded)
    if any(name in decoded.lower() for name in CREDENTIAL_PARAMETERS):
        return True
    # Browsers remove dot segments before they request a path: resolve what they would.
    path = posixpath.normpath(urlsplit(decoded).path)
    # "/link" also reaches the link view (see accounts/urls.py).
    for candidate in {path, path.rstrip("/") + "/"}:
        try:
            if resolve(candidate).url_name in SIGN_IN_VIEWS:
                return True
        except Resolver404:
            pass
    return False


def go_to(next_url: str, otherwise: str = "dashboard") -> HttpResponseRedirect:
    """Redirect to a `next` that safe_next_url() returned, or to the page named `otherwise`."""
    return HttpResponseRedirect(next_url or reverse(otherwise))


def _signer(token: str) -> signing.Signer:
    # The token is part of the key: a sealed `next` opens only beside the link it was sent with.
    return signing.Signer(salt=f"accounts.next:{token}")


def seal_next_url(next_url: str, token: str) -> str:
    """`next` as it travels inside a sign-in link: tied to that link's token, tamper-proof."""
    return _signer(token).sign(next_url) if next_url else ""


def open_next_url(sealed: str, token: str) -> str:
    """The `next` sealed with this token, if it was, and still safe; else an empty string."""
    if not sealed:
        return ""
    try:
        return safe_next_url(_signer(token).unsign(sealed))
    except signing.BadSignature:
        return ""

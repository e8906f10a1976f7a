"""Every email we send: a subject, a plain-text part and an HTML part, from one template name.

In the mail worker (`manage.py worker`) one connection to the mail server is kept open between
emails: a new one per email costs a TCP (and in production a TLS) handshake, EHLO and QUIT,
about a fifth of the worker's CPU per email. A connection idle for IDLE_SECONDS is closed
before use rather than trusted (servers drop idle clients after a few minutes, RFC 5321 allows
five), and one the server dropped anyway is replaced once, at once, so the email is not delayed
until its retry. Web processes (the immediate backend with DEBUG on) open one per email, as
Django does.
"""

import atexit
import smtplib
import time

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, mailers
from django.core.mail.backends.base import BaseEmailBackend
from django.template.loader import render_to_string

IDLE_SECONDS = 30


class _KeptConnection:
    """The worker's one open connection, and when it was last used."""

    backend: BaseEmailBackend | None = None
    last_used: float = 0.0
    enabled = False


_kept = _KeptConnection()


def keep_connection_open() -> None:
    """Called once by the mail worker: send every email through one connection while busy."""
    _kept.enabled = True
    atexit.register(_close_kept)


def send_templated(template: str, to: str, context: dict) -> None:
    """Render `{template}_subject.txt`, `.txt` and `.html` and send them to one address.

    Errors are the mail backend's own (smtplib's, anymail's): callers decide what they mean.
    """
    context = {
        "site_name": settings.SITE_NAME,
        "site_host": settings.SITE_HOST,
        "site_url": settings.SITE_URL,
        **context,
    }
    message = EmailMultiAlternatives(
        subject=render_to_string(f"{template}_subject.txt", context).strip(),
        body=render_to_string(f"{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
    )
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    if _kept.enabled:
        _send_on_kept_connection(message)
    else:
        message.send()


def _send_on_kept_connection(message: EmailMultiAlternatives) -> None:
    if _kept.backend is not None and time.monotonic() - _kept.last_used > IDLE_SECONDS:
        _close_kept()
    reused = _kept.backend is not None
    try:
        try:
            _kept_backend().send_messages([message])
        except (smtplib.SMTPServerDisconnected, ConnectionError):
            if not reused:
                raise
            # The server dropped the connection we kept (almost always while idle, before it took
            # the email): once more on a new one.
            _close_kept()
            _kept_backend().send_messages([message])
    except Exception:
        # After a refusal or an error the connection's state is unknown: the next email opens
        # a new one.
        _close_kept()
        raise
    _kept.last_used = time.monotonic()


def _kept_backend() -> BaseEmailBackend:
    if _kept.backend is None:
        backend = mailers.default
        backend.open()
        _kept.backend = backend
    return _kept.backend


def _close_kept() -> None:
    backend, _kept.backend = _kept.backend, None
    if backend is not None:
        try:
            backend.close()
        except (smtplib.SMTPException, OSError):
            pass  # it was going away anyway

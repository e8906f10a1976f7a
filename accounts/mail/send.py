"""Every email we send: a subject, a plain-text part and an HTML part, from one template name.

None goes to an address on the suppression list (accounts/mail/suppression.py), notices included: a
person who marked our mail as spam must not get more of it, whatever it is about. An address the
provider refuses joins the list for a while, as a bounce does.

Each web process's courier (accounts/mail/courier.py) keeps one mail backend for its whole
life and one connection open between emails. Django makes a backend per email, and an SMTP
backend with TLS builds its own TLS context, which loads the system's CA certificates: about
17 ms of CPU on the bench machine, more than everything else an email costs. A kept connection
also saves the TCP and TLS handshakes, EHLO and QUIT. A connection idle for IDLE_SECONDS is
closed before use rather than trusted (servers drop idle clients after a few minutes; RFC 5321
allows five), and one the server dropped anyway is replaced once, at once, so the email is not
delayed until its retry.
Emails sent inside a request (the immediate backend, with DEBUG on) are sent as Django does.
"""

import smtplib
import time
from email.utils import make_msgid

from anymail.exceptions import AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, mailers
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.utils import DNS_NAME
from django.template.loader import render_to_string
from django.utils import timezone, translation

from accounts.mail.suppression import is_suppressed, suppress
from accounts.zones import zone_named

IDLE_SECONDS = 30


class _Kept:
    """The worker's one backend, whether its connection is open, and when it was last used."""

    enabled = False
    backend: BaseEmailBackend | None = None
    is_open = False
    last_used = 0.0


_kept = _Kept()


def keep_connection_open() -> None:
    """Called by the courier as it starts: every email through one connection while busy. Only
    its thread sends on it; it closes it as it stops (close_kept_connection)."""
    _kept.enabled = True


def close_kept_connection() -> None:
    _close_kept()


def send_templated(
    template: str,
    to: str,
    context: dict,
    checked: bool = False,
    language: str = "",
    zone: str = "",
    ids: list[str] | None = None,
) -> bool:
    """Render `{template}_subject.txt`, `.txt` and `.html` and send them to one address, written
    in `language` (the site's default when empty) with times in `zone` (none when empty).

    False, with nothing sent, for a suppressed address (`checked`: the caller has just looked)
    or one the provider refuses. Other errors are the mail backend's own (smtplib's, anymail's):
    callers decide what they mean. `ids`, if given, gets the id a provider's webhook will name
    the message by.
    """
    if not checked and is_suppressed(to):
        return False
    message = _written(template, to, context, language or settings.LANGUAGE_CODE, zone)
    message_id = message.extra_headers["Message-ID"] = make_msgid(domain=DNS_NAME)
    try:
        if _kept.enabled:
            _send_on_kept_connection(message)
        else:
            message.send()
    except AnymailRecipientsRefused:
        # The provider will not write to this address (a past bounce or complaint): pause too.
        # Its own list decides for how long; asking it again tomorrow costs one refused call.
        suppress(to, "refused by the provider", for_good=False)
        return False
    if ids is not None:
        # The provider's own id (anymail's backends learn it), else the Message-ID we sent: the
        # one a provider's webhook names for mail relayed by SMTP, where it keeps the header.
        status = getattr(message, "anymail_status", None)
        ids.append(str(status.message_id) if status and status.message_id else message_id)
    return True


def _written(template: str, to: str, context: dict, language: str, zone: str):
    context = {"site_name": settings.SITE_NAME, "site_url": settings.SITE_URL, **context}
    with translation.override(language), timezone.override(zone_named(zone)):
        message = EmailMultiAlternatives(
            subject=render_to_string(f"{template}_subject.txt", context).strip(),
            body=render_to_string(f"{template}.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[to],
        )
        message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
        # Mail clients offer to translate, and screen readers pick a voice, by this.
        message.extra_headers["Content-Language"] = translation.get_language()
    return message


def _send_on_kept_connection(message: EmailMultiAlternatives) -> None:
    if _kept.is_open and time.monotonic() - _kept.last_used > IDLE_SECONDS:
        _close_kept()
    reused = _kept.is_open
    try:
        _open_kept().send_messages([message])
    except Exception as error:
        # After a refusal or an error the connection's state is unknown: never use it again.
        _close_kept()
        # smtplib calls a timeout a disconnection too: a silent server is not a dropped
        # connection, and is not asked again at once (its email waits for its retry).
        timed_out = isinstance(error.__context__, TimeoutError) or "timed out" in str(error)
        dropped = isinstance(error, smtplib.SMTPServerDisconnected | ConnectionError)
        if reused and dropped and not timed_out:
            # The server dropped the connection we kept (almost always while idle, before it
            # took the email): once more, on a new one, which is not retried again.
            _send_on_kept_connection(message)
            return
        raise
    _kept.last_used = time.monotonic()


def _open_kept() -> BaseEmailBackend:
    if _kept.backend is None:
        _kept.backend = mailers.default
    if not _kept.is_open:
        # An open connection makes send_messages leave it open; it opens and closes one per
        # call otherwise.
        _kept.backend.open()
        _kept.is_open = True
    return _kept.backend


def _close_kept() -> None:
    if not _kept.is_open:
        return
    _kept.is_open = False
    try:
        _kept.backend.close()
    except (smtplib.SMTPException, OSError):
        pass  # it was going away anyway

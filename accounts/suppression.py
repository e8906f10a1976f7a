"""Bounces and complaints, reported by the mail provider's webhook, stop further mail.

django-anymail receives each provider's webhook at /anymail/<provider>/tracking/, checks its
basic-auth secret (ANYMAIL_WEBHOOK_SECRET) and sends a normalised `tracking` signal; the
receiver here keeps the addresses that must get no more mail.

Without a secret, anymail only warns and accepts anyone's events: one forged "bounce" would stop
all mail to any address, and nobody would notice (the page says "sent", as for everyone). So
its URLs answer 404 until the secret is set, on every deployment, SMTP ones included.
"""

import logging
from functools import wraps

from anymail.signals import AnymailTrackingEvent, tracking
from anymail.utils import get_anymail_setting
from django.dispatch import receiver
from django.http import Http404
from django.urls import URLPattern

from accounts.addresses import InvalidAddress, canonical_address
from accounts.events import log_event, mask_address
from accounts.models import SuppressedAddress

# Events after which writing again would harm deliverability: the mailbox does not exist, the
# provider refuses it, or the person marked our mail as spam.
STOPPING_EVENTS = {"bounced", "rejected", "complained", "unsubscribed"}


@receiver(tracking)
def suppress_on_bounce_or_complaint(sender, event: AnymailTrackingEvent, esp_name, **kwargs):
    if event.event_type not in STOPPING_EVENTS or not event.recipient:
        return
    try:
        address = canonical_address(event.recipient)
    except InvalidAddress:
        return
    suppress(address, event.event_type)


def suppress(address: str, reason: str) -> None:
    SuppressedAddress.objects.get_or_create(email=address, defaults={"reason": reason})
    log_event("address_suppressed", email=mask_address(address), reason=reason)


def is_suppressed(address: str) -> bool:
    return SuppressedAddress.objects.filter(email=address).exists()


def webhook_urls() -> tuple[list[URLPattern], str]:
    """anymail's webhook URLs (for `include`), each answering 404 while no secret is set."""
    from anymail import urls

    guarded = [
        URLPattern(
            pattern.pattern, _needs_a_secret(pattern.callback), pattern.default_args, pattern.name
        )
        for pattern in urls.urlpatterns
    ]
    return guarded, urls.app_name


def _needs_a_secret(view):
    @wraps(view)  # keeps csrf_exempt: providers post without a CSRF token
    def guarded(request, *args, **kwargs):
        if not get_anymail_setting("webhook_secret", default=None):
            log_event(
                "webhook_refused", level=logging.WARNING, reason="ANYMAIL_WEBHOOK_SECRET is not set"
            )
            raise Http404
        return view(request, *args, **kwargs)

    return guarded

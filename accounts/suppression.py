"""Bounces and complaints, reported by the mail provider's webhook, stop further mail.

django-anymail receives each provider's webhook at /anymail/<provider>/tracking/, checks its
basic-auth secret (ANYMAIL_WEBHOOK_SECRET) and sends a normalised `tracking` signal; the
receiver here keeps the addresses that must get no more mail.
"""

from anymail.signals import AnymailTrackingEvent, tracking
from django.dispatch import receiver

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

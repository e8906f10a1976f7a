"""Bounces and complaints, reported by the mail provider's webhook, stop further mail.

django-anymail receives each provider's webhook at /anymail/<provider>/tracking/, checks its
basic-auth secret (ANYMAIL_WEBHOOK_SECRET) and sends a normalised `tracking` signal; the
receiver here keeps the addresses that must get no more mail, or none for a while.

Only a complaint or an unsubscribe stops mail for good: the person said so. A bounce pauses it for
BOUNCE_PAUSE. anymail reports soft bounces as "bounced" too (Postmark's SoftBounce, SES's
Transient, SparkPost's mailbox full), and stopping for good on a full mailbox would lock its owner
out for ever, without a word (the page says "sent", as for everyone). A dead mailbox costs at most
one more bounce a day, and only when someone asks; providers keep their own lists of hard bounces
and refuse those addresses themselves (accounts/mail/send.py pauses on that as well).

Without a secret, anymail only warns and accepts anyone's events: one forged "bounce" would stop
all mail to any address, and nobody would notice (the page says "sent", as for everyone). So
its URLs answer 404 until the secret is set, on every deployment, SMTP ones included.
"""

import logging
from datetime import datetime, timedelta
from functools import wraps

from anymail.signals import AnymailTrackingEvent, tracking
from anymail.utils import get_anymail_setting
from django.db.models import Q
from django.dispatch import receiver
from django.http import Http404, HttpResponseBadRequest
from django.urls import URLPattern
from django.utils import timezone

from accounts.models import SignInEmail, SuppressedAddress
from accounts.records.log import log_event, mask_address
from accounts.signin.addresses import InvalidAddress, canonical_address

# Events after which writing again would harm deliverability: the person marked our mail as
# spam or asked for no more, for good; the mailbox bounced or the provider refused it, for a while.
FOR_GOOD_EVENTS = {"complained", "unsubscribed"}
PAUSING_EVENTS = {"bounced", "rejected"}
BOUNCE_PAUSE = timedelta(days=1)


@receiver(tracking)
def suppress_on_bounce_or_complaint(sender, event: AnymailTrackingEvent, esp_name, **kwargs):
    if event.event_type not in FOR_GOOD_EVENTS | PAUSING_EVENTS or not event.recipient:
        return
    try:
        address = canonical_address(event.recipient)
    except InvalidAddress:
        return
    suppress(address, event.event_type, for_good=event.event_type in FOR_GOOD_EVENTS)
    if event.event_type in FUNNEL_FEEDBACK:
        tell_the_funnel(address, event.message_id or "", FUNNEL_FEEDBACK[event.event_type])


# The operator's funnel counts bounces and complaints of sign-in emails (records/funnel.py).
FUNNEL_FEEDBACK = {"bounced": "bounced", "rejected": "bounced", "complained": "complained"}


def tell_the_funnel(address: str, message_id: str, feedback: str) -> None:
    """Mark the sign-in email the provider reports on: the one it names by the id we kept when
    it left (accounts/mail/send.py), once (a soft bounce then a hard one, or a webhook retried).
    A report naming no sign-in email (a notice, an account email) or naming none marks nothing:
    a guess would count one email's fate against another."""
    if message_id:
        SignInEmail.objects.filter(address=address, provider_id=message_id, feedback="").update(
            feedback=feedback
        )


def suppress(address: str, reason: str, for_good: bool) -> None:
    """No mail to `address`, for good or for BOUNCE_PAUSE; a longer suppression is never cut."""
    until = None if for_good else timezone.now() + BOUNCE_PAUSE
    row, created = SuppressedAddress.objects.get_or_create(
        email=address, defaults={"reason": reason, "until": until}
    )
    if not created and row.until is not None and (until is None or until > row.until):
        row.reason, row.until = reason, until
        row.save(update_fields=["reason", "until"])
    log_event("address_suppressed", email=mask_address(address), reason=reason, for_good=for_good)


def is_suppressed(address: str) -> bool:
    """Whether sign-in mail (and other mail that is no security notice) may not go now."""
    now_or_for_good = Q(until__isnull=True) | Q(until__gt=timezone.now())
    return SuppressedAddress.objects.filter(now_or_for_good, email=address).exists()


def paused_until(address: str) -> datetime | None:
    """The end of a pause (a bounce, a refusal) still running for `address`, if any.

    Security mail (accounts/mail/owed.py) waits this out; a stop for good (a complaint, an
    unsubscribe) does not hold it, since it is not mail the person asked not to get.
    """
    return (
        SuppressedAddress.objects.filter(email=address, until__gt=timezone.now())
        .values_list("until", flat=True)
        .first()
    )


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


def webhooks_open() -> bool:
    """Whether the provider's webhooks are answered (their secret is set): bounces and
    complaints are heard only then."""
    return bool(get_anymail_setting("webhook_secret", default=None))


def _needs_a_secret(view):
    @wraps(view)  # keeps csrf_exempt: providers post without a CSRF token
    def guarded(request, *args, **kwargs):
        if not webhooks_open():
            log_event(
                "webhook_refused", level=logging.WARNING, reason="ANYMAIL_WEBHOOK_SECRET is not set"
            )
            raise Http404
        try:
            return view(request, *args, **kwargs)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            # anymail parses a payload only after checking the secret, and reads what it
            # expects without asking: nonsense is a 400, not a 500 the provider would retry.
            log_event("webhook_unreadable", level=logging.WARNING, problem=type(error).__name__)
            return HttpResponseBadRequest("This is not a webhook payload we can read.")

    return guarded

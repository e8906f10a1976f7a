"""A sign-in from a browser the account has not used before is announced by email.

Each browser gets a long-lived, HttpOnly device cookie (a random value; only its SHA-256 digest
is stored, per account). A sign-in whose cookie the account does not know sends the address a
notice: when, which browser, from which network, and a link to /account/ to end it ("not you?").
The account's very first sign-in sends none: there is nothing to compare with. The notice
carries no sign-in token; it is queued, and tried again after a "try later", like every other
email (accounts/mail/owed.py).
"""

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.tasks import task
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy

from accounts.mail.owed import NOTICES_TRIED_FOR, drop, legacy_key, owe, send_or_try_later
from accounts.models import KnownDevice, User
from accounts.records.audit import device_in_owners_words, origin_of
from accounts.signin.addresses import display_address

# Long enough to recognise a returning browser; the cookie says nothing by itself.
DEVICE_COOKIE_AGE = 60 * 60 * 24 * 400
UNDO_WEEK = timedelta(days=settings.ACCOUNT_UNDO_DAYS)


class Recognised(NamedTuple):
    # A new device cookie value to set; None when the browser already has one.
    cookie: str | None
    # A browser the account has used for longer than the undo week: it may set the language
    # and zone the account's notices are written in. A browser signed in with one phished code
    # may not: the owner is warned, and offered the way back, in their own words.
    long_known: bool


def recognise(request: HttpRequest, user: User, first_sign_in: bool) -> Recognised:
    """After a sign-in: queue a notice if this browser is new to the account."""
    value = request.COOKIES.get(settings.DEVICE_COOKIE_NAME, "")
    new_cookie = None
    if not value or len(value) > 64:
        value = new_cookie = secrets.token_urlsafe(24)
    digest = hashlib.sha256(value.encode()).hexdigest()
    if new_cookie is None and (first_seen := _first_seen(user, digest)):
        # A returning browser: one indexed read, no notice.
        return Recognised(None, long_known=first_seen < timezone.now() - UNDO_WEEK)
    try:
        with transaction.atomic():
            device = KnownDevice.objects.create(user=user, digest=digest)
    except IntegrityError:
        # Two sign-ins of one browser at once: the other one announced it.
        return Recognised(new_cookie, long_known=False)
    if not first_sign_in:
        origin = origin_of(request)
        now = timezone.now()
        owe(
            send_notice,
            (
                user.pk,
                now.isoformat(),
                device_in_owners_words(user, origin["user_agent"]),
                origin["network"],
            ),
            key=f"new_browser:{device.pk}",
            to=user.email,
            user=user,
            deadline=now + NOTICES_TRIED_FOR,
        )
    return Recognised(new_cookie, long_known=False)


def long_known(request: HttpRequest, user: User) -> bool:
    """Whether this browser has been the account's for longer than the undo week."""
    value = request.COOKIES.get(settings.DEVICE_COOKIE_NAME, "")
    if not value or len(value) > 64:
        return False
    first_seen = _first_seen(user, hashlib.sha256(value.encode()).hexdigest())
    return first_seen is not None and first_seen < timezone.now() - UNDO_WEEK


def _first_seen(user: User, digest: str) -> datetime | None:
    known = KnownDevice.objects.filter(user=user, digest=digest)
    return known.values_list("first_seen", flat=True).first()


def set_device_cookie(response: HttpResponse, value: str | None) -> None:
    if value:
        response.set_cookie(
            settings.DEVICE_COOKIE_NAME,
            value,
            max_age=DEVICE_COOKIE_AGE,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )


@task()
def send_notice(
    user_id: int, when: str, device: str, network: str, attempt: int = 1, key: str = ""
) -> str:
    user = User.objects.filter(pk=user_id).first()  # closed or not: the owner must hear of it
    if user is None:
        return drop(key or legacy_key("new_browser", user_id, when), "no account")
    return send_or_try_later(
        "emails/new_browser",
        user.email,
        notice_context(user, when, device, network),
        key=key or legacy_key("new_browser", user_id, when),
        deadline=datetime.fromisoformat(when) + NOTICES_TRIED_FOR,
        again=(send_notice, (user_id, when, device, network)),
        attempt=attempt,
    )


def notice_context(user: User, when: str, device: str, network: str) -> dict:
    """What a notice about something done from a browser says of it (passkey_notice.py too)."""
    return {
        "address": display_address(user.email),
        "when": datetime.fromisoformat(when),
        "device": device or gettext_lazy("an unknown browser"),
        "network": network,
        "account_url": settings.SITE_URL + reverse("account"),
    }

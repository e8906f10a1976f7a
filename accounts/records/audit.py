"""The record of sign-in events (SignInEvent): written as things happen, pruned when old.

The log lines of accounts/records/log.py are for operators' log search and vanish with the logs;
this record answers "who signed in as alice yesterday, from where, and did a mail scanner open the
link first?" and is what a person sees of their own activity.
"""

import ipaddress
import re
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext
from ua_parser import parse

from accounts.client_ip import client_ip
from accounts.models import SignInEmail, SignInEvent, User

Kind = SignInEvent.Kind

# Opened this soon after the email left, by another client: people take longer than that.
SCANNER_WINDOW = timedelta(seconds=10)
# User-Agents of the link checkers in mail gateways we know of.
SCANNER_AGENTS = re.compile(
    r"bot\b|crawler|spider|preview|scan|proofpoint|mimecast|barracuda|safelinks|"
    r"microsoft office|ms-office|outlook-ios|google-safety|googleimageproxy",
    re.IGNORECASE,
)


def origin_of(request: HttpRequest) -> dict[str, str]:
    """Where a request came from, as every record of ours keeps it: a network and a browser."""
    return {
        "network": network_of(client_ip(request)),
        "user_agent": request.headers.get("User-Agent", "")[:256],
    }


def record(
    kind: str,
    request: HttpRequest,
    user: User | None = None,
    detail: str = "",
    likely_scanner: bool = False,
    seconds: int | None = None,
) -> None:
    known = user if user is not None and user.pk is not None else None
    SignInEvent.objects.create(
        kind=kind,
        user=known,
        detail=detail,
        likely_scanner=likely_scanner,
        # A sign-in's mail provider and wait, for the operator's funnel (records/funnel.py).
        domain=known.email.rpartition("@")[2] if known and kind == Kind.SIGNED_IN else "",
        seconds=seconds,
        **origin_of(request),
    )


def record_link_opened(request: HttpRequest, user: User) -> None:
    """An emailed link opened (GET), flagged when a mail scanner most likely opened it."""
    agent = request.headers.get("User-Agent", "")
    asked_here = request.session.get("login_address") == user.email
    scanner = bool(SCANNER_AGENTS.search(agent)) or (
        not asked_here and _moments_after_sending(user)
    )
    record(Kind.OPENED, request, user, likely_scanner=scanner)


def _moments_after_sending(user: User) -> bool:
    sent = (
        SignInEmail.objects.filter(address=user.email, sent_at__isnull=False)
        .order_by("-sent_at")
        .values_list("sent_at", flat=True)
        .first()
    )
    return sent is not None and timezone.now() - sent < SCANNER_WINDOW


def network_of(address: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) an address belongs to: a place, not a person."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def device_of(user_agent: str) -> str:
    """ "Chrome 131 on Mac OS X": a short description, parsed when shown, not when written, in
    the active language (a notice's caller makes it the owner's: accounts/mail/owed.py)."""
    if not user_agent:
        return ""
    browser, system = _parsed(user_agent)
    browser = browser or gettext("a browser")
    if not system:
        return browser
    return gettext("%(browser)s on %(system)s") % {"browser": browser, "system": system}


# Bounded: User-Agents are whatever clients send. Names only: the words around them are the
# reader's language, which a cache keyed on the User-Agent alone would fix for everyone.
@lru_cache(maxsize=1024)
def _parsed(user_agent: str) -> tuple[str, str]:
    parsed = parse(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else ""
    if parsed.user_agent and parsed.user_agent.major:
        browser += f" {parsed.user_agent.major}"
    system = parsed.os.family if parsed.os and parsed.os.family != "Other" else ""
    return browser, system


def device_in_owners_words(user: User, user_agent: str) -> str:
    """device_of() for a notice to `user`: in the language the notice is written in."""
    with translation.override(user.language or settings.LANGUAGE_CODE):
        return device_of(user_agent)


def prune_events() -> int:
    """Delete events older than EVENT_RETENTION_DAYS; how many went."""
    before = timezone.now() - timedelta(days=settings.EVENT_RETENTION_DAYS)
    deleted, _ = SignInEvent.objects.filter(at__lt=before).delete()
    return deleted

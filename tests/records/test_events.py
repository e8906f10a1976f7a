"""The record of sign-in events: what happened, to which account, from where, and whether a mail
scanner opened the link before the person did."""

import json
from datetime import timedelta
from http import HTTPStatus
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.models import SignInEvent, User
from accounts.records.audit import network_of
from tests.helpers import behind_the_proxy, code_in, link_in, path_of

pytestmark = pytest.mark.django_db

Kind = SignInEvent.Kind
CHROME_ON_A_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def browser(agent: str = CHROME_ON_A_MAC) -> Client:
    """A browser behind the proxy that says what it is (the record keeps its User-Agent)."""
    return behind_the_proxy(**{"User-Agent": agent})


def events() -> list[tuple[str, str, str]]:
    return [
        (event.kind, event.user.email if event.user else "", event.detail)
        for event in SignInEvent.objects.order_by("at", "pk")
    ]


def test_a_sign_in_by_link_is_recorded_from_the_ask_to_the_sign_out(mailbox, alice):
    laptop = browser()
    laptop.post("/", {"email": "alice@example.com"})
    link = link_in(mailbox.message_to("alice@example.com"))
    token = link.split("sesame=")[1]
    laptop.get(path_of(link))
    laptop.post("/link/", {"sesame": token})
    laptop.post("/sign-out/")

    assert events() == [
        (Kind.REQUESTED, "alice@example.com", ""),
        (Kind.OPENED, "alice@example.com", ""),
        (Kind.SIGNED_IN, "alice@example.com", "link"),
        (Kind.SIGNED_OUT, "alice@example.com", ""),
    ]
    recorded = list(SignInEvent.objects.values())
    assert {event["network"] for event in recorded} == {"127.0.0.0/24"}
    assert {event["user_agent"] for event in recorded} == {CHROME_ON_A_MAC}
    assert not any(event["likely_scanner"] for event in recorded)
    assert token not in json.dumps(recorded, default=str)


def test_a_sign_in_by_code_and_a_wrong_code_are_recorded(mailbox, alice):
    laptop = browser()
    laptop.post("/", {"email": "alice@example.com"})
    code = code_in(mailbox.message_to("alice@example.com")).replace(" ", "")
    laptop.post("/check-inbox/", {"code": "000000" if code != "000000" else "111111"})
    laptop.post("/check-inbox/", {"code": code})

    assert events()[1:] == [
        (Kind.REJECTED, "", "code wrong"),
        (Kind.SIGNED_IN, "alice@example.com", "code"),
    ]
    assert code not in json.dumps(list(SignInEvent.objects.values()), default=str)


def test_a_link_opened_by_another_client_moments_after_it_was_sent_is_flagged(mailbox, alice):
    laptop = browser()
    laptop.post("/", {"email": "alice@example.com"})
    link = link_in(mailbox.message_to("alice@example.com"))

    browser(agent="Mozilla/5.0").get(path_of(link))  # the mail gateway, checking the link
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        laptop.get(path_of(link))  # the person, a minute later

    opened = SignInEvent.objects.filter(kind=Kind.OPENED).order_by("at")
    assert [event.likely_scanner for event in opened] == [True, False]


def test_a_known_mail_scanner_is_flagged_whenever_it_opens_the_link(mailbox, alice):
    browser().post("/", {"email": "alice@example.com"})
    link = link_in(mailbox.message_to("alice@example.com"))

    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        browser(agent="Mozilla/5.0 (compatible; Barracuda Sentinel)").get(path_of(link))

    assert SignInEvent.objects.get(kind=Kind.OPENED).likely_scanner


def test_a_rejected_link_says_why(alice):
    browser().post("/link/", {"sesame": "not-a-token"})

    assert events() == [(Kind.REJECTED, "", "link invalid")]


def test_an_address_without_an_account_is_recorded_without_one(mailbox, settings):
    settings.SIGNUP_POLICY = "closed"
    browser().post("/", {"email": "stranger@example.com"})
    mailbox.message_to("stranger@example.com")

    assert events() == [(Kind.REQUESTED, "", "")]


def test_events_past_the_retention_are_pruned(settings, alice):
    settings.EVENT_RETENTION_DAYS = 90
    old = SignInEvent.objects.create(
        kind=Kind.SIGNED_IN, user=alice, at=timezone.now() - timedelta(days=91)
    )
    recent = SignInEvent.objects.create(
        kind=Kind.SIGNED_IN, user=alice, at=timezone.now() - timedelta(days=89)
    )
    output = StringIO()

    call_command("prune_events", stdout=output)

    assert list(SignInEvent.objects.all()) == [recent]
    assert not SignInEvent.objects.filter(pk=old.pk).exists()
    assert output.getvalue().strip() == "Deleted 1 sign-in events older than 90 days."


def test_networks_are_kept_to_a_24_or_a_48():
    assert network_of("203.0.113.77") == "203.0.113.0/24"
    assert network_of("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert network_of("not an address") == ""


def test_staff_read_the_record_with_devices_and_cannot_change_it(mailbox):
    User.objects.create_superuser("boss@example.com")
    staff = browser()
    staff.post("/", {"email": "boss@example.com"})
    staff.post("/check-inbox/", {"code": code_in(mailbox.message_to("boss@example.com"))})

    listing = staff.get("/admin/accounts/signinevent/?kind=signed_in")

    assert listing.status_code == HTTPStatus.OK
    assert b"Chrome 131 on Mac OS X" in listing.content
    assert b"boss@example.com" in listing.content
    assert staff.get("/admin/accounts/signinevent/add/").status_code == HTTPStatus.FORBIDDEN
    event = SignInEvent.objects.first()
    assert staff.post(f"/admin/accounts/signinevent/{event.pk}/delete/").status_code == 403

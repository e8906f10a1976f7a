"""The operator's funnel in the admin: asked -> delivered -> signed in, by method and by domain."""

import re
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
import time_machine

from accounts.models import User
from tests.helpers import behind_the_proxy, code_in, link_in, path_of, provider_reports

NOON = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def webhooks(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": provider_reports.__defaults__[0]}


@pytest.fixture
def staff(db, settings):
    settings.STAFF_REQUIRE_PASSKEY = False
    browser = behind_the_proxy()
    browser.force_login(User.objects.create_user("staff@example.com", is_staff=True))
    return browser


def row(page: str, table: str, name: str) -> str:
    """The number a row of one of the page's tables shows."""
    section = re.search(rf'<table id="{table}">(.*?)</table>', page, re.S).group(1)
    cells = re.search(rf"<tr data-{name}>(.*?)</tr>", section, re.S).group(1)
    return re.findall(r"<td>(.*?)</td>", cells)


def test_the_funnel_counts_what_people_did(mailbox, webhooks, staff):
    User.objects.create_user("alice@example.com")
    User.objects.create_user("bob@example.org")
    with time_machine.travel(NOON - timedelta(days=3), tick=False):
        # Dave asked three days ago, and never signed in: the week counts him, the day not.
        behind_the_proxy().post("/", {"email": "dave@example.net"})
    with time_machine.travel(NOON, tick=False) as clock:
        alice, bob, carol = behind_the_proxy(), behind_the_proxy(), behind_the_proxy()
        for browser, address in [
            (alice, "alice@example.com"),
            (bob, "bob@example.org"),
            (carol, "carol@example.org"),
        ]:
            assert browser.post("/", {"email": address}).status_code == HTTPStatus.FOUND
        clock.shift(30)  # Alice types her code half a minute later,
        code = code_in(mailbox.message_to("alice@example.com"))
        assert alice.post("/check-inbox/", {"code": code})["Location"] == "/dashboard/"
        clock.shift(60)  # and Bob presses Sign in a minute and a half after asking.
        link = link_in(mailbox.message_to("bob@example.org"))
        bob.get(path_of(link))
        assert bob.post("/link/", {"sesame": link.split("sesame=")[1]}).status_code == 302
        # Carol's mailbox bounced; Alice marked her email as spam.
        provider = behind_the_proxy()
        assert provider_reports(provider, "carol@example.org").status_code == HTTPStatus.OK
        provider_reports(provider, "alice@example.com", kind="SpamComplaint")

        page = staff.get("/admin/funnel/")

    assert page.status_code == HTTPStatus.OK
    html = page.content.decode()
    day = {
        "asked": ["3"],
        "delivered": ["3"],
        "failed": ["0"],
        "not_sent": ["0"],
        "link": ["1"],
        "code": ["1"],
        "passkey": ["0"],
        "completion": ["66.7%"],
        "median": ["60 s"],
        "bounce_rate": ["33.3%"],
        "complaint_rate": ["33.3%"],
    }
    for name, shown in day.items():
        assert row(html, "funnel-day", f'row="{name}"') == shown, name
    week = {**day, "asked": ["4"], "delivered": ["4"], "completion": ["50.0%"]}
    week |= {"bounce_rate": ["25.0%"], "complaint_rate": ["25.0%"]}
    for name, shown in week.items():
        assert row(html, "funnel-week", f'row="{name}"') == shown, name
    # By domain: asked, delivered, by link, by code, bounced, marked as spam.
    domains = "funnel-week-domains"
    assert row(html, domains, 'domain="example.org"') == ["2", "2", "1", "0", "1", "0"]
    assert row(html, domains, 'domain="example.com"') == ["1", "1", "0", "1", "0", "1"]
    assert row(html, domains, 'domain="example.net"') == ["1", "1", "0", "0", "0", "0"]
    assert html.count("<rect ") == 7 * 3  # the chart: three bars a day
    assert "<script" not in html.split('id="content-main"')[1]


def test_a_person_who_is_not_staff_is_refused(client, alice):
    client.force_login(alice)

    refused = client.get("/admin/funnel/")

    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert "not for your account" in refused.content.decode()


def test_someone_signed_out_is_asked_to_sign_in(client, db):
    asked = client.get("/admin/funnel/")

    assert asked.status_code == HTTPStatus.FOUND
    assert asked["Location"].startswith("/admin/login/?next=/admin/funnel/")

"""The operator's funnel in the admin: asked -> delivered -> signed in, by method and by domain."""

import re
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
import time_machine

from accounts.models import User
from tests.helpers import (
    WEBHOOK_SECRET,
    behind_the_proxy,
    code_in,
    link_in,
    path_of,
    provider_reports,
)

NOON = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def webhooks(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": WEBHOOK_SECRET}


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
        carols = mailbox.message_to("carol@example.org")["Message-ID"]
        alices = mailbox.message_to("alice@example.com")["Message-ID"]
        assert provider_reports(provider, "carol@example.org", message_id=carols).status_code == 200
        provider_reports(provider, "alice@example.com", kind="SpamComplaint", message_id=alices)

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
        "completion": ["66.7 %"],
        "median": ["60 s, over 2 sign-ins whose browser asked"],
        "bounce_rate": ["33.3 %"],
        "complaint_rate": ["33.3 %"],
    }
    for name, shown in day.items():
        assert row(html, "funnel-day", f'row="{name}"') == shown, name
    week = {**day, "asked": ["4"], "delivered": ["4"], "completion": ["50.0 %"]}
    week |= {"bounce_rate": ["25.0 %"], "complaint_rate": ["25.0 %"]}
    for name, shown in week.items():
        assert row(html, "funnel-week", f'row="{name}"') == shown, name
    # By domain: asked, delivered, by link, by code, bounced, marked as spam.
    domains = "funnel-week-domains"
    assert row(html, domains, 'domain="example.org"') == ["2", "2", "1", "0", "1", "0"]
    assert row(html, domains, 'domain="example.com"') == ["1", "1", "0", "1", "0", "1"]
    assert row(html, domains, 'domain="example.net"') == ["1", "1", "0", "0", "0", "0"]
    chart = re.search(r'<svg class="funnel-chart".*?</svg>', html, re.S).group(0)
    assert chart.count("<rect ") == 7 * 3  # three bars a day
    assert "<script" not in html.split('id="content-main"')[1]


def test_one_bounced_email_is_one_bounce_however_often_the_provider_says_so(
    mailbox, webhooks, staff
):
    User.objects.create_user("alice@example.com")
    behind_the_proxy().post("/", {"email": "alice@example.com"})
    behind_the_proxy().post("/", {"email": "alice@example.com"})
    first, _second = mailbox.wait_for(2)
    provider = behind_the_proxy()

    # Postmark reports a soft bounce, then a hard one, of the same message.
    for kind in ("SoftBounce", "HardBounce"):
        reported = provider_reports(
            provider, "alice@example.com", kind=kind, message_id=first["Message-ID"]
        )
        assert reported.status_code == 200

    html = staff.get("/admin/funnel/").content.decode()
    assert row(html, "funnel-day", 'row="delivered"') == ["2"]
    assert row(html, "funnel-day", 'row="bounce_rate"') == ["50.0 %"]


def test_a_complaint_about_a_notice_marks_no_sign_in_email(mailbox, webhooks, staff, alice):
    first, second = behind_the_proxy(), behind_the_proxy()
    for browser in (first, second):  # the second browser is new: a notice goes out
        browser.post("/", {"email": "alice@example.com"})
        code = code_in(mailbox.message_to("alice@example.com"))
        mailbox.clear()
        assert browser.post("/check-inbox/", {"code": code}).status_code == HTTPStatus.FOUND
    (notice,) = mailbox.wait_for(1)
    assert "A new sign-in" in notice["Subject"]

    provider_reports(
        behind_the_proxy(),
        "alice@example.com",
        kind="SpamComplaint",
        message_id=notice["Message-ID"],
    )

    html = staff.get("/admin/funnel/").content.decode()
    assert row(html, "funnel-day", 'row="complaint_rate"') == ["0.0 %"]


def test_a_second_press_whose_first_answer_was_lost_is_one_sign_in(mailbox, staff):
    User.objects.create_user("alice@example.com")
    browser = behind_the_proxy()
    browser.post("/", {"email": "alice@example.com"})
    link = link_in(mailbox.message_to("alice@example.com"))
    browser.get(path_of(link))
    before_the_press = {name: morsel.value for name, morsel in browser.cookies.items()}
    pressed = {"sesame": link.split("sesame=")[1]}
    assert browser.post("/link/", pressed)["Location"] == "/dashboard/"

    # The answer was lost: the browser still has the cookies it had, and presses again.
    browser.cookies.clear()
    for name, value in before_the_press.items():
        browser.cookies[name] = value
    assert browser.post("/link/", pressed)["Location"] == "/dashboard/"

    html = staff.get("/admin/funnel/").content.decode()
    assert row(html, "funnel-day", 'row="asked"') == ["1"]
    assert row(html, "funnel-day", 'row="link"') == ["1"]


def test_the_chart_draws_in_every_language(staff, alice):
    """SVG needs 12.5, whatever the page's language writes (German: 12,5)."""
    with time_machine.travel(NOON, tick=False):
        for n in range(3):
            behind_the_proxy().post("/", {"email": f"person{n}@example.com"})

        page = staff.get("/admin/funnel/", headers={"Accept-Language": "de"}).content.decode()

    assert 'lang="de"' in page
    chart = re.search(r'<svg class="funnel-chart".*?</svg>', page, re.S).group(0)
    rects = " ".join(re.findall(r"<rect [^>]*>", chart))
    numbers = re.findall(r' (?:x|y|width|height)="([^"]*)"', rects)
    assert numbers and all(re.fullmatch(r"-?\d+(\.\d+)?", n) for n in numbers), numbers
    assert any(float(n) > 0 for n in re.findall(r' height="([^"]*)"', rects))


def test_without_the_webhook_secret_the_page_says_no_bounce_can_be_heard(staff):
    page = staff.get("/admin/funnel/").content.decode()

    assert row(page, "funnel-week", 'row="bounce_rate"') == [
        "– (no bounce webhook: ANYMAIL_WEBHOOK_SECRET is not set)"
    ]


def test_a_person_who_is_not_staff_is_refused(client, alice):
    client.force_login(alice)

    refused = client.get("/admin/funnel/")

    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert "not open to your account" in refused.content.decode()


def test_someone_signed_out_is_asked_to_sign_in(client, db):
    asked = client.get("/admin/funnel/")

    assert asked.status_code == HTTPStatus.FOUND
    assert asked["Location"].startswith("/admin/login/?next=/admin/funnel/")


def test_the_migration_names_the_domains_of_a_busy_day_in_one_statement(db):
    """0013 runs while sign-ins wait on its table: one UPDATE, not one per row."""
    import importlib

    from django.apps import apps
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import SignInEmail

    migration = importlib.import_module("accounts.migrations.0013_funnel_domains")
    SignInEmail.objects.bulk_create(
        SignInEmail(id=f"request-{n}", address=f"person{n}@example.org") for n in range(500)
    )

    with CaptureQueriesContext(connection) as queries:
        migration.domains_of_kept_emails(apps, schema_editor=None)

    assert set(SignInEmail.objects.values_list("domain", flat=True)) == {"example.org"}
    assert len(queries) == 1


@pytest.mark.django_db(transaction=True)
def test_the_index_migration_run_again_rebuilds_an_index_a_failed_attempt_left_invalid():
    """0014 builds CONCURRENTLY: cut short (here by a lock timeout behind a sign-in's open
    transaction) it leaves an INVALID index, which the deploy run again must replace."""
    import importlib

    from django.apps import apps
    from django.db import DatabaseError, connection, connections

    migration = importlib.import_module("accounts.migrations.0014_funnel_indexes")
    sign_in = connections.create_connection("default")

    def valid() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indisvalid FROM pg_index WHERE indexrelid = 'signinevent_kind_at'::regclass"
            )
            return cursor.fetchone() == (True,)

    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX signinevent_kind_at")
    try:
        with sign_in.cursor() as other:
            other.execute("BEGIN")
            other.execute("LOCK TABLE accounts_signinevent IN ROW EXCLUSIVE MODE")
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '300ms'")
            with pytest.raises(DatabaseError), connection.schema_editor(atomic=False) as editor:
                migration.build(apps, editor)  # the first deploy: times out waiting
            other.execute("ROLLBACK")
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
        assert not valid()

        with connection.schema_editor(atomic=False) as editor:
            migration.build(apps, editor)  # the deploy run again

        assert valid()
    finally:
        sign_in.close()
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS signinevent_kind_at")
            cursor.execute('CREATE INDEX signinevent_kind_at ON accounts_signinevent (kind, "at")')

"""A person signs in with an emailed link: every step, as they would see it."""

import re
from datetime import timedelta
from http import HTTPStatus
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from sesame.utils import get_query_string

from accounts.models import User
from tests.environment import TEST_SITE_URL
from tests.helpers import behind_the_proxy, code_in, link_in, path_of

pytestmark = pytest.mark.django_db


def request_link(client, address: str, next_url: str = ""):
    data = {"email": address, "next": next_url}
    return client.post("/", data)


def emailed_link(client, mailbox, address: str, next_url: str = "") -> str:
    response = request_link(client, address, next_url)
    assert response.status_code == HTTPStatus.FOUND, response.content
    (message,) = mailbox.wait_for(1)
    mailbox.clear()
    return link_in(message)


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["sesame"][0]


def test_sign_in_page_asks_for_an_email_address(client):
    response = client.get("/")

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "text/html; charset=utf-8"
    html = response.content.decode()
    email_form, passkey_form = html.split('data-passkey="sign-in"')
    assert email_form.count("<input") == 3  # csrf token, next, and the one visible field
    # Shown by static/js/passkeys.js only where the browser has WebAuthn.
    assert passkey_form.split(">", 1)[0].endswith(" hidden")
    assert 'type="email"' in html
    assert 'autocomplete="email"' in html
    assert email_form.count("<button") == 1
    assert '<html lang="en" dir="ltr">' in html


def test_person_signs_in_with_the_link_the_smtp_server_received(client, mailbox):
    response = request_link(client, "Alice@Example.com ")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/check-inbox/"
    inbox_page = client.get(response["Location"])
    assert inbox_page.status_code == HTTPStatus.OK
    assert b"alice@example.com" in inbox_page.content

    (message,) = mailbox.wait_for(1)
    assert message["To"] == "alice@example.com"
    link = link_in(message)
    assert link.startswith(TEST_SITE_URL + "/link/?sesame=")

    confirm_page = client.get(path_of(link), follow=True)
    assert confirm_page.status_code == HTTPStatus.OK
    assert confirm_page.redirect_chain == [("/link/", HTTPStatus.SEE_OTHER)]
    assert b"Sign in as alice@example.com" in confirm_page.content
    assert SESSION_KEY not in client.session

    signed_in = client.post("/link/", {"sesame": token_of(link)})
    assert signed_in.status_code == HTTPStatus.FOUND
    assert signed_in["Location"] == "/dashboard/"
    assert "sesame" not in signed_in["Location"]

    dashboard = client.get("/dashboard/")
    assert dashboard.status_code == HTTPStatus.OK
    assert b"Hello, alice@example.com" in dashboard.content
    assert b"This is your first sign-in" in dashboard.content


def test_the_email_says_what_the_link_does_how_long_it_lasts_and_to_ignore_it(client, mailbox):
    request_link(client, "alice@example.com")

    (message,) = mailbox.wait_for(1)
    assert re.fullmatch(r"\d{3} \d{3} is your Latchkey sign-in code", message["Subject"])
    assert message["From"] == "Latchkey <sign-in@signin.example.test>"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    link = link_in(message)
    for body in (text, html):
        assert "within 10 minutes" in body
        assert "If you did not ask to sign in, ignore this email" in body
    assert link.replace("&", "&amp;") in html


def test_the_link_is_built_from_site_url_never_from_the_host_header(client, mailbox, settings):
    settings.ALLOWED_HOSTS = ["testserver", "evil.example"]

    client.post("/", {"email": "alice@example.com"}, headers={"Host": "evil.example"})
    client.post("/", {"email": "bob@example.com"}, headers={"X-Forwarded-Host": "evil.example"})

    for message in mailbox.wait_for(2):
        assert link_in(message).startswith(TEST_SITE_URL + "/")
        assert "evil.example" not in message.as_string()


def test_a_new_address_gets_an_account_without_a_password_once_proven(client, mailbox):
    link = emailed_link(client, mailbox, "new.person@example.com")
    assert not User.objects.exists()  # asking proves nothing
    client.get(path_of(link))
    client.post("/link/", {"sesame": token_of(link)})

    user = User.objects.get(email="new.person@example.com")
    assert not user.has_usable_password()
    assert user.is_active and not user.is_staff


def test_one_account_whatever_the_case_of_the_address(client, mailbox, alice):
    request_link(client, "ALICE@example.COM")

    assert User.objects.count() == 1
    (message,) = mailbox.wait_for(1)
    assert message["To"] == "alice@example.com"


def test_signed_in_visitor_goes_straight_to_the_dashboard(client, alice):
    client.force_login(alice)

    response = client.get("/")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/dashboard/"


def test_a_safe_next_is_carried_through_the_whole_flow(client, mailbox, alice):
    page = client.get("/?next=/admin/")
    assert b'name="next" value="/admin/"' in page.content

    response = request_link(client, "alice@example.com", next_url="/admin/")
    assert response["Location"] == "/check-inbox/?next=%2Fadmin%2F"
    link = link_in(mailbox.wait_for(1)[0])
    # In the link, `next` is sealed to the link's token (see test_login_csrf.py).
    (sealed,) = parse_qs(urlsplit(link).query)["next"]
    assert sealed.startswith("/admin/:")

    confirm_page = client.get(path_of(link), follow=True)
    assert confirm_page.redirect_chain == [
        ("/link/?" + urlencode({"next": sealed}), HTTPStatus.SEE_OTHER)
    ]
    assert f'name="next" value="{sealed}"'.encode() in confirm_page.content

    signed_in = client.post("/link/", {"sesame": token_of(link), "next": sealed})
    assert signed_in["Location"] == "/admin/"


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "http://signin.example.test/",  # right host, but a downgrade to plain HTTP
    ],
)
def test_a_next_that_leaves_the_site_is_ignored(client, mailbox, alice, next_url):
    link = emailed_link(client, mailbox, "alice@example.com", next_url=next_url)
    assert "evil" not in link and "javascript" not in link

    signed_in = client.post("/link/", {"sesame": token_of(link), "next": next_url})

    assert signed_in["Location"] == "/dashboard/"


def test_opening_the_link_signs_no_one_in_and_leaves_it_usable(client, mailbox, alice):
    link = emailed_link(client, mailbox, "alice@example.com")
    sessions_before = Session.objects.count()

    # Mail scanners and link previews open it, a dozen times, then the person does.
    for _ in range(12):
        scanner = Client(headers={"X-Forwarded-Proto": "https"})
        assert scanner.get(path_of(link), follow=True).status_code == HTTPStatus.OK
        assert scanner.head(path_of(link)).status_code == HTTPStatus.SEE_OTHER
        assert scanner.head("/link/").status_code == HTTPStatus.OK
    assert client.get(path_of(link), follow=True).status_code == HTTPStatus.OK
    assert SESSION_KEY not in client.session
    assert Session.objects.count() == sessions_before

    signed_in = client.post("/link/", {"sesame": token_of(link)})
    assert signed_in["Location"] == "/dashboard/"


def test_the_token_leaves_the_address_bar_before_the_page_with_the_button(client, mailbox, alice):
    link = emailed_link(client, mailbox, "alice@example.com")

    opened = client.get(path_of(link))

    assert opened.status_code == HTTPStatus.SEE_OTHER
    assert opened["Location"] == "/link/"
    assert opened["Referrer-Policy"] == "no-referrer"
    assert "no-store" in opened["Cache-Control"]
    stash = opened.cookies["__Host-sign-in-link"]
    assert stash.value == token_of(link)
    assert stash["httponly"] and stash["secure"] and stash["samesite"] == "Lax"
    # A browser-session cookie: gone when the browser closes (a shared computer).
    assert stash["max-age"] == "" and stash["expires"] == ""

    page = client.get("/link/")
    assert "no-store" in page["Cache-Control"]
    # Same-origin, not no-referrer: with no-referrer Chromium posts the form with
    # "Origin: null", which Django's CSRF check refuses. The URL holds no token to leak.
    assert page["Referrer-Policy"] == "same-origin"
    assert 'action="/link/"' in page.content.decode()

    signed_in = client.post("/link/", {"sesame": token_of(link)})
    assert signed_in.cookies["__Host-sign-in-link"].value == ""


def test_the_confirm_page_without_a_link_says_the_link_is_not_valid(client):
    response = client.get("/link/")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert b"This link is not valid" in response.content


def test_an_expired_link_says_so_and_offers_a_new_one(client, mailbox, alice):
    link = emailed_link(client, mailbox, "alice@example.com")

    with time_machine.travel(timezone.now() + timedelta(minutes=10, seconds=1)):
        opened = client.get(path_of(link), follow=True)
        submitted = client.post("/link/", {"sesame": token_of(link)})

    for response in (opened, submitted):
        assert response.status_code == HTTPStatus.GONE
        assert b"This link has expired" in response.content
        # A new email for the same address, in one press.
        assert b'name="email" value="alice@example.com"' in response.content
        assert b"Send a new email" in response.content
    assert SESSION_KEY not in client.session


def test_a_link_still_works_just_before_it_expires(client, mailbox, alice):
    link = emailed_link(client, mailbox, "alice@example.com")

    with time_machine.travel(timezone.now() + timedelta(minutes=9, seconds=50)):
        signed_in = client.post("/link/", {"sesame": token_of(link)})

    assert signed_in["Location"] == "/dashboard/"


def test_a_used_link_says_it_was_already_used(client, mailbox, alice):
    link = emailed_link(client, mailbox, "alice@example.com")
    client.post("/link/", {"sesame": token_of(link)})
    client.post("/sign-out/")

    opened = client.get(path_of(link), follow=True)
    submitted = client.post("/link/", {"sesame": token_of(link)})

    for response in (opened, submitted):
        assert response.status_code == HTTPStatus.GONE
        assert b"This link has already been used" in response.content
    assert SESSION_KEY not in client.session


@pytest.mark.parametrize(
    "mangle",
    [
        # One character of the signature changed (not the last: it also carries padding bits).
        lambda token: token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:],
        lambda token: token[:20],  # cut short by a mail client
        lambda token: token + "AAAA",
        lambda token: "not-a-token",
        lambda token: "",
        lambda token: "1:abcdef:ghijkl",  # a v1-format token
    ],
)
def test_a_tampered_link_is_not_valid(client, mailbox, alice, mangle):
    token = token_of(emailed_link(client, mailbox, "alice@example.com"))

    opened = client.get("/link/", {"sesame": mangle(token)})
    shown = client.get(opened["Location"])
    submitted = client.post("/link/", {"sesame": mangle(token)})

    # Even a bad token leaves the address bar first: the page that explains has a form.
    assert opened.status_code == HTTPStatus.SEE_OTHER and opened["Location"] == "/link/"
    assert opened["Referrer-Policy"] == "no-referrer"
    for response in (shown, submitted):
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert b"This link is not valid" in response.content
    assert SESSION_KEY not in client.session


def test_a_token_made_for_another_purpose_signs_no_one_in(client, alice):
    other_scope = get_query_string(alice, scope="accounts:something-else")

    response = client.post("/link/", {"sesame": other_scope.removeprefix("?sesame=")})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert SESSION_KEY not in client.session


def test_a_login_token_on_any_other_page_signs_no_one_in(client, mailbox, alice):
    token = token_of(emailed_link(client, mailbox, "alice@example.com"))

    for path in ("/dashboard/", "/", "/admin/", "/check-inbox/"):
        client.get(path, {"sesame": token})
        assert SESSION_KEY not in client.session


def test_signing_in_ends_every_older_link(client, mailbox, alice):
    with time_machine.travel(timezone.now() - timedelta(minutes=2)):
        first = emailed_link(client, mailbox, "alice@example.com")
    second = emailed_link(client, mailbox, "alice@example.com")
    assert first != second

    client.post("/link/", {"sesame": token_of(second)})
    client.post("/sign-out/")
    response = client.post("/link/", {"sesame": token_of(first)})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert SESSION_KEY not in client.session


def test_a_sign_in_writes_last_login_once(client, mailbox, alice):
    link = emailed_link(client, mailbox, "alice@example.com")

    with CaptureQueriesContext(connection) as queries:
        client.post("/link/", {"sesame": token_of(link)})

    writes = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "accounts_user"')]
    assert len(writes) == 1 and "last_login" in writes[0]
    alice.refresh_from_db()
    assert alice.last_login is not None


@pytest.fixture
def sign_in_writes_fail():
    """The database fails the last thing a sign-in writes (a new browser's row), as a database
    that goes away mid-sign-in does: a trigger, in the real PostgreSQL, answering admin_shutdown."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'going away' USING ERRCODE = '57P01'; END $$; "
            "CREATE TRIGGER refuse BEFORE INSERT ON accounts_knowndevice "
            "FOR EACH ROW EXECUTE FUNCTION refuse()"
        )

    def heal() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS refuse ON accounts_knowndevice")
            cursor.execute("DROP FUNCTION IF EXISTS refuse()")

    yield heal
    heal()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("way", ["link", "code"])
def test_a_sign_in_that_fails_halfway_leaves_its_link_and_code_unspent(
    mailbox, alice, sign_in_writes_fail, way
):
    browser = Client(headers={"X-Forwarded-Proto": "https"}, raise_request_exception=False)
    browser.post("/", {"email": "alice@example.com"})
    (message,) = mailbox.wait_for(1)
    link, code = link_in(message), code_in(message)

    def sign_in():
        if way == "link":
            return browser.post("/link/", {"sesame": token_of(link)})
        return browser.post("/check-inbox/", {"code": code})

    failed = sign_in()

    assert failed.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert SESSION_KEY not in browser.session
    alice.refresh_from_db()
    assert alice.last_login is None  # the claim went back with the rest
    assert not alice.events.filter(kind="signed_in").exists()
    sign_in_writes_fail()  # the database is back
    assert sign_in()["Location"] == "/dashboard/"


@pytest.fixture
def the_sweep_after_fails():
    """The hourly sweep of old rows meets a database error (a trigger answering admin_shutdown
    on one of its DELETEs), and it is due now."""
    from django.core.cache import cache

    from accounts.sessions.pruning import PRUNED_KEY

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'going away' USING ERRCODE = '57P01'; END $$; "
            "CREATE TRIGGER refuse BEFORE DELETE ON accounts_suppressedaddress "
            "FOR EACH STATEMENT EXECUTE FUNCTION refuse()"
        )
    cache.delete(PRUNED_KEY)
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS refuse ON accounts_suppressedaddress")
        cursor.execute("DROP FUNCTION IF EXISTS refuse()")


@pytest.mark.django_db(transaction=True)
def test_a_sign_in_that_committed_is_answered_as_one_whatever_the_sweep_after_it_does(
    mailbox, alice, the_sweep_after_fails
):
    browser = Client(headers={"X-Forwarded-Proto": "https"}, raise_request_exception=False)
    link = emailed_link(browser, mailbox, "alice@example.com")

    pressed = browser.post("/link/", {"sesame": token_of(link)})

    assert pressed.status_code == HTTPStatus.FOUND
    assert browser.get("/dashboard/").status_code == HTTPStatus.OK


def test_deactivating_a_user_ends_their_links(client, mailbox, alice):
    link = emailed_link(client, mailbox, "alice@example.com")
    alice.is_active = False
    alice.save()

    response = client.post("/link/", {"sesame": token_of(link)})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert SESSION_KEY not in client.session


def test_signing_in_starts_a_new_session(client, mailbox, alice):
    link = emailed_link(client, mailbox, "alice@example.com")
    client.get(path_of(link), follow=True)
    before = client.session.session_key

    client.post("/link/", {"sesame": token_of(link)})

    assert client.session.session_key != before
    assert client.session[SESSION_KEY] == str(alice.pk)


def test_the_dashboard_shows_the_previous_sign_in(client, mailbox, alice):
    earlier = timezone.now() - timedelta(days=3)
    User.objects.filter(pk=alice.pk).update(last_login=earlier)
    link = emailed_link(client, mailbox, "alice@example.com")

    client.post("/link/", {"sesame": token_of(link)})
    dashboard = client.get("/dashboard/")

    previous = re.search(r"Your previous sign-in was on <time [^>]*>([^<]+)</time>", dashboard.text)
    assert previous and previous.group(1).startswith(f"{earlier:%-d %B %Y}")
    alice.refresh_from_db()
    assert alice.last_login > earlier


def test_the_dashboard_needs_a_signed_in_person(client):
    response = client.get("/dashboard/")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/?next=/dashboard/"


def test_signing_out_ends_the_session_on_the_server(client, alice):
    client.force_login(alice)
    session_key = client.session.session_key

    response = client.post("/sign-out/", follow=True)

    assert response.redirect_chain[-1][0] == "/"
    assert b"You are signed out." in response.content
    assert not Session.objects.filter(session_key=session_key).exists()
    assert client.get("/dashboard/").status_code == HTTPStatus.FOUND


def test_signing_out_needs_a_post(client, alice):
    client.force_login(alice)

    response = client.get("/sign-out/")

    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert client.get("/dashboard/").status_code == HTTPStatus.OK


def test_check_inbox_without_a_request_goes_back_to_sign_in(client):
    response = client.get("/check-inbox/")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/"


def test_an_unknown_page_is_a_friendly_404(client):
    response = client.get("/no-such-page/")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert b"We cannot find that page" in response.content


@pytest.mark.django_db(transaction=True)
def test_a_link_without_the_trailing_slash_is_not_a_cacheable_redirect_with_the_token(
    mailbox, alice
):
    client = behind_the_proxy()
    client.post("/", {"email": "alice@example.com"})
    token = link_in(mailbox.message_to("alice@example.com")).split("sesame=")[1]

    response = client.get(f"/link?sesame={token}")

    assert response.status_code == HTTPStatus.SEE_OTHER
    assert response["Location"] == "/link/"
    assert token not in response["Location"]
    assert "no-store" in response["Cache-Control"]
    assert client.get("/link/").status_code == HTTPStatus.OK


@pytest.mark.django_db(transaction=True)
def test_the_link_cookie_is_cleared_whatever_the_outcome(mailbox, alice):
    client = behind_the_proxy()
    client.post("/", {"email": "alice@example.com"})
    token = link_in(mailbox.message_to("alice@example.com")).split("sesame=")[1]
    client.get(f"/link/?sesame={token}")
    User.objects.filter(pk=alice.pk).update(last_login=timezone.now())  # the link is now spent

    refused = client.get("/link/")

    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert refused.cookies["__Host-sign-in-link"].value == ""

"""What every response carries, and the admin reached through the same link."""

import re
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.templatetags.static import static

from accounts.models import SignInEmail, User
from tests.helpers import code_in, link_in, path_of, signed_in_by_link

pytestmark = pytest.mark.django_db


def test_every_page_carries_the_security_headers(client, alice):
    pages = [client.get("/"), client.get("/no-such-page/"), client.get("/link/?sesame=bad")]
    client.force_login(alice)
    pages.append(client.get("/dashboard/"))

    for response in pages:
        csp = response["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "form-action 'self'" in csp
        assert "unsafe-inline" not in csp
        assert response["Strict-Transport-Security"].startswith("max-age=31536000")
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"
        assert response["Referrer-Policy"] in {"same-origin", "no-referrer"}


def test_plain_http_is_sent_to_https(client):
    response = client.get("/", headers={"X-Forwarded-Proto": "http"})

    assert response.status_code == HTTPStatus.MOVED_PERMANENTLY
    assert response["Location"] == "https://testserver/"


def test_cookies_are_host_only_secure_and_http_only(client, mailbox):
    client.get("/")
    client.post("/", {"email": "alice@example.com"})

    session = client.cookies["__Host-sessionid"]
    csrf = client.cookies["__Host-csrftoken"]
    for cookie in (session, csrf):
        assert cookie["secure"] and cookie["httponly"]
        assert cookie["path"] == "/"
        assert not cookie["domain"]
        assert cookie["samesite"] == "Lax"


def test_pages_use_no_inline_script_or_style(client, alice):
    pages = [client.get("/"), client.get("/no-such-page/")]
    client.force_login(alice)
    pages.append(client.get("/dashboard/"))

    for response in pages:
        html = response.content.decode()
        # Scripts come from files, which the CSP allows; none inline. Every page reports the
        # reader's zone (static/js/zone.js); some also offer passkeys.
        scripts = [
            f'<script type="module" src="{static(f"js/{name}.js")}">'
            for name in ("zone", "passkeys")
        ]
        assert re.findall(r"<script[^>]*>", html) in (scripts[:1], scripts)
        assert "<style" not in html
        assert " style=" not in html


def test_the_admin_sign_in_page_sends_people_to_our_sign_in_with_next(client):
    response = client.get("/admin/", follow=True)

    assert response.redirect_chain[-1] == ("/?next=%2Fadmin%2F", HTTPStatus.FOUND)
    assert b'name="next" value="/admin/"' in response.content


def test_staff_reach_the_admin_through_the_same_link(client, mailbox):
    User.objects.create_superuser("boss@example.com")

    client.post("/", {"email": "boss@example.com", "next": "/admin/"})
    link = link_in(mailbox.wait_for(1)[0])
    client.get(path_of(link), follow=True)
    query = parse_qs(urlsplit(link).query)
    signed_in = client.post("/link/", {"sesame": query["sesame"][0], "next": query["next"][0]})
    admin = client.get(signed_in["Location"])

    assert signed_in["Location"] == "/admin/"
    assert admin.status_code == HTTPStatus.OK
    assert b"Site administration" in admin.content


def test_createsuperuser_works_with_an_email_address(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-unusual-passphrase-91")

    call_command("createsuperuser", "--noinput", "--email", "Admin@Example.com", verbosity=0)

    admin = User.objects.get()
    assert admin.email == "admin@example.com"
    assert admin.is_superuser and admin.is_staff


def test_two_spellings_of_one_address_cannot_become_two_accounts():
    User.objects.create_user("alice@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.bulk_create([User(email="ALICE@example.com")])


def test_createsuperuser_without_a_terminal_or_password_makes_a_passwordless_admin(monkeypatch):
    # What `fly ssh console -C "python manage.py createsuperuser --noinput --email …"` runs.
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)

    call_command("createsuperuser", "--noinput", "--email", "root@example.com", verbosity=0)

    admin = User.objects.get()
    assert admin.is_superuser and not admin.has_usable_password()


def test_staff_see_what_became_of_each_sign_in_email_and_cannot_change_it(client, mailbox):
    User.objects.create_superuser("boss@example.com")
    client.post("/", {"email": "boss@example.com"})
    client.post("/check-inbox/", {"code": code_in(mailbox.message_to("boss@example.com"))})

    listing = client.get("/admin/accounts/signinemail/")

    assert listing.status_code == HTTPStatus.OK
    assert b"boss@example.com" in listing.content and b"sent" in listing.content
    email = SignInEmail.objects.get()
    assert f"/admin/accounts/signinemail/{email.pk}/".encode() not in listing.content
    assert client.get("/admin/accounts/signinemail/add/").status_code == HTTPStatus.FORBIDDEN


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/dashboard/", "/check-inbox/", "/admin/", "/link/", "/"])
def test_no_page_that_may_show_an_address_can_be_cached(mailbox, path):
    User.objects.create_superuser("boss@example.com")
    client = signed_in_by_link(mailbox, "boss@example.com")
    client.post("/", {"email": "boss@example.com"})  # so that check-inbox has an address

    response = client.get(path)

    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "no-store"} <= cache_control

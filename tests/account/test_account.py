"""/account/: where this account is signed in, ending the browsers the person does not
recognise, and what happened lately."""

import time
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from accounts.models import SignedInBrowser, User
from tests.helpers import code_in, signed_in_by_code

pytestmark = pytest.mark.django_db

LAPTOP = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/131.0 Safari"
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


def handle_of_other_browser(page: str) -> str:
    marker = 'name="browser" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def test_the_account_page_lists_each_browser_and_marks_this_one(mailbox, alice):
    signed_in_by_code(mailbox, **{"User-Agent": PHONE})
    laptop = signed_in_by_code(mailbox, **{"User-Agent": LAPTOP})

    page = laptop.get("/account/").content.decode()

    assert "Mobile Safari 18 on iOS" in page
    assert "Chrome 131 on Mac OS X" in page
    assert page.count("this browser") == 1
    assert "127.0.0.0/24" in page
    assert "Signed in" in page and "Recent activity" in page
    # No session key leaves its cookie: forms name browsers by a handle of their own.
    for session in Session.objects.all():
        assert session.session_key not in page


def test_the_person_ends_a_browser_they_do_not_recognise(mailbox, alice):
    phone = signed_in_by_code(mailbox, **{"User-Agent": PHONE})
    laptop = signed_in_by_code(mailbox, **{"User-Agent": LAPTOP})
    page = laptop.get("/account/").content.decode()

    ended = laptop.post("/account/sign-out-browser/", {"browser": handle_of_other_browser(page)})

    assert ended["Location"] == "/account/"
    assert phone.get("/dashboard/").status_code == HTTPStatus.FOUND  # sent to sign in
    assert laptop.get("/dashboard/").status_code == HTTPStatus.OK
    assert SignedInBrowser.objects.count() == 1


def test_sign_out_everywhere_else_keeps_only_this_browser(mailbox, alice):
    # Three emails an address per 15 minutes: two phones and this laptop.
    others = [signed_in_by_code(mailbox, **{"User-Agent": PHONE}) for _ in range(2)]
    laptop = signed_in_by_code(mailbox, **{"User-Agent": LAPTOP})

    laptop.post("/account/sign-out-browser/", {"browser": "others"})

    assert b"Signed out 2 other browsers." in laptop.get("/account/").content
    assert [o.get("/dashboard/").status_code for o in others] == [HTTPStatus.FOUND] * 2
    assert laptop.get("/dashboard/").status_code == HTTPStatus.OK


def test_nobody_can_end_another_accounts_browser(mailbox, alice, django_user_model):
    django_user_model.objects.create_user("mallory@example.com")
    alices_phone = signed_in_by_code(mailbox, **{"User-Agent": PHONE})
    alices_laptop = signed_in_by_code(mailbox, **{"User-Agent": LAPTOP})
    mallory = signed_in_by_code(mailbox, "mallory@example.com", **{"User-Agent": LAPTOP})
    handle = handle_of_other_browser(alices_laptop.get("/account/").content.decode())

    answer = mallory.post("/account/sign-out-browser/", {"browser": handle})

    assert answer["Location"] == "/account/"
    assert alices_phone.get("/dashboard/").status_code == HTTPStatus.OK
    assert b"already signed out" in mallory.get("/account/").content


def test_bad_input_and_wrong_methods_get_clear_answers(mailbox, alice):
    laptop = signed_in_by_code(mailbox, **{"User-Agent": LAPTOP})

    assert laptop.post("/account/sign-out-browser/", {"browser": "x" * 5000}).status_code == 302
    assert laptop.post("/account/sign-out-browser/", {}).status_code == HTTPStatus.FOUND
    assert laptop.get("/account/sign-out-browser/").status_code == HTTPStatus.METHOD_NOT_ALLOWED
    stranger = Client(headers={"X-Forwarded-Proto": "https"})
    assert stranger.get("/account/")["Location"].startswith("/?next=/account/")
    assert laptop.get("/dashboard/").status_code == HTTPStatus.OK  # nothing above ended it


def test_a_browser_signed_in_before_the_list_existed_appears_once_it_is_used(alice, client):
    client.force_login(alice)  # a session without a row, as after the upgrade
    session = client.session
    session["last_seen_at"] = session["signed_in_at"] = int(time.time()) - 120
    session.save()

    client.get("/dashboard/")

    assert SignedInBrowser.objects.filter(user=alice).count() == 1


def test_a_wrong_address_deletes_nothing_and_says_so(mailbox, alice):
    laptop = signed_in_by_code(mailbox, **{"User-Agent": LAPTOP})

    refused = laptop.post("/account/delete/", {"email": "mallory@example.com"})
    empty = laptop.post("/account/delete/", {"email": ""})
    nonsense = laptop.post("/account/delete/", {"email": "x" * 5000})

    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert b"That is not this account&#x27;s address. Nothing was deleted." in refused.content
    assert empty.status_code == nonsense.status_code == HTTPStatus.BAD_REQUEST
    assert User.objects.filter(email="alice@example.com").exists()
    assert laptop.get("/dashboard/").status_code == HTTPStatus.OK


def test_a_new_browser_is_announced_once_and_the_first_sign_in_is_not(mailbox):
    # The account's first sign-in: no notice.
    signed_in_by_code(mailbox, "new@example.com", **{"User-Agent": LAPTOP})
    assert not [m for m in mailbox.messages if "new sign-in" in m["Subject"]]
    assert User.objects.get(email="new@example.com").last_login is not None

    phone = signed_in_by_code(mailbox, "new@example.com", **{"User-Agent": PHONE})
    notices = [m for m in mailbox.messages if "new sign-in" in m["Subject"]]
    (notice,) = notices
    text = notice.get_body(preferencelist=("plain",)).get_content()
    assert "Mobile Safari 18 on iOS" in text and "127.0.0.0/24" in text
    assert "https://signin.example.test/account/" in text
    assert "sesame" not in text and "sesame" not in notice.as_string()

    phone.post("/sign-out/")
    mailbox.clear()
    phone.post("/", {"email": "new@example.com"})  # the same browser, back again
    code = code_in(mailbox.message_to("new@example.com"))
    phone.post("/check-inbox/", {"code": code})
    assert [m["Subject"] for m in mailbox.messages] == [f"{code} is your Latchkey sign-in code"]
    device = phone.cookies["__Host-device"]
    assert device["httponly"] and device["secure"] and int(device["max-age"]) > 365 * 86400


def test_deleting_needs_a_sign_in_from_the_last_ten_minutes(mailbox, alice):
    laptop = signed_in_by_code(mailbox, **{"User-Agent": LAPTOP})
    later = timezone.now() + timedelta(minutes=11)

    with time_machine.travel(later):
        refused = laptop.post("/account/delete/", {"email": "alice@example.com"})
        again = laptop.post("/sign-out/", {"next": "/account/delete/"})

    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert b"Sign in again first" in refused.content
    assert User.objects.filter(email="alice@example.com").exists()
    assert again["Location"] == "/?next=%2Faccount%2Fdelete%2F"
    # The sign-in page says why, with the address already typed.
    page = laptop.get(again["Location"]).content.decode()
    assert "Sign in again to go on" in page
    assert 'value="alice@example.com"' in page

"""The review's four reproductions, as it ran them: gunicorn and the mail worker from fly.toml,
browsers over HTTP, and a passkey in software answering real WebAuthn ceremonies.

Each failed on the code before the way-back work (2026-12-06) and passes after it.
"""

import time
from http import HTTPStatus

import httpx
import pytest

from accounts.models import SignedInBrowser, User
from accounts.sessions.lifetime import SIGNED_IN_AT
from accounts.sessions.store import SessionStore
from harness.authenticator import SoftPasskey
from tests.helpers import (
    ask_for_a_link,
    code_in,
    csrf_token_in,
    link_in,
    path_of,
    press,
    signed_in_over_http,
)

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]


def add_a_passkey(app, browser: httpx.Client) -> SoftPasskey:
    passkey = SoftPasskey(origin=app.site_url, rp_id="127.0.0.1")
    page = browser.get("/account/").text
    options = browser.post(
        "/account/passkeys/options/", headers={"X-CSRFToken": csrf_token_in(page)}
    )
    added = browser.post(
        "/account/passkeys/",
        data={
            "credential": passkey.create(options.text),
            "csrfmiddlewaretoken": csrf_token_in(page),
        },
    )
    assert added.headers["Location"] == "/account/"
    return passkey


def signed_in_by_passkey(app, passkey: SoftPasskey) -> httpx.Client:
    browser = app.client()
    page = browser.get("/").text
    options = browser.post(
        "/passkeys/sign-in/options/", headers={"X-CSRFToken": csrf_token_in(page)}
    )
    answer = browser.post(
        "/passkeys/sign-in/",
        data={"credential": passkey.get(options.text), "csrfmiddlewaretoken": csrf_token_in(page)},
    )
    assert answer.headers["Location"] == "/dashboard/"
    return browser


def ask_to_move(browser: httpx.Client, to: str) -> httpx.Response:
    return press(browser, "/account/email/", "/account/email/", {"email": to})


def confirm_by_code(browser: httpx.Client, code: str) -> httpx.Response:
    page = "/account/email/confirm/"
    return press(browser, page, page, {"code": code})


def test_two_browsers_each_asking_a_change_only_one_lands(live_app, mailbox):
    User.objects.create_user("alice@example.com")
    phished, _ = signed_in_over_http(live_app, mailbox)
    passkey = add_a_passkey(live_app, phished)
    second = signed_in_by_passkey(live_app, passkey)
    mailbox.clear()

    ask_to_move(phished, "inbox-a@example.net")
    ask_to_move(second, "inbox-b@example.net")
    code_a = code_in(mailbox.message_to("inbox-a@example.net"))
    code_b = code_in(mailbox.message_to("inbox-b@example.net"))
    landed = confirm_by_code(phished, code_a)
    cancelled = confirm_by_code(second, code_b)
    told = second.get("/account/").text
    notice = mailbox.message_to("alice@example.com", subject="was changed")
    owner = live_app.client()
    undo = link_in(notice)
    undone = press(
        owner, path_of(undo), "/account/email/undo/", {"change": undo.split("change=")[1]}
    )

    assert landed.headers["Location"] == "/account/"
    assert cancelled.headers["Location"] == "/account/"
    assert "this one was cancelled" in told
    assert undone.status_code == HTTPStatus.OK
    assert User.objects.get().email == "alice@example.com"
    assert not User.objects.get().passkeys.exists()
    for browser in (phished, second):
        assert browser.get("/dashboard/").status_code == HTTPStatus.FOUND


def test_the_owner_signs_in_after_a_move_and_takes_the_account_back(live_app, mailbox):
    alice = User.objects.create_user("alice@example.com")
    intruder, _ = signed_in_over_http(live_app, mailbox)
    ask_to_move(intruder, "mallory@example.net")
    confirm_by_code(intruder, code_in(mailbox.message_to("mallory@example.net")))
    mailbox.message_to("alice@example.com", subject="was changed")  # lost, or never read
    mailbox.clear()

    owner = live_app.client()
    asked = ask_for_a_link(owner, "alice@example.com")
    offer = mailbox.message_to("alice@example.com")
    undo = link_in(offer)
    undone = press(
        owner, path_of(undo), "/account/email/undo/", {"change": undo.split("change=")[1]}
    )
    back_in, _ = signed_in_over_http(live_app, mailbox)

    assert asked.headers["Location"] == "/check-inbox/"
    assert "moved to another address" in offer["Subject"]
    assert undone.status_code == HTTPStatus.OK
    assert list(User.objects.values_list("pk", "email")) == [(alice.pk, "alice@example.com")]
    assert "Hello, alice@example.com" in back_in.get("/dashboard/").text
    assert intruder.get("/dashboard/").status_code == HTTPStatus.FOUND


def make_every_session_old(user: User, seconds: int = 60 * 60) -> None:
    """As a computer left signed in for an hour: the session's sign-in time, in PostgreSQL."""
    for key in SignedInBrowser.objects.filter(user=user).values_list("session_id", flat=True):
        session = SessionStore(session_key=key)
        session[SIGNED_IN_AT] = int(time.time()) - seconds
        session.save()


def test_a_stale_session_changes_no_way_in(live_app, mailbox):
    alice = User.objects.create_user("alice@example.com")
    stale, _ = signed_in_over_http(live_app, mailbox)
    page = stale.get("/account/").text
    make_every_session_old(alice)
    token = csrf_token_in(page)

    options = stale.post("/account/passkeys/options/", headers={"X-CSRFToken": token})
    added = stale.post(
        "/account/passkeys/", data={"credential": "{}", "csrfmiddlewaretoken": token}
    )
    moved = stale.post(
        "/account/email/", data={"email": "mallory@example.net", "csrfmiddlewaretoken": token}
    )
    deleted = stale.post(
        "/account/delete/", data={"email": "alice@example.com", "csrfmiddlewaretoken": token}
    )

    assert options.status_code == HTTPStatus.FORBIDDEN
    assert options.json() == {"error": "sign_in_again"}
    for refused in (added, moved, deleted):
        assert refused.status_code == HTTPStatus.FORBIDDEN
        assert "Sign in again first" in refused.text
    alice.refresh_from_db()
    assert alice.email == "alice@example.com" and alice.is_active
    assert not alice.passkeys.exists()
    assert stale.get("/dashboard/").status_code == HTTPStatus.OK  # still signed in, only stale


def test_a_bare_word_as_next_is_no_destination(live_app, mailbox):
    User.objects.create_user("alice@example.com")
    browser, typed = signed_in_over_http(live_app, mailbox, next_url="evil")

    home = browser.get("/?next=evil")
    inbox = browser.get("/check-inbox/?next=evil")
    named = browser.get("/?next=account")

    assert typed.status_code == HTTPStatus.FOUND and typed.headers["Location"] == "/dashboard/"
    assert "Hello, alice@example.com" in browser.get("/dashboard/").text
    for answer in (home, inbox, named):
        assert answer.status_code == HTTPStatus.FOUND
        assert answer.headers["Location"] == "/dashboard/"

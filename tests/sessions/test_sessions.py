"""A sign-in lasts a day without use and two weeks at most; both end on the server."""

from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import SignedInBrowser
from accounts.sessions.store import SessionStore
from tests.environment import redis_server
from tests.helpers import behind_the_proxy, code_in, link_in, path_of, signed_in_by_link

pytestmark = pytest.mark.django_db


def sign_in(client, mailbox, address="alice@example.com", keep=False):
    client.post("/", {"email": address})
    link = link_in(mailbox.message_to(address))
    client.get(path_of(link), follow=True)
    token = link.split("sesame=")[1]
    form = {"sesame": token, **({"keep": "on"} if keep else {})}
    assert client.post("/link/", form)["Location"] == "/dashboard/"


def test_a_day_without_use_ends_the_sign_in(client, mailbox):
    sign_in(client, mailbox)
    session_key = client.session.session_key

    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        response = client.get("/dashboard/", follow=True)

    assert response.redirect_chain[0] == ("/?next=/dashboard/", HTTPStatus.FOUND)
    assert b"You were signed out after a while" in response.content
    assert not Session.objects.filter(session_key=session_key).exists()


def test_regular_use_keeps_a_sign_in_alive_until_two_weeks(client, mailbox):
    sign_in(client, mailbox)
    start = timezone.now()

    for day in range(1, 14):
        with time_machine.travel(start + timedelta(days=day, hours=-1)):
            assert client.get("/dashboard/").status_code == HTTPStatus.OK
    with time_machine.travel(start + timedelta(days=14, minutes=1)):
        assert client.get("/dashboard/").status_code == HTTPStatus.FOUND


def test_the_session_cookie_lasts_no_longer_than_the_sign_in(client, mailbox, settings):
    sign_in(client, mailbox)

    cookie = client.cookies["__Host-sessionid"]
    assert int(cookie["max-age"]) == settings.SESSION_MAX_AGE == 14 * 24 * 60 * 60


def test_keep_me_signed_in_outlasts_a_week_away_but_not_two(client, mailbox):
    sign_in(client, mailbox, keep=True)
    start = timezone.now()

    with time_machine.travel(start + timedelta(days=6)):
        after_a_week_away = client.get("/dashboard/")
    with time_machine.travel(start + timedelta(days=14, minutes=1)):
        after_two_weeks = client.get("/dashboard/")

    assert after_a_week_away.status_code == HTTPStatus.OK
    assert after_two_weeks.status_code == HTTPStatus.FOUND


def test_keeping_is_a_choice_offered_off_on_both_ways_in(client, mailbox):
    client.post("/", {"email": "alice@example.com"})
    link = link_in(mailbox.message_to("alice@example.com"))
    confirm_page = client.get(path_of(link), follow=True).content.decode()
    inbox_page = client.get("/check-inbox/").content.decode()

    for page in (confirm_page, inbox_page):
        assert '<input type="checkbox" name="keep" id="id_keep" value="on" aria-' in page
        assert "For up to 14 days, even when you do not use it." in page


def test_a_sign_in_writes_its_session_once_and_forgets_the_anonymous_one(client, mailbox):
    client.post("/", {"email": "alice@example.com"})
    link = link_in(mailbox.message_to("alice@example.com"))
    client.get(path_of(link), follow=True)
    anonymous = client.session.session_key

    with CaptureQueriesContext(connection) as queries:
        client.post("/link/", {"sesame": link.split("sesame=")[1]})

    # Read the anonymous session, delete it (its browser row goes with it, in the database),
    # write the signed-in one: no key lookup first, no second write of the same data. (The
    # hourly pruning of expired sessions, which names no key, may run too.)
    statements = [q["sql"].split()[0] for q in queries if '"session_key"' in q["sql"]]
    assert statements == ["SELECT", "DELETE", "INSERT"]
    signed_in = client.session.session_key
    assert signed_in != anonymous
    assert not Session.objects.filter(pk=anonymous).exists()
    assert SignedInBrowser.objects.get(user__email="alice@example.com").session_id == signed_in


def test_ending_a_session_takes_its_browser_row_with_it(client, mailbox):
    sign_in(client, mailbox)
    key = client.session.session_key

    SessionStore(key).delete()

    assert not SignedInBrowser.objects.filter(session_id=key).exists()
    assert client.get("/dashboard/").status_code == HTTPStatus.FOUND


def test_a_value_changed_in_place_after_a_save_is_written_again(db):
    store = SessionStore()
    store["visits"] = [1]
    store.save()

    store["visits"].append(2)
    store.modified = True
    store.save()

    assert SessionStore(store.session_key).load()["visits"] == [1, 2]


def test_a_new_key_that_is_already_taken_is_drawn_again(db):
    taken = SessionStore()
    taken["who"] = "first"
    taken.save()
    keys = iter([taken.session_key, "b" * 32])

    class Unlucky(SessionStore):
        def _get_new_session_key(self) -> str:
            return next(keys)

    store = Unlucky()
    store["who"] = "second"
    store.save()

    assert store.session_key == "b" * 32
    assert SessionStore(taken.session_key).load()["who"] == "first"


@pytest.mark.django_db(transaction=True)
def test_sign_out_holds_through_a_redis_blip(mailbox, alice):
    client = signed_in_by_link(mailbox, "alice@example.com")
    stolen_cookie = client.cookies["__Host-sessionid"].value

    redis_server.stop()
    try:
        signed_out = client.post("/sign-out/")
    finally:
        redis_server.start()
    replayed = behind_the_proxy()
    replayed.cookies["__Host-sessionid"] = stolen_cookie

    assert signed_out.status_code == HTTPStatus.FOUND
    assert replayed.get("/dashboard/")["Location"].startswith("/?next=")


@pytest.mark.django_db(transaction=True)
def test_reactivating_an_account_revives_neither_its_links_nor_its_sessions(mailbox, alice):
    client = signed_in_by_link(mailbox, "alice@example.com")
    other = behind_the_proxy()
    other.post("/", {"email": "alice@example.com"})
    outstanding = link_in(mailbox.message_to("alice@example.com"))

    alice.is_active = False
    alice.save(update_fields=["is_active"])
    alice.is_active = True
    alice.save(update_fields=["is_active"])

    assert client.get("/dashboard/").status_code == HTTPStatus.FOUND
    assert other.get(path_of(outstanding), follow=True).status_code == HTTPStatus.BAD_REQUEST


@pytest.mark.django_db(transaction=True)
def test_an_old_secret_key_in_the_fallbacks_keeps_sessions_and_links_alive(
    mailbox, alice, settings
):
    client = signed_in_by_link(mailbox, "alice@example.com")
    other = behind_the_proxy()
    other.post("/", {"email": "alice@example.com"})
    message = mailbox.message_to("alice@example.com")

    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key-after-rotation-0123456789-abcdefghijklmn"

    assert client.get("/dashboard/").status_code == HTTPStatus.OK
    assert other.get(path_of(link_in(message))).status_code == HTTPStatus.SEE_OTHER
    assert other.post("/check-inbox/", {"code": code_in(message)})["Location"] == "/dashboard/"


@pytest.mark.django_db(transaction=True)
def test_expired_sessions_are_pruned_by_the_next_sign_in_of_the_hour(mailbox, alice):
    stale = SessionStore()
    stale.set_expiry(timezone.now() - timedelta(days=1))
    stale.create()
    assert Session.objects.filter(pk=stale.session_key).exists()

    signed_in_by_link(mailbox, "alice@example.com")
    assert not Session.objects.filter(pk=stale.session_key).exists()

    # At most once an hour: a second stale row waits for the next hour's first sign-in.
    later = SessionStore()
    later.set_expiry(timezone.now() - timedelta(days=1))
    later.create()
    signed_in_by_link(mailbox, "alice@example.com")
    assert Session.objects.filter(pk=later.session_key).exists()

"""A sign-in lasts a day without use and two weeks at most; both end on the server."""

from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.utils import timezone

from tests.helpers import link_in, path_of

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

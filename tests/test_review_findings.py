"""The attack review's low findings, each reproduced and now refused."""

from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.models import SignInEmail, SuppressedAddress, User
from tests.environment import redis_server
from tests.helpers import behind_the_proxy, code_in, link_in, path_of

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in_browser(mailbox, address: str) -> Client:
    client = behind_the_proxy()
    client.post("/", {"email": address})
    link = link_in(mailbox.message_to(address))
    mailbox.clear()
    client.get(path_of(link))
    token = link.split("sesame=")[1]
    assert client.post("/link/", {"sesame": token})["Location"] == "/dashboard/"
    return client


def test_sign_out_holds_through_a_redis_blip(mailbox, alice):
    client = signed_in_browser(mailbox, "alice@example.com")
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


def test_reactivating_an_account_revives_neither_its_links_nor_its_sessions(mailbox, alice):
    client = signed_in_browser(mailbox, "alice@example.com")
    other = behind_the_proxy()
    other.post("/", {"email": "alice@example.com"})
    outstanding = link_in(mailbox.message_to("alice@example.com"))

    alice.is_active = False
    alice.save(update_fields=["is_active"])
    alice.is_active = True
    alice.save(update_fields=["is_active"])

    assert client.get("/dashboard/").status_code == HTTPStatus.FOUND
    assert other.get(path_of(outstanding), follow=True).status_code == HTTPStatus.BAD_REQUEST


@pytest.mark.parametrize("path", ["/dashboard/", "/check-inbox/", "/admin/", "/link/", "/"])
def test_no_page_that_may_show_an_address_can_be_cached(mailbox, path):
    User.objects.create_superuser("boss@example.com")
    client = signed_in_browser(mailbox, "boss@example.com")
    client.post("/", {"email": "boss@example.com"})  # so that check-inbox has an address

    response = client.get(path)

    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "no-store"} <= cache_control


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


def test_the_link_cookie_is_cleared_whatever_the_outcome(mailbox, alice):
    client = behind_the_proxy()
    client.post("/", {"email": "alice@example.com"})
    token = link_in(mailbox.message_to("alice@example.com")).split("sesame=")[1]
    client.get(f"/link/?sesame={token}")
    User.objects.filter(pk=alice.pk).update(last_login=timezone.now())  # the link is now spent

    refused = client.get("/link/")

    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert refused.cookies["__Host-sign-in-link"].value == ""


def test_an_old_secret_key_in_the_fallbacks_keeps_sessions_and_links_alive(
    mailbox, alice, settings
):
    client = signed_in_browser(mailbox, "alice@example.com")
    other = behind_the_proxy()
    other.post("/", {"email": "alice@example.com"})
    message = mailbox.message_to("alice@example.com")

    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key-after-rotation-0123456789-abcdefghijklmn"

    assert client.get("/dashboard/").status_code == HTTPStatus.OK
    assert other.get(path_of(link_in(message))).status_code == HTTPStatus.SEE_OTHER
    assert other.post("/check-inbox/", {"code": code_in(message)})["Location"] == "/dashboard/"


def test_expired_sessions_are_pruned_by_the_next_sign_in_of_the_hour(mailbox, alice):
    stale = SessionStore()
    stale.set_expiry(timezone.now() - timedelta(days=1))
    stale.create()
    assert Session.objects.filter(pk=stale.session_key).exists()

    signed_in_browser(mailbox, "alice@example.com")
    assert not Session.objects.filter(pk=stale.session_key).exists()

    # At most once an hour: a second stale row waits for the next hour's first sign-in.
    later = SessionStore()
    later.set_expiry(timezone.now() - timedelta(days=1))
    later.create()
    signed_in_browser(mailbox, "alice@example.com")
    assert Session.objects.filter(pk=later.session_key).exists()


def test_sign_in_emails_and_their_tasks_are_kept_for_a_day(mailbox, alice):
    with time_machine.travel(timezone.now() - timedelta(days=1, minutes=1)):
        yesterday = behind_the_proxy()
        yesterday.post("/", {"email": "alice@example.com"})
        task = DBTaskResult.objects.create(
            task_path="accounts.mail.delivery.deliver",
            args_kwargs={"args": ["old"], "kwargs": {}},
            status="SUCCESSFUL",
            finished_at=timezone.now(),
            backend_name="default",
        )
    mailbox.clear()

    signed_in_browser(mailbox, "alice@example.com")

    assert SignInEmail.objects.count() == 1  # today's
    assert not DBTaskResult.objects.filter(pk=task.pk).exists()


def test_pauses_of_mail_that_ended_are_pruned_and_stops_for_good_are_kept(mailbox, alice):
    hour_ago = timezone.now() - timedelta(hours=1)
    SuppressedAddress.objects.create(email="ended@example.com", reason="bounced", until=hour_ago)
    SuppressedAddress.objects.create(email="spam@example.com", reason="complained")

    signed_in_browser(mailbox, "alice@example.com")

    assert list(SuppressedAddress.objects.values_list("email", flat=True)) == ["spam@example.com"]

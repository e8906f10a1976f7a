"""No account exists before its address is proven: asking creates nothing, confirming creates it."""

import threading
from datetime import timedelta
from http import HTTPStatus
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from accounts.models import User
from tests.helpers import ask_for_a_link, behind_the_proxy, link_in, path_of

pytestmark = pytest.mark.django_db


def ask(client, mailbox, address: str = "new@example.com"):
    assert client.post("/", {"email": address}).status_code == HTTPStatus.FOUND
    message = mailbox.message_to(address)
    mailbox.clear()
    return message


def token_of(link: str) -> str:
    return link.split("sesame=")[1].split("&")[0]


def test_asking_creates_no_account_and_confirming_the_link_creates_it(mailbox):
    client = behind_the_proxy()
    link = link_in(ask(client, mailbox))
    assert not User.objects.exists()

    client.get(path_of(link))
    assert "Sign in as new@example.com" in client.get("/link/").content.decode()
    signed_in = client.post("/link/", {"sesame": token_of(link)})

    assert signed_in["Location"] == "/dashboard/"
    assert list(User.objects.values_list("email", flat=True)) == ["new@example.com"]
    assert "This is your first sign-in" in client.get("/dashboard/").content.decode()


def test_the_code_creates_the_account_too(mailbox):
    client = behind_the_proxy()
    text = ask(client, mailbox).get_body(preferencelist=("plain",)).get_content()
    code = next(line.strip() for line in text.splitlines() if line.strip()[:3].isdigit())

    assert client.post("/check-inbox/", {"code": code})["Location"] == "/dashboard/"
    assert User.objects.get().email == "new@example.com"


def test_a_signup_link_works_once_and_an_older_one_dies_with_it(mailbox):
    client = behind_the_proxy()
    older = link_in(ask(client, mailbox))
    newer = link_in(ask(client, mailbox))
    client.post("/link/", {"sesame": token_of(newer)})

    again = behind_the_proxy().post("/link/", {"sesame": token_of(newer)})
    old = behind_the_proxy().post("/link/", {"sesame": token_of(older)})

    assert again.status_code == old.status_code == HTTPStatus.GONE
    assert User.objects.count() == 1


def test_a_tampered_signup_link_is_not_valid_and_an_old_one_offers_a_new_email(mailbox):
    link = link_in(ask(behind_the_proxy(), mailbox))
    token = token_of(link)
    forged = token.replace(token.split(".")[0], "eyJlbWFpbCI6Im1hbGxvcnlAZXhhbXBsZS5jb20ifQ")

    tampered = behind_the_proxy().get(f"/link/?sesame={forged}", follow=True)
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        expired = behind_the_proxy().get(path_of(link), follow=True)

    assert tampered.status_code == HTTPStatus.BAD_REQUEST
    assert expired.status_code == HTTPStatus.GONE
    assert 'name="email" value="new@example.com"' in expired.content.decode()
    assert not User.objects.exists()


def test_a_signup_link_is_refused_once_signup_closes(mailbox, settings):
    link = link_in(ask(behind_the_proxy(), mailbox))
    settings.SIGNUP_POLICY = "closed"

    assert behind_the_proxy().post("/link/", {"sesame": token_of(link)}).status_code == 400
    assert not User.objects.exists()


@pytest.mark.system
@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_confirmations_create_one_account(live_app, mailbox):
    asker = live_app.client()
    ask_for_a_link(asker, "racer@example.com")
    token = token_of(link_in(mailbox.message_to("racer@example.com")))
    statuses: list[int] = []
    start = threading.Barrier(20)

    def confirm() -> None:
        with live_app.client() as client:
            page = client.get("/")  # a CSRF cookie and token, as a browser has
            csrf = page.text.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
            start.wait()
            response = client.post("/link/", data={"sesame": token, "csrfmiddlewaretoken": csrf})
            statuses.append(response.status_code)

    threads = [threading.Thread(target=confirm) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [HTTPStatus.FOUND] + [HTTPStatus.GONE] * 19
    assert User.objects.filter(email="racer@example.com").count() == 1


def test_accounts_that_never_signed_in_can_be_deleted(alice):
    User.objects.create_user("boss@example.com", is_staff=True)
    signed_in = User.objects.create_user("carol@example.com")
    User.objects.filter(pk=signed_in.pk).update(last_login=timezone.now())
    User.objects.update(date_joined=timezone.now() - timedelta(days=8))
    out = StringIO()

    call_command("delete_unused_accounts", "--days", "7", stdout=out)

    assert "Deleted 1 accounts" in out.getvalue()
    assert sorted(User.objects.values_list("email", flat=True)) == [
        "boss@example.com",
        "carol@example.com",
    ]


def test_both_emails_share_one_layout_and_say_what_they_must(mailbox, alice, settings):
    settings.SIGNUP_POLICY = "closed"
    behind_the_proxy().post("/", {"email": "alice@example.com"})
    behind_the_proxy().post("/", {"email": "stranger@example.com"})

    def html(address: str) -> str:
        message = mailbox.message_to(address)
        return message.get_body(preferencelist=("html",)).get_content()

    sign_in, no_account = html("alice@example.com"), html("stranger@example.com")
    assert "Sign in to Latchkey" in sign_in and "sesame=" in sign_in
    assert "No account for this address" in no_account and "sesame=" not in no_account
    for page in (sign_in, no_account):
        assert 'style="max-width:480px;background-color:#ffffff;border-radius:12px;"' in page
        assert page.count("<h1") == 1

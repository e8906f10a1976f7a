"""People who did nothing wrong meet no error page and no dead end around the sign-in."""

from datetime import timedelta
from http import HTTPStatus
from urllib.parse import unquote

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts.models import KnownDevice, SignedInBrowser, User
from tests.helpers import csrf_token_in, link_in, path_of

pytestmark = pytest.mark.django_db


def browser(**kwargs) -> Client:
    """A browser that sends its Origin, as every real one does with a form."""
    return Client(
        headers={"X-Forwarded-Proto": "https", "Origin": "https://signin.example.test"}, **kwargs
    )


def emailed_link(client, mailbox, address: str = "alice@example.com", next_url: str = "") -> str:
    client.post("/", {"email": address, "next": next_url})
    link = link_in(mailbox.message_to(address))
    mailbox.clear()
    return link


def lose_the_answer(client, cookies: dict) -> None:
    """The browser dropped an answer, its new cookies with it: back to `cookies`."""
    client.cookies.clear()
    for name, morsel in cookies.items():
        client.cookies[name] = morsel.value


def press_sign_in(client, link: str):
    """Open the link and press the button, CSRF token included, as the page would send it."""
    client.get(path_of(link))
    page = client.get("/link/")
    return client.post(
        "/link/",
        {
            "sesame": link.split("sesame=")[1].split("&")[0],
            "csrfmiddlewaretoken": csrf_token_in(page.content.decode()),
        },
    )


def test_back_after_signing_in_goes_to_the_dashboard(mailbox, alice):
    client = browser()
    link = emailed_link(client, mailbox)
    press_sign_in(client, link)

    reopened = client.get(path_of(link), follow=True)

    assert reopened.redirect_chain[-1] == ("/dashboard/", HTTPStatus.FOUND)
    assert "You are already signed in." in reopened.content.decode()


def test_a_signed_in_person_on_check_inbox_goes_on(mailbox, alice):
    client = browser()
    press_sign_in(client, emailed_link(client, mailbox))

    assert client.get("/check-inbox/?next=/admin/")["Location"] == "/admin/"


def test_a_link_open_in_two_tabs_signs_in_from_the_first_and_the_second_goes_on(mailbox, alice):
    link = emailed_link(browser(), mailbox)
    client = browser(enforce_csrf_checks=True)
    client.get(path_of(link))
    token = link.split("sesame=")[1]
    second_tab = csrf_token_in(client.get("/link/").content.decode())
    first_tab = csrf_token_in(client.get("/link/").content.decode())
    first = client.post("/link/", {"sesame": token, "csrfmiddlewaretoken": first_tab})

    # Signing in rotated the CSRF token: the second tab's form is stale.
    second = client.post("/link/", {"sesame": token, "csrfmiddlewaretoken": second_tab})

    assert first["Location"] == "/dashboard/"
    assert second.status_code == HTTPStatus.FOUND
    assert second["Location"] == "/dashboard/"


def test_a_stale_form_when_signed_out_gets_a_friendly_page():
    client = browser(enforce_csrf_checks=True)

    refused = client.post("/", {"email": "alice@example.com"})

    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert "This page has expired" in refused.content.decode()
    assert 'class="button"' in refused.content.decode()


def test_a_second_press_whose_first_answer_was_lost_still_signs_in(mailbox, alice):
    client = browser()
    link = emailed_link(client, mailbox, next_url="/admin/")
    client.get(path_of(link))
    before_the_press = dict(client.cookies.items())
    token = link.split("sesame=")[1].split("&")[0]
    sealed_next = link.split("next=")[1]
    data = {"sesame": token, "next": unquote(sealed_next)}
    assert client.post("/link/", data)["Location"] == "/admin/"

    # The browser dropped that answer, new session cookie and all, and shows the second one.
    lose_the_answer(client, before_the_press)
    second = client.post("/link/", data)

    assert second["Location"] == "/admin/"
    assert client.get("/dashboard/").context["user"] == alice


def test_a_second_press_whose_first_answer_was_lost_announces_the_browser_once(mailbox, alice):
    press_sign_in(browser(), emailed_link(browser(), mailbox))  # an earlier browser of hers
    mailbox.clear()
    client = browser()
    link = emailed_link(client, mailbox)
    client.get(path_of(link))
    before_the_press = dict(client.cookies.items())
    data = {"sesame": link.split("sesame=")[1]}
    assert client.post("/link/", data)["Location"] == "/dashboard/"

    lose_the_answer(client, before_the_press)
    assert client.post("/link/", data)["Location"] == "/dashboard/"

    mailbox.wait_for(1)
    notices = [m for m in mailbox.messages if "A new sign-in" in m["Subject"]]
    assert len(notices) == 1, f"{len(notices)} new-browser notices for one browser"
    assert KnownDevice.objects.filter(user=alice).count() == 2
    # The lost answer's session is gone: only the two browsers she holds are listed.
    assert SignedInBrowser.objects.filter(user=alice).count() == 2
    # A third press still finds its session.
    lose_the_answer(client, before_the_press)
    assert client.post("/link/", data)["Location"] == "/dashboard/"
    assert SignedInBrowser.objects.filter(user=alice).count() == 2


def test_another_browser_with_the_same_used_link_is_still_refused(mailbox, alice):
    client, other = browser(), browser()
    link = emailed_link(client, mailbox)
    press_sign_in(client, link)

    opened = other.get(path_of(link), follow=True)
    pressed = other.post("/link/", {"sesame": link.split("sesame=")[1]})

    assert opened.status_code == pressed.status_code == HTTPStatus.GONE
    assert other.get("/dashboard/").status_code == HTTPStatus.FOUND


def test_a_signed_in_person_without_staff_status_gets_a_clear_403_at_the_admin(mailbox, alice):
    client = browser()
    press_sign_in(client, emailed_link(client, mailbox))

    admin = client.get("/admin/", follow=True)

    assert admin.status_code == HTTPStatus.FORBIDDEN
    assert len(admin.redirect_chain) == 1  # /admin/ -> /admin/login/, and no loop
    page = admin.content.decode()
    assert "This account cannot open the admin" in page
    assert 'action="/sign-out/"' in page


def test_send_a_new_email_is_one_press_that_keeps_address_and_next(mailbox, alice):
    client = browser()
    client.post("/", {"email": "alice@example.com", "next": "/admin/"})
    mailbox.wait_for(1)
    page = client.get("/check-inbox/?next=/admin/").content.decode()
    assert '<input type="hidden" name="email" value="alice@example.com">' in page
    assert '<input type="hidden" name="next" value="/admin/">' in page

    too_soon = client.post("/", {"email": "alice@example.com", "next": "/admin/", "resend": "1"})

    assert too_soon["Location"] == "/check-inbox/?next=%2Fadmin%2F"
    assert len(mailbox.messages) == 1
    assert "We sent an email moments ago" in client.get(too_soon["Location"]).content.decode()


def test_the_rate_limit_page_says_which_limit_and_offers_the_code(client, mailbox, settings):
    for _ in range(3):
        client.post("/", {"email": "alice@example.com"})
    by_address = client.post("/", {"email": "alice@example.com"}).content.decode()
    settings.RATE_LIMIT_PER_IP = "1/15m"
    crowded = browser(REMOTE_ADDR="198.51.100.7")
    crowded.post("/", {"email": "a@example.com"})
    by_network = crowded.post("/", {"email": "b@example.com"}).content.decode()

    assert "sent several emails to this address already" in by_address
    assert 'href="/check-inbox/"' in by_address  # the code of an earlier email still works
    assert "Many sign-in emails went to your network lately" in by_network  # a step, no stop
    assert 'value="b@example.com"' in by_network  # the address is kept


def test_an_expired_link_offers_a_new_email_for_its_own_address(mailbox):
    User.objects.create_user("bob@example.com")
    other = browser()
    link = emailed_link(browser(), mailbox, "bob@example.com")
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        page = other.get(path_of(link), follow=True).content.decode()

    assert '<input type="hidden" name="email" value="bob@example.com">' in page


def test_a_likely_typo_gets_did_you_mean_and_either_choice_sends(mailbox):
    client = browser()

    asked = client.post("/", {"email": "alice@gmial.com", "next": "/admin/"})

    page = asked.content.decode()
    assert asked.status_code == HTTPStatus.OK
    assert "Did you mean <strong>alice@gmail.com</strong>?" in page
    assert mailbox.messages == []
    assert client.post("/", {"email": "alice@gmail.com"}).status_code == HTTPStatus.FOUND
    kept = client.post("/", {"email": "alice@gmial.com", "as_typed": "1"})
    assert kept.status_code == HTTPStatus.FOUND
    assert sorted(rcpt for _, (rcpt,) in mailbox.envelopes) == [
        "alice@gmail.com",
        "alice@gmial.com",
    ]


@pytest.mark.parametrize("typed", ["bob@example.con", "bob@example.cmo"])
def test_an_ending_no_registry_issues_is_questioned(typed):
    page = browser().post("/", {"email": typed}).content.decode()

    assert "Did you mean <strong>bob@example.com</strong>?" in page


def test_a_second_press_after_the_browser_was_signed_out_elsewhere_does_not_sign_in(mailbox, alice):
    intruder = browser()
    link = emailed_link(intruder, mailbox)
    intruder.get(path_of(link))
    before_the_press = dict(intruder.cookies.items())
    data = {"sesame": link.split("sesame=")[1]}
    assert intruder.post("/link/", data)["Location"] == "/dashboard/"
    owner = browser()
    press_sign_in(owner, emailed_link(owner, mailbox))
    owner.post("/account/sign-out-browser/", {"browser": "others"})

    lose_the_answer(intruder, before_the_press)
    again = intruder.post("/link/", data)

    assert again.status_code == HTTPStatus.GONE
    assert intruder.get("/dashboard/").status_code == HTTPStatus.FOUND

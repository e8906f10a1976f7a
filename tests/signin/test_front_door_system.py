"""The front door as production runs it: gunicorn and the mail worker, fly's Fly-Client-IP header
naming the client, the browsers' answers to the proof of work solved by the `altcha` package's
own solver (as the widget does in tests/site/test_browser.py)."""

import threading
from http import HTTPStatus

import pytest

from accounts.models import User
from tests.helpers import csrf_token_in, eventually, our_app, solved

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]

BEHIND_FLY = {
    "TRUSTED_PROXY_HEADER": "Fly-Client-IP",
    "RATE_LIMIT_PER_IP": "5/15m",
    "RATE_LIMIT_PER_WIDE_NETWORK": "8/15m",
    "PROOF_OF_WORK_MAX_NUMBER": "2000",
}


@pytest.fixture(scope="module")
def app(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        served = our_app(**BEHIND_FLY)
    yield served
    served.stop()


def ask(app, ip: str, address: str, **extra):
    """One browser at `ip` asks for an email; if it is asked for a proof, it solves it."""
    browser = app.client()
    browser.headers["Fly-Client-IP"] = ip  # as fly's proxy writes it
    token = csrf_token_in(browser.get("/").text)
    answer = browser.post("/", data={"email": address, "csrfmiddlewaretoken": token, **extra})
    return browser, answer


def ask_and_prove(app, ip: str, address: str):
    browser, answer = ask(app, ip, address)
    if answer.status_code == HTTPStatus.OK and "One more step" in answer.text:
        token = csrf_token_in(answer.text)
        form = {"email": address, "csrfmiddlewaretoken": token, "altcha": solved(answer.text)}
        answer = browser.post("/", data=form)
    return answer


def test_twelve_addresses_of_one_64_get_no_more_emails_than_one_address_would(app, mailbox):
    answers = [ask(app, f"2001:db8:7:1::{n:x}", f"v6-{n}@example.com")[1] for n in range(1, 13)]

    assert [a.status_code for a in answers] == [HTTPStatus.FOUND] * 5 + [HTTPStatus.OK] * 7
    eventually(lambda: len(mailbox.messages) == 5, 10, "five emails")
    assert all("One more step" in a.text for a in answers[5:])


def test_the_48_tier_holds_across_its_64s(app, mailbox):
    answers = [ask(app, f"2001:db8:8:{n:x}::1", f"w{n}@example.com")[1] for n in range(1, 13)]

    assert [a.status_code for a in answers] == [HTTPStatus.FOUND] * 8 + [HTTPStatus.OK] * 4


def test_forty_people_behind_one_address_each_get_their_email(app, mailbox):
    answers = []
    lock = threading.Lock()

    def person(n: int) -> None:
        answer = ask_and_prove(app, "198.51.100.200", f"office{n}@example.com")
        with lock:
            answers.append(answer.status_code)

    people = [threading.Thread(target=person, args=(n,)) for n in range(40)]
    for thread in people:
        thread.start()
    for thread in people:
        thread.join()

    assert answers == [HTTPStatus.FOUND] * 40
    eventually(lambda: len(mailbox.messages) == 40, 30, "forty emails")
    assert sorted(mailbox.by_recipient) == sorted(f"office{n}@example.com" for n in range(40))


def test_a_replayed_or_forged_solution_is_refused(app, mailbox):
    for n in range(5):
        ask(app, "198.51.100.201", f"busy{n}@example.com")
    browser, asked = ask(app, "198.51.100.201", "one@example.com")
    proof = solved(asked.text)
    token = csrf_token_in(asked.text)
    first = browser.post(
        "/", data={"email": "one@example.com", "csrfmiddlewaretoken": token, "altcha": proof}
    )

    replayed = browser.post(
        "/", data={"email": "two@example.com", "csrfmiddlewaretoken": token, "altcha": proof}
    )
    forged = browser.post(
        "/",
        data={
            "email": "three@example.com",
            "csrfmiddlewaretoken": token,
            "altcha": proof[:-6] + "AAAA==",
        },
    )

    assert first.status_code == HTTPStatus.FOUND
    assert replayed.status_code == forged.status_code == HTTPStatus.BAD_REQUEST
    eventually(lambda: "one@example.com" in mailbox.by_recipient, 10, "the proven email")
    assert "two@example.com" not in mailbox.by_recipient
    assert "three@example.com" not in mailbox.by_recipient


def test_eight_typos_then_a_real_address_from_one_network_sends_the_email(app, mailbox):
    for mistake in ["", "nobody", "bob@gmial.com", "eve@example.con"] * 2:
        ask(app, "198.51.100.202", mistake)

    _, sent = ask(app, "198.51.100.202", "dave@example.com")

    assert sent.status_code == HTTPStatus.FOUND
    assert mailbox.message_to("dave@example.com")


@pytest.fixture
def thrifty_app(transactional_db):
    served = our_app(**{**BEHIND_FLY, "RATE_LIMIT_SITE": "4/1h", "RATE_LIMIT_PER_IP": "100/15m"})
    yield served
    served.stop()


def test_past_the_site_budget_new_addresses_wait_and_accounts_still_get_mail(thrifty_app, mailbox):
    User.objects.create_user("member@example.com")
    for n in range(4):
        assert (
            ask_and_prove(thrifty_app, f"198.51.100.{210 + n}", f"early{n}@example.com").status_code
            == HTTPStatus.FOUND
        )

    new = ask_and_prove(thrifty_app, "198.51.100.220", "newcomer@example.com")
    member = ask_and_prove(thrifty_app, "198.51.100.221", "member@example.com")

    assert new.status_code == member.status_code == HTTPStatus.FOUND
    assert mailbox.message_to("member@example.com")
    eventually(lambda: len(mailbox.by_recipient) >= 5, 10, "the early emails and the member's")
    assert "newcomer@example.com" not in mailbox.by_recipient
    assert "event=site_budget_spent" in thrifty_app.logs()

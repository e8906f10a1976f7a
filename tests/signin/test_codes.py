"""A person asks on the laptop, reads the email on the phone, and types the code on the laptop."""

import re
import threading
from datetime import datetime, timedelta
from http import HTTPStatus
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.utils import timezone

from accounts.models import SignInEmail, User
from tests.helpers import ask_for_a_link, behind_the_proxy, code_in, link_in, path_of

pytestmark = pytest.mark.django_db


def ask(client, mailbox, address: str = "alice@example.com", next_url: str = "") -> str:
    """Ask for an email in this browser; the code it carries."""
    assert client.post("/", {"email": address, "next": next_url}).status_code == HTTPStatus.FOUND
    message = mailbox.message_to(address)
    mailbox.clear()
    return code_in(message)


def type_code(client, code: str, next_url: str = ""):
    query = f"?next={next_url}" if next_url else ""
    return client.post(f"/check-inbox/{query}", {"code": code})


def test_the_code_signs_in_the_browser_that_asked(mailbox, alice):
    laptop = behind_the_proxy()
    code = ask(laptop, mailbox)

    signed_in = type_code(laptop, code)

    assert signed_in["Location"] == "/dashboard/"
    assert laptop.get("/dashboard/").context["user"] == alice


def test_the_email_shows_the_code_grouped_and_names_it_in_the_subject(client, mailbox, alice):
    client.post("/", {"email": "alice@example.com"})
    (message,) = mailbox.wait_for(1)

    code = code_in(message)
    assert message["Subject"] == f"{code} is your Latchkey sign-in code"
    assert code in message.get_body(preferencelist=("html",)).get_content()


@pytest.mark.parametrize("spelling", ["{a}{b}", "{a} {b}", "{a}-{b}", " {a} - {b} ", "{wide}"])
def test_the_code_may_be_typed_with_spaces_dashes_or_wide_digits(mailbox, alice, spelling):
    laptop = behind_the_proxy()
    code = ask(laptop, mailbox)
    a, b = code.split()
    wide = "".join(chr(ord(digit) + 0xFEE0) for digit in a + b)

    signed_in = type_code(laptop, spelling.format(a=a, b=b, wide=wide))

    assert signed_in["Location"] == "/dashboard/"


def test_the_code_does_nothing_in_another_browser(mailbox, alice):
    laptop, phone = behind_the_proxy(), behind_the_proxy()
    code = ask(laptop, mailbox)

    typed_on_phone = type_code(phone, code)

    assert typed_on_phone["Location"] == "/"
    assert phone.get("/dashboard/").status_code == HTTPStatus.FOUND
    assert type_code(laptop, code)["Location"] == "/dashboard/"  # still good where it was asked


def test_a_wrong_code_says_how_many_tries_are_left_then_the_code_dies(mailbox, alice, settings):
    laptop = behind_the_proxy()
    code = ask(laptop, mailbox)
    wrong = "000 000" if code != "000 000" else "111 111"

    answers = [type_code(laptop, wrong) for _ in range(settings.LOGIN_CODE_MAX_ATTEMPTS + 1)]
    right_afterwards = type_code(laptop, code)

    statuses = [answer.status_code for answer in answers]
    # The fifth wrong try is the last: from it on, the page is drawn one way only.
    assert statuses == [HTTPStatus.BAD_REQUEST] * 4 + [HTTPStatus.TOO_MANY_REQUESTS] * 2
    assert "4 tries left" in answers[0].content.decode()
    assert "1 try left" in answers[3].content.decode()
    last = answers[4].content.decode()
    assert "Too many wrong codes" in last
    assert 'name="code"' not in last  # no field for a code that can no longer work
    assert re.search(r'<button type="submit" class="button"[^>]*>Send a new email</button>', last)
    assert right_afterwards.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert "Send a new email" in right_afterwards.content.decode()
    assert laptop.get("/dashboard/").status_code == HTTPStatus.FOUND


def test_a_newer_email_replaces_the_older_code(mailbox, alice):
    laptop = behind_the_proxy()
    older = ask(laptop, mailbox)
    newer = ask(laptop, mailbox)

    if older != newer:  # one time in a million they are the same six digits
        assert type_code(laptop, older).status_code == HTTPStatus.BAD_REQUEST
    assert type_code(laptop, newer)["Location"] == "/dashboard/"


def test_a_code_expires_with_the_link(mailbox, alice):
    laptop = behind_the_proxy()
    code = ask(laptop, mailbox)

    with time_machine.travel(timezone.now() + timedelta(minutes=10, seconds=1)):
        late = type_code(laptop, code)

    assert late.status_code == HTTPStatus.GONE
    assert "Your code and link have expired" in late.content.decode()


def test_after_the_deadline_the_page_says_code_and_link_expired_and_offers_a_new_email(
    mailbox, alice
):
    laptop = behind_the_proxy()
    ask(laptop, mailbox)

    with time_machine.travel(timezone.now() + timedelta(minutes=10, seconds=1)):
        page = laptop.get("/check-inbox/").content.decode()

    assert "Your code and link have expired" in page
    assert 'name="code"' not in page  # no field for a code that can no longer work
    # One way on, the loud one: a new email (its link and code are new too).
    assert re.findall(r'<button type="submit" class="(button[^"]*)"[^>]*>([^<]+)<', page)[:1] == [
        ("button", "Send a new email")
    ]


def test_a_press_of_send_a_new_email_too_soon_says_when_it_will_work(mailbox, alice):
    laptop = behind_the_proxy()
    ask(laptop, mailbox)
    resend = {"email": "alice@example.com", "resend": "1", "as_typed": "1"}

    with time_machine.travel(timezone.now() + timedelta(seconds=12), tick=False):
        too_soon = laptop.post("/", resend, follow=True).content.decode()
    assert mailbox.messages == []
    assert "We sent an email moments ago" in too_soon
    seconds = re.search(
        r"You can send a new email in <span data-seconds>(\d+)</span> s\.", too_soon
    )
    # 30 s after the email was asked, 12 of them gone (a slow machine may have spent more).
    assert seconds and 0 < int(seconds.group(1)) <= 18

    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        assert laptop.post("/", resend)["Location"] == "/check-inbox/"
    assert len(mailbox.messages) == 1  # after the cool-down, a press sends at once


def test_the_code_field_has_focus_on_arrival_and_after_a_wrong_try(mailbox, alice):
    laptop = behind_the_proxy()
    code = ask(laptop, mailbox)

    arrival = laptop.get("/check-inbox/").content.decode()
    wrong = type_code(laptop, "000 000" if code != "000 000" else "111 111").content.decode()

    for page in (arrival, wrong):
        field = re.search(r'<input[^>]*name="code"[^>]*>', page).group(0)
        assert " autofocus" in field
        assert page.count("autofocus") == 1


def test_the_link_and_the_code_of_one_email_sign_in_once(mailbox, alice):
    laptop, phone = behind_the_proxy(), behind_the_proxy()
    laptop.post("/", {"email": "alice@example.com"})
    message = mailbox.message_to("alice@example.com")
    link = link_in(message)
    phone.get(path_of(link))
    assert phone.post("/link/", {"sesame": link.split("sesame=")[1]})["Location"] == "/dashboard/"

    too_late = type_code(laptop, code_in(message))

    assert too_late.status_code == HTTPStatus.GONE
    assert laptop.get("/dashboard/").status_code == HTTPStatus.FOUND


def test_a_sign_in_by_code_ends_the_emailed_link(mailbox, alice):
    laptop, phone = behind_the_proxy(), behind_the_proxy()
    laptop.post("/", {"email": "alice@example.com"})
    message = mailbox.message_to("alice@example.com")
    type_code(laptop, code_in(message))

    opened = phone.get(path_of(link_in(message)), follow=True)

    # django-sesame signs last_login into the token: the code's sign-in moved it.
    assert opened.status_code == HTTPStatus.BAD_REQUEST
    assert "This link is not valid" in opened.content.decode()


def test_the_code_carries_next(mailbox, alice):
    laptop = behind_the_proxy()
    code = ask(laptop, mailbox, next_url="/admin/")

    assert type_code(laptop, code, next_url="/admin/")["Location"] == "/admin/"


def test_no_account_means_every_code_is_wrong_in_the_same_words(mailbox, settings):
    settings.SIGNUP_POLICY = "closed"
    User.objects.create_user("known@example.com")
    known, stranger = behind_the_proxy(), behind_the_proxy()
    ask(known, mailbox, "known@example.com")
    stranger.post("/", {"email": "stranger@example.com"})

    answers = [type_code(client, "123 456") for client in (known, stranger)]

    assert [a.status_code for a in answers] == [HTTPStatus.BAD_REQUEST] * 2
    assert all("4 tries left" in a.content.decode() for a in answers)


def test_the_code_is_stored_nowhere_and_never_logged(mailbox, alice, caplog):
    caplog.set_level("DEBUG")
    laptop = behind_the_proxy()
    code = ask(laptop, mailbox)
    digits = code.replace(" ", "")
    type_code(laptop, "000 000" if digits != "000000" else "111 111")

    stored = [session.get_decoded() for session in Session.objects.all()]
    stored += list(SignInEmail.objects.values())
    assert stored and all(digits not in repr(data) for data in stored)
    type_code(laptop, code)
    assert digits not in caplog.text and code not in caplog.text


def test_the_check_inbox_page_names_sender_subject_and_deadline(mailbox, alice):
    laptop = behind_the_proxy()
    ask(laptop, mailbox)

    page = laptop.get("/check-inbox/").content.decode()

    # The sender as a mail client lists it: its name, and its address beside it.
    assert "It comes from <strong>Latchkey</strong> (sign-in@signin.example.test)" in page
    assert "… is your Latchkey sign-in code" in page
    # The browser has not said its zone: the time is in UTC, and says so.
    assert re.search(r'work until <time datetime="[^"]+">\d\d:\d\d UTC</time> \(10 minutes\)', page)
    assert 'autocomplete="one-time-code"' in page and 'inputmode="numeric"' in page


def test_the_deadline_is_in_the_readers_zone_once_their_browser_has_said_it(mailbox, alice):
    laptop = behind_the_proxy()
    laptop.cookies["zone"] = "Asia/Kolkata"  # what static/js/zone.js writes; UTC+05:30
    ask(laptop, mailbox)

    page = laptop.get("/check-inbox/").content.decode()

    instant, shown = re.search(r'work until <time datetime="([^"]+)">([^<]+)</time>', page).groups()
    expected = datetime.fromisoformat(instant).astimezone(ZoneInfo("Asia/Kolkata"))
    assert shown == expected.strftime("%H:%M")  # no UTC clock time, and no "UTC"
    assert instant.endswith("+00:00")


def test_a_zone_the_zone_database_does_not_know_is_ignored(mailbox, alice):
    laptop = behind_the_proxy()
    laptop.cookies["zone"] = "Mars/Olympus_Mons"
    ask(laptop, mailbox)

    assert re.search(r"\d\d:\d\d UTC</time>", laptop.get("/check-inbox/").content.decode())


@pytest.mark.system
@pytest.mark.django_db(transaction=True)
def test_thirty_simultaneous_wrong_guesses_are_judged_five_times_at_most(live_app, mailbox):
    User.objects.create_user("alice@example.com")
    laptop = live_app.client()
    ask_for_a_link(laptop, "alice@example.com")
    code = code_in(mailbox.message_to("alice@example.com"))
    wrong = "000000" if code != "000 000" else "111111"
    page = laptop.get("/check-inbox/").text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    statuses: list[int] = []
    start = threading.Barrier(30)

    def guess() -> None:
        start.wait()
        statuses.append(
            laptop.post(
                "/check-inbox/", data={"code": wrong, "csrfmiddlewaretoken": token}
            ).status_code
        )

    threads = [threading.Thread(target=guess) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    right = laptop.post("/check-inbox/", data={"code": code, "csrfmiddlewaretoken": token})

    assert statuses.count(HTTPStatus.BAD_REQUEST) <= 5
    assert statuses.count(HTTPStatus.BAD_REQUEST) + statuses.count(429) == 30
    assert right.status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_asking_again_and_again_buys_ten_wrong_codes_a_day_for_one_address(
    mailbox, alice, settings
):
    settings.RATE_LIMIT_PER_ADDRESS = "100/15m"
    attacker = behind_the_proxy()
    statuses = []
    for _ in range(2):
        code = ask(attacker, mailbox)
        wrong = "000 000" if code != "000 000" else "111 111"
        statuses += [type_code(attacker, wrong).status_code for _ in range(5)]
    code = ask(attacker, mailbox)

    right_but_too_late = type_code(attacker, code)

    # Each email's fifth wrong try is its last (429); ten wrong codes in all for the day.
    assert statuses == ([HTTPStatus.BAD_REQUEST] * 4 + [HTTPStatus.TOO_MANY_REQUESTS]) * 2
    assert right_but_too_late.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert attacker.get("/dashboard/").status_code == HTTPStatus.FOUND


def test_the_code_signs_in_with_more_than_one_authentication_backend(mailbox, alice, settings):
    # A code is not a credential any backend checks; login() must be told which one to record.
    settings.AUTHENTICATION_BACKENDS = [
        "sesame.backends.ModelBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    laptop = behind_the_proxy()

    assert type_code(laptop, ask(laptop, mailbox))["Location"] == "/dashboard/"
    assert laptop.get("/dashboard/").context["user"] == alice

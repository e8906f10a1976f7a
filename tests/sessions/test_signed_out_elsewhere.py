"""Where a person is signed in, and what a browser signed out from elsewhere is told."""

import re
from http import HTTPStatus

import pytest

from tests.account.test_address_change import moved_by_an_intruder
from tests.account.test_deletion import deleted
from tests.helpers import behind_the_proxy, path_of, signed_in_by_code

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


# Not "another of your browsers": the server cannot know whose it was.
ANOTHER_BROWSER = (
    "This browser was signed out from another browser signed in to your account. If that was "
    "not you, sign in and look at where you are signed in."
)


def notices_on(browser) -> list[str]:
    """The notices on the page a browser lands on, following any redirects."""
    page = browser.get("/dashboard/", follow=True).content.decode()
    return re.findall(r'<p class="notice[^"]*">([^<]+)</p>', page)


def test_the_account_page_lists_this_browser_first_and_names_every_sign_out_button(mailbox):
    signed_in_by_code(mailbox, **{"User-Agent": CHROME})
    signed_in_by_code(mailbox, **{"User-Agent": CHROME})
    laptop = signed_in_by_code(mailbox, **{"User-Agent": FIREFOX})  # the most recent, but here

    page = laptop.get("/account/").content.decode()

    listed = re.findall(r"<strong>([^<]+)</strong>( · this browser)?", page.split("Where you")[1])
    assert listed == [
        ("Firefox 133 on Linux", " · this browser"),
        ("Chrome 131 on Windows (1)", ""),
        ("Chrome 131 on Windows (2)", ""),
    ]
    # Each name starts with the button's visible words (WCAG 2.5.3, label in name).
    names = re.findall(r'aria-label="(Sign out[^"]+)">Sign out<', page)
    assert names == ["Sign out: Chrome 131 on Windows (1)", "Sign out: Chrome 131 on Windows (2)"]
    # Signing out the others is there, and not the loudest thing on the page.
    assert re.search(r'class="button button-secondary">Sign out everywhere else<', page)


def test_signing_out_another_browser_names_it_and_tells_that_browser_why_once(mailbox):
    phone = signed_in_by_code(mailbox, **{"User-Agent": FIREFOX})
    laptop = signed_in_by_code(mailbox, **{"User-Agent": CHROME})
    page = laptop.get("/account/").content.decode()
    handle = re.search(r'name="browser" value="([^"]+)"', page).group(1)

    answer = laptop.post("/account/sign-out-browser/", {"browser": handle}, follow=True)

    assert "Firefox 133 on Linux is signed out." in answer.content.decode()
    assert notices_on(phone) == [ANOTHER_BROWSER]
    assert notices_on(phone) == []  # said once


def test_a_browser_signed_out_by_an_undo_is_told_so(mailbox, alice):
    laptop, intruder, undo_link = moved_by_an_intruder(mailbox, alice)
    phone = behind_the_proxy()  # the owner, signed out, with the notice's undo link

    phone.get(path_of(undo_link))
    phone.post("/account/email/undo/", {"change": undo_link.split("change=")[1]})

    expected = "You were signed out: a change of your address was undone from its old inbox."
    assert expected in notices_on(intruder)
    assert expected in notices_on(laptop)


def test_a_browser_signed_out_by_a_deletion_elsewhere_is_told_so(mailbox, alice):
    phone, laptop, _ = deleted(mailbox, alice)

    assert notices_on(phone) == ["You were signed out: your account was deleted."]


def test_a_session_cookie_that_was_never_ended_from_elsewhere_gets_no_notice(mailbox, settings):
    browser = signed_in_by_code(mailbox)
    browser.cookies[settings.SESSION_COOKIE_NAME] = "x" * 32

    answer = browser.get("/dashboard/", follow=True)

    assert answer.status_code == HTTPStatus.OK
    assert notices_on(browser) == []

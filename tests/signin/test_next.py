"""`next` is a path on this site, or nothing: never a page name, never another site, never a 500.

django.shortcuts.redirect() reads a bare word as the name of a URL pattern, so `?next=account`
went to /account/ and `?next=evil` was a 500 for every signed-in person, after spending the
code they had just typed.
"""

from http import HTTPStatus
from urllib.parse import urlsplit

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.signin.redirects import safe_next_url
from tests.helpers import behind_the_proxy, code_in, signed_in_by_code

pytestmark = pytest.mark.django_db


def asked_for_a_code(mailbox, address: str = "alice@example.com") -> tuple[Client, str]:
    browser = behind_the_proxy()
    mailbox.clear()
    browser.post("/", {"email": address})
    return browser, code_in(mailbox.message_to(address))


@pytest.mark.parametrize("word", ["evil", "account", "dashboard", "admin:index", "sign_in"])
def test_a_bare_word_is_no_destination_for_a_signed_in_person(mailbox, alice, word):
    browser = signed_in_by_code(mailbox)

    home = browser.get("/", {"next": word})
    inbox = browser.get("/check-inbox/", {"next": word})

    assert home.status_code == inbox.status_code == HTTPStatus.FOUND
    assert home["Location"] == inbox["Location"] == "/dashboard/"


def test_a_code_typed_under_a_bare_word_signs_in_and_lands_on_the_dashboard(mailbox, alice):
    browser, code = asked_for_a_code(mailbox)

    typed = browser.post("/check-inbox/?next=evil", {"code": code})

    assert typed.status_code == HTTPStatus.FOUND and typed["Location"] == "/dashboard/"
    assert browser.get("/dashboard/").status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("/account/", "/account/"),
        ("/account/?tab=passkeys", "/account/?tab=passkeys"),
        ("account", ""),
        ("//evil.example/", ""),
        ("/\\evil.example", ""),
        ("https://evil.example/", ""),
        ("https://signin.example.test/account/", ""),  # our own host, but not a path
        ("javascript:alert(1)", ""),
        ("/x/../account/email/undo/", ""),  # a browser removes the dots before it asks
        ("/x/../account/restore", ""),
        ("", ""),
    ],
)
def test_only_a_path_is_kept(value, kept):
    assert safe_next_url(value) == kept


def _is_a_local_path(location: str) -> bool:
    parts = urlsplit(location)
    return not parts.scheme and not parts.netloc and location.startswith("/")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=st.text(max_size=60) | st.sampled_from(["evil", "account", "//x", "/\\x", "/ok/"]))
def test_any_text_as_next_gets_a_clean_answer_from_every_view_that_reads_it(
    mailbox, alice, value, settings
):
    settings.RATE_LIMIT_PER_IP = "100000/15m"
    settings.RATE_LIMIT_PER_ADDRESS = "100000/15m"
    stranger = behind_the_proxy()
    member = behind_the_proxy()
    member.force_login(alice, backend="sesame.backends.ModelBackend")

    answers = [
        stranger.get("/", {"next": value}),
        stranger.post("/", {"email": "", "next": value}),
        stranger.get("/admin/login/", {"next": value}),
        stranger.post("/sign-out/", {"next": value}),
        stranger.post("/passkeys/sign-in/", {"credential": "{}", "next": value}),
        member.get("/", {"next": value}),
        member.get("/check-inbox/", {"next": value}),
    ]

    for answer in answers:
        assert answer.status_code < 500
        if answer.status_code in (HTTPStatus.FOUND, HTTPStatus.SEE_OTHER):
            assert _is_a_local_path(answer["Location"]), answer["Location"]
    # A value that is no path never becomes a destination, as itself or as a page's name.
    if not safe_next_url(value):
        assert answers[-2]["Location"] == answers[-1]["Location"] == "/dashboard/"

"""An adversary at the door: forged and mangled tokens, hostile input, probing and timing."""

import base64
import statistics
import time
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.core import signing
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sesame.utils import get_query_string

from accounts.models import SignInEmail, User
from accounts.signin.links import (
    LOGIN_SCOPE,
    SIGNUP_SALT,
    LinkProblem,
    check_login_link,
    claim_login_link,
)
from tests.helpers import behind_the_proxy, link_in

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def token_for(user: User, scope: str = LOGIN_SCOPE) -> str:
    return get_query_string(user, scope=scope).removeprefix("?sesame=")


def flip_bit(token: str, bit: int) -> str:
    data = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    data[bit // 8 % len(data)] ^= 1 << (bit % 8)
    return base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode()


TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:"


def flip_character(token: str, position: int) -> str:
    index = position % len(token) if token else 0
    if not token:
        return token
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


def assert_no_sign_in(token: str) -> None:
    """Neither checking nor claiming the token signs anyone in; both say why, cleanly."""
    with pytest.raises(LinkProblem):
        check_login_link(token)
    with pytest.raises(LinkProblem):
        claim_login_link(token)


def assert_refused(token: str) -> None:
    for method in ("get", "post"):
        client = behind_the_proxy()
        if method == "get":
            response = client.get("/link/", {"sesame": token}, follow=True)
        else:
            response = client.post("/link/", {"sesame": token})
        assert response.status_code in (HTTPStatus.BAD_REQUEST, HTTPStatus.GONE), token
        assert SESSION_KEY not in client.session


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice@example.com")


@pytest.fixture
def mallory() -> User:
    return User.objects.create_user("mallory@example.com")


# Our own code, in process: thousands of mangled tokens a second, so the fuzzing can be wide.
@FUZZ
@given(st.text(max_size=300))
def test_random_text_as_a_token_never_signs_in_and_never_errors(alice, token):
    assert_no_sign_in(token)


@FUZZ
@given(st.text(alphabet=TOKEN_ALPHABET, max_size=80))
def test_random_base64_or_signing_alphabet_as_a_token_never_signs_in(alice, token):
    assert_no_sign_in(token)


@FUZZ
@given(bit=st.integers(min_value=0, max_value=8 * 28 - 1))
def test_any_flipped_bit_spoils_the_token(alice, bit):
    token = token_for(alice)
    mangled = flip_bit(token, bit)
    if mangled != token:
        assert_no_sign_in(mangled)


@FUZZ
@given(length=st.integers(min_value=0, max_value=37))
def test_a_truncated_token_never_signs_in(alice, length):
    assert_no_sign_in(token_for(alice)[:length])


@FUZZ
@given(address=st.emails(), cut=st.integers(min_value=0, max_value=120), bit=st.integers(0, 600))
def test_a_mangled_signup_token_never_creates_an_account(address, cut, bit):
    genuine = signing.TimestampSigner(salt=SIGNUP_SALT, sep=".").sign_object({"email": address})
    for mangled in {genuine[:cut], flip_character(genuine, bit)} - {genuine}:
        assert_no_sign_in(mangled)
    assert not User.objects.exists()


# And a handful of the same over HTTP: a wrong token is a clear 400 or 410, never a 500.
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=300))
def test_random_text_as_a_token_over_http_gets_a_clear_answer(alice, token):
    assert_refused(token)


@pytest.mark.parametrize("scope", ["", "accounts:other", "accounts:login ", "ACCOUNTS:LOGIN"])
def test_a_token_for_another_scope_is_refused(alice, scope):
    assert_refused(token_for(alice, scope=scope))


def test_a_token_cannot_be_moved_to_another_user(alice, mallory):
    # Mallory's genuine token with Alice's primary key spliced in.
    mallory_token = base64.urlsafe_b64decode(token_for(mallory) + "==")
    alice_token = base64.urlsafe_b64decode(token_for(alice) + "==")
    spliced = alice_token[:8] + mallory_token[8:]

    assert_refused(base64.urlsafe_b64encode(spliced).rstrip(b"=").decode())


def test_a_token_from_before_the_last_sign_in_is_refused(alice):
    with time_machine.travel(timezone.now() - timedelta(minutes=5)):
        before = token_for(alice)
    User.objects.filter(pk=alice.pk).update(last_login=timezone.now())

    assert_refused(before)


def test_an_expired_token_is_refused(alice):
    with time_machine.travel(timezone.now() - timedelta(minutes=10, seconds=1)):
        old = token_for(alice)

    assert_refused(old)


def test_a_token_signed_with_another_secret_key_is_refused(alice, settings):
    settings.SECRET_KEY = "another-secret-key-another-secret-key-another-secret-key"
    forged = token_for(alice)
    settings.SECRET_KEY = "test-secret-key-for-the-suite-only-0123456789-abcdefghijklmnop"

    assert_refused(forged)


def test_a_deactivated_account_is_signed_out_of_its_sessions(alice):
    client = behind_the_proxy()
    client.force_login(alice)
    assert client.get("/dashboard/").status_code == HTTPStatus.OK

    alice.is_active = False
    alice.save()

    assert client.get("/dashboard/").status_code == HTTPStatus.FOUND


email_like = st.one_of(
    st.text(max_size=400),
    st.emails(),
    st.builds(
        lambda local, domain: f"{local}@{domain}",
        st.text(min_size=1, max_size=40),
        st.text(min_size=1, max_size=40),
    ),
    st.sampled_from(
        [
            "alice@example.com\r\nBcc: victim@example.com",
            "alice@example.com\nSubject: you won",
            "alice@exa\x00mple.com",
            "alice@bücher.example",
            "ålice@example.com",
            "alice@xn--bcher-kva.example",
            '"alice\r\n"@example.com',
            "x" * 10_000,
            "a@" + "b" * 10_000 + ".com",
        ]
    ),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(address=email_like)
def test_any_address_gets_a_clean_answer_and_injects_nothing(mailbox, address, settings):
    # Counters are not reset between hypothesis examples, and it repeats addresses.
    settings.RATE_LIMIT_PER_IP = "100000/15m"
    settings.RATE_LIMIT_PER_ADDRESS = "100000/15m"
    mailbox.clear()

    response = behind_the_proxy().post("/", {"email": address})

    assert response.status_code in (HTTPStatus.FOUND, HTTPStatus.BAD_REQUEST)
    if response.status_code == HTTPStatus.FOUND:
        (message,) = mailbox.wait_for(1)
        (sender, recipients) = mailbox.envelopes[0]
        assert len(recipients) == 1
        assert message["Bcc"] is None and message["Cc"] is None
        assert len(message.get_all("To")) == 1 and len(message.get_all("Subject")) == 1
        assert "\n" not in recipients[0] and "\r" not in recipients[0]
    else:
        assert mailbox.messages == []


def test_known_unknown_and_refused_addresses_take_the_same_time(settings):
    count = 100
    # As in production: the request queues the email, and the worker decides what it says.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.RATE_LIMIT_PER_IP = "100000/15m"
    settings.RATE_LIMIT_PER_ADDRESS = "100000/15m"
    settings.RATE_LIMIT_PER_MAILBOX = "100000/15m"
    settings.SIGNUP_EMAIL_DOMAINS = ["example.com"]
    User.objects.create_user("known@example.com")
    addresses = {
        "known": lambda n: "known@example.com",
        "new": lambda n: f"new{n}@example.com",
        "refused": lambda n: f"stranger{n}@example.org",
    }
    timings: dict[str, list[float]] = {kind: [] for kind in addresses}
    client = behind_the_proxy()
    for n in range(count):
        for kind, address in addresses.items():
            started = time.perf_counter()
            response = client.post("/", {"email": address(n)})
            timings[kind].append(time.perf_counter() - started)
            assert response.status_code == HTTPStatus.FOUND

    medians = {kind: statistics.median(values) * 1000 for kind, values in timings.items()}
    assert max(medians.values()) - min(medians.values()) < 5, medians
    assert SignInEmail.objects.count() == 3 * count


def test_the_emailed_link_is_for_the_address_asked_and_no_other(mailbox):
    behind_the_proxy().post("/", {"email": "alice@example.com"})

    (message,) = mailbox.wait_for(1)
    assert mailbox.envelopes == [("sign-in@signin.example.test", ["alice@example.com"])]
    assert "/link/?sesame=" in link_in(message)

"""Passkeys: a person who signed in by email adds one, and later signs in with it alone.

The browser's side is harness/authenticator.py's passkey in software, answering exactly what
WebAuthn asks; what a real browser does with it is in tests/site/test_browser.py.
"""

import json
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.core import signing
from django.test import Client
from django.utils import timezone
from django.utils.html import escape
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from webauthn.helpers import bytes_to_base64url

from accounts.models import Passkey, SignInEvent, User
from accounts.passkeys.challenges import COOKIE_SALT
from accounts.refusals import SENTENCES, What
from accounts.sessions.lifetime import SIGNED_IN_WITH
from harness.authenticator import SoftPasskey
from tests.environment import TEST_SITE_URL, redis_server
from tests.helpers import behind_the_proxy, link_in

pytestmark = pytest.mark.django_db

# What a refused passkey sign-in may say (accounts/refusals.py), as the page writes it.
PASSKEY_SIGN_IN_SENTENCES = [
    escape(str(text)) for (what, _), text in SENTENCES.items() if what == What.PASSKEY_SIGN_IN
]

SITE_HOST = TEST_SITE_URL.removeprefix("https://")
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


def browser() -> Client:
    """A phone: the passkey's name comes from its User-Agent."""
    return behind_the_proxy(**{"User-Agent": PHONE})


def signed_in(user: User) -> Client:
    person = browser()
    person.force_login(user)
    return person


def add_passkey(person: Client, passkey: SoftPasskey, **answer) -> str:
    """Press "Add a passkey": the options, the authenticator's answer, the server's page."""
    options = person.post("/account/passkeys/options/").content.decode()
    response = person.post("/account/passkeys/", {"credential": passkey.create(options, **answer)})
    assert response.status_code == HTTPStatus.FOUND
    return person.get(response["Location"]).content.decode()


def sign_in_with(person: Client, passkey: SoftPasskey, next_url: str = "", **answer):
    options = person.post("/passkeys/sign-in/options/").content.decode()
    credential = passkey.get(options, **answer)
    return person.post("/passkeys/sign-in/", {"credential": credential, "next": next_url})


@pytest.fixture
def passkey() -> SoftPasskey:
    return SoftPasskey(origin=TEST_SITE_URL, rp_id=SITE_HOST)


@pytest.fixture
def alices_passkey(alice, passkey) -> SoftPasskey:
    add_passkey(signed_in(alice), passkey)
    return passkey


def test_a_person_adds_a_passkey_and_later_signs_in_with_it_alone(alice, passkey):
    page = add_passkey(signed_in(alice), passkey)

    assert "Passkey added: “Mobile Safari 18 on iOS”" in page
    stored = Passkey.objects.get(user=alice)
    assert bytes(stored.credential_id) == passkey.credential_id
    assert stored.backup_eligible and stored.backed_up
    assert "Mobile Safari 18 on iOS" in page and "not used yet" in page

    later = browser()
    response = sign_in_with(later, passkey)

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/dashboard/"
    assert later.session[SESSION_KEY] == str(alice.pk)
    assert later.session[SIGNED_IN_WITH] == "passkey"
    assert "Hello, alice@example.com" in later.get("/dashboard/").text
    stored.refresh_from_db()
    assert stored.last_used_at is not None
    event = SignInEvent.objects.filter(user=alice, kind="signed_in").get()
    assert event.detail == "passkey"


def test_the_account_is_told_by_email_that_a_passkey_was_added(alice, passkey, mailbox):
    add_passkey(signed_in(alice), passkey)

    notice = mailbox.message_to("alice@example.com")
    text = notice.get_body(preferencelist=("plain",)).get_content()

    assert notice["Subject"] == "A passkey was added to your Latchkey account"
    assert "Passkey:  Mobile Safari 18 on iOS" in text
    assert f"{TEST_SITE_URL}/account/" in text
    assert "sesame" not in notice.as_string()


def test_a_passkey_sign_in_goes_where_the_person_was_going(alices_passkey):
    response = sign_in_with(browser(), alices_passkey, next_url="/account/")

    assert response["Location"] == "/account/"


def test_a_known_provider_names_the_passkey(alice):
    google = SoftPasskey(
        origin=TEST_SITE_URL,
        rp_id=SITE_HOST,
        aaguid=bytes.fromhex("ea9b8d664d011d213ce4b6b48cb575d4"),
    )

    add_passkey(signed_in(alice), google)

    assert Passkey.objects.get(user=alice).name == "Google Password Manager"


def test_one_account_keeps_one_handle_for_all_its_passkeys(alice, passkey):
    person = signed_in(alice)
    add_passkey(person, passkey)
    second = SoftPasskey(origin=TEST_SITE_URL, rp_id=SITE_HOST)
    options = json.loads(person.post("/account/passkeys/options/").content)

    # The authenticator already holding one is told so, and the handle stays the account's.
    assert [c["id"] for c in options["excludeCredentials"]]
    add_passkey(person, second)

    assert second.user_handle == passkey.user_handle
    assert len({bytes(p.user_handle) for p in Passkey.objects.filter(user=alice)}) == 1


def test_a_passkey_sign_in_ends_every_older_emailed_link(alice, alices_passkey, client, mailbox):
    mailbox.clear()  # the notice that the passkey was added
    client.post("/", {"email": "alice@example.com"})
    link = link_in(mailbox.message_to("alice@example.com"))

    sign_in_with(browser(), alices_passkey)

    response = client.post("/link/", {"sesame": link.split("sesame=")[1]})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert SESSION_KEY not in client.session


def test_an_answer_is_accepted_once(alices_passkey, settings):
    person = browser()
    options = person.post("/passkeys/sign-in/options/").content.decode()
    sealed_challenge = person.cookies[settings.PASSKEY_COOKIE_NAME].value
    answer = alices_passkey.get(options)
    assert person.post("/passkeys/sign-in/", {"credential": answer}).status_code == 302
    person.logout()

    # Even with the challenge's cookie put back, as whoever copied both would.
    person.cookies[settings.PASSKEY_COOKIE_NAME] = sealed_challenge
    replayed = person.post("/passkeys/sign-in/", {"credential": answer})

    assert replayed.status_code == HTTPStatus.BAD_REQUEST
    assert "already used or never started" in replayed.text
    assert SESSION_KEY not in person.session


def test_asking_for_sign_in_options_leaves_the_session_alone(settings):
    # The sign-in page asks as it loads, for autofill. A session written then would race the
    # email form's POST: whichever saved last would win, and "check your inbox" could forget
    # the address it was waiting for.
    response = browser().post("/passkeys/sign-in/options/")

    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert not Session.objects.exists()
    assert response.cookies[settings.PASSKEY_COOKIE_NAME]["httponly"]


def test_an_answer_from_another_browser_finds_no_challenge(alices_passkey):
    asked = browser()
    options = asked.post("/passkeys/sign-in/options/").content.decode()

    elsewhere = browser().post("/passkeys/sign-in/", {"credential": alices_passkey.get(options)})

    assert elsewhere.status_code == HTTPStatus.BAD_REQUEST
    assert "already used or never started" in elsewhere.text


def test_two_sign_in_pages_in_one_browser_each_answer_their_own(alices_passkey):
    person = browser()
    first_tab = person.post("/passkeys/sign-in/options/").content.decode()
    second_tab = person.post("/passkeys/sign-in/options/").content.decode()

    # The first page, opened earlier, is the one the person uses.
    response = person.post("/passkeys/sign-in/", {"credential": alices_passkey.get(first_tab)})

    assert response.status_code == HTTPStatus.FOUND
    assert person.session[SIGNED_IN_WITH] == "passkey"
    assert second_tab != first_tab


def test_a_refused_answer_leaves_the_other_pages_challenges_alone(alices_passkey):
    person = browser()
    first_tab = person.post("/passkeys/sign-in/options/").content.decode()
    second_tab = person.post("/passkeys/sign-in/options/").content.decode()
    refused = person.post(
        "/passkeys/sign-in/", {"credential": alices_passkey.get(second_tab, rp_id="evil.example")}
    )

    response = person.post("/passkeys/sign-in/", {"credential": alices_passkey.get(first_tab)})

    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert response.status_code == HTTPStatus.FOUND


def test_a_browser_holds_its_last_five_sign_in_challenges(alices_passkey, settings):
    person = browser()
    pages = [person.post("/passkeys/sign-in/options/").content.decode() for _ in range(6)]
    cookie = person.cookies[settings.PASSKEY_COOKIE_NAME].value

    oldest = person.post("/passkeys/sign-in/", {"credential": alices_passkey.get(pages[0])})
    fifth_newest = person.post("/passkeys/sign-in/", {"credential": alices_passkey.get(pages[1])})

    assert oldest.status_code == HTTPStatus.BAD_REQUEST
    assert "already used or never started" in oldest.text
    assert fifth_newest.status_code == HTTPStatus.FOUND
    # Five challenges and a signature: far below the 4 kB a browser keeps of a cookie.
    assert len(cookie) < 600


def test_a_challenge_cookie_from_before_it_held_several_is_no_trouble(alices_passkey, settings):
    # Until 2026-11-28 the cookie held one challenge, a string, signed the same way.
    person = browser()
    options = person.post("/passkeys/sign-in/options/").content.decode()
    old = signing.dumps(json.loads(options)["challenge"], salt=COOKIE_SALT, compress=False)
    person.cookies[settings.PASSKEY_COOKIE_NAME] = old

    refused = person.post("/passkeys/sign-in/", {"credential": alices_passkey.get(options)})
    asked_again = person.post("/passkeys/sign-in/options/")

    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert "already used or never started" in refused.text
    assert asked_again.status_code == HTTPStatus.OK
    assert sign_in_with(person, alices_passkey).status_code == HTTPStatus.FOUND


def test_a_challenge_expires_after_five_minutes(alices_passkey):
    person = browser()
    options = person.post("/passkeys/sign-in/options/").content.decode()

    with time_machine.travel(timezone.now() + timedelta(minutes=5, seconds=1)):
        response = person.post("/passkeys/sign-in/", {"credential": alices_passkey.get(options)})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "took too long" in response.text
    assert SESSION_KEY not in person.session


@pytest.mark.parametrize(
    "answer",
    [
        {"origin": "https://signin.example.test.evil.example"},  # a phishing page relayed it
        {"origin": "http://signin.example.test"},  # not over HTTPS
        {"rp_id": "evil.example"},  # a passkey made for another site
    ],
    ids=["another origin", "plain http", "another site"],
)
def test_an_answer_made_for_another_site_is_refused(alices_passkey, answer):
    person = browser()

    response = sign_in_with(person, alices_passkey, **answer)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "could not be checked" in response.text
    assert SESSION_KEY not in person.session


def test_a_passkey_that_did_not_verify_the_person_is_refused(alice, alices_passkey):
    alices_passkey.verifies = False  # touched, but no fingerprint, face or PIN

    response = sign_in_with(browser(), alices_passkey)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "could not be checked" in response.text


def test_a_passkey_that_names_another_account_is_refused(alices_passkey):
    response = sign_in_with(browser(), alices_passkey, user_handle=b"someone else's handle")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "could not be checked" in response.text


def test_a_removed_passkey_no_longer_signs_in(alice, alices_passkey):
    person = signed_in(alice)
    stored = Passkey.objects.get(user=alice)
    forget = f'data-passkey-forget="{bytes_to_base64url(alices_passkey.credential_id)}"'

    after_removal = person.post(f"/account/passkeys/{stored.pk}/remove/", follow=True)

    # The browser is asked to forget it too, once.
    assert forget in after_removal.text and f'data-rp-id="{SITE_HOST}"' in after_removal.text
    assert forget not in person.get("/account/").text
    response = sign_in_with(browser(), alices_passkey)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "not known here" in response.text
    assert forget in response.text
    assert SignInEvent.objects.filter(user=alice, kind="passkey_removed").exists()


def test_a_closed_account_cannot_sign_in_with_its_passkey(alice, alices_passkey):
    alice.is_active = False
    alice.save()

    response = sign_in_with(browser(), alices_passkey)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "not known here" in response.text


def test_a_counting_authenticator_that_goes_back_is_a_clone_and_refused(alice):
    original = SoftPasskey(origin=TEST_SITE_URL, rp_id=SITE_HOST, synced=False, counts=True)
    add_passkey(signed_in(alice), original)
    assert sign_in_with(browser(), original).status_code == HTTPStatus.FOUND
    assert sign_in_with(browser(), original).status_code == HTTPStatus.FOUND
    clone = SoftPasskey(**{**original.__dict__, "sign_count": 0})  # copied at count 0

    response = sign_in_with(browser(), clone)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert Passkey.objects.get(user=alice).sign_count == 2


def test_a_synced_passkey_that_never_counts_signs_in_every_time(alices_passkey):
    for _ in range(3):
        assert sign_in_with(browser(), alices_passkey).status_code == HTTPStatus.FOUND


@pytest.mark.parametrize(
    "credential",
    ["", "{}", "not json", '{"id": "AAAA", "rawId": "AAAA", "response": {}}', "[1, 2]"],
)
def test_nonsense_instead_of_an_answer_is_a_clear_refusal(alices_passkey, credential):
    person = browser()
    person.post("/passkeys/sign-in/options/")

    response = person.post("/passkeys/sign-in/", {"credential": credential})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "could not be checked" in response.text


# Shapes of a WebAuthn answer, with any JSON where the values go: what a broken or hostile
# client could post. Every one must be a sentence and a 400, never a 500.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
ANSWER_KEYS = ["id", "rawId", "type", "response", "clientExtensionResults"]
RESPONSE_KEYS = ["clientDataJSON", "authenticatorData", "signature", "userHandle"]


@given(
    answer=st.fixed_dictionaries(
        {},
        optional={
            **dict.fromkeys(ANSWER_KEYS, JSON_VALUES),
            "response": st.fixed_dictionaries(
                {}, optional=dict.fromkeys(RESPONSE_KEYS, JSON_VALUES | st.just("AAAA"))
            ),
        },
    )
)
@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_any_shape_of_answer_is_a_clear_refusal(settings, alices_passkey, answer):
    settings.RATE_LIMIT_PER_IP = "100000/15m"
    person = browser()
    person.post("/passkeys/sign-in/options/")

    response = person.post("/passkeys/sign-in/", {"credential": json.dumps(answer)})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    # The refusal's sentence, not just a page: every sign-in page mentions passkeys.
    assert any(sentence in response.text for sentence in PASSKEY_SIGN_IN_SENTENCES)


def test_failed_passkey_sign_ins_meet_the_per_network_limit(settings, alices_passkey):
    settings.RATE_LIMIT_PER_IP = "3/15m"
    person = browser()
    for _ in range(3):  # answers to no challenge: refused, and counted
        assert person.post("/passkeys/sign-in/", {"credential": "{}"}).status_code == 400

    response = sign_in_with(person, alices_passkey)  # a good one, but too late

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert SESSION_KEY not in person.session


def test_asking_for_sign_in_options_without_end_meets_the_cap_on_forms(settings):
    # Not the allowance of emails: every sign-in page asks for options (autofill), and a
    # crowded office's pages must still offer passkeys.
    settings.RATE_LIMIT_PER_IP = "1/15m"
    settings.RATE_LIMIT_FORMS_PER_IP = "3/15m"
    person = browser()
    for _ in range(3):
        assert person.post("/passkeys/sign-in/options/").status_code == HTTPStatus.OK

    refused = person.post("/passkeys/sign-in/options/")

    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert int(refused["Retry-After"]) > 0
    assert "challenge" not in refused.json()


@pytest.mark.django_db(transaction=True)
def test_with_redis_down_a_passkey_sign_in_says_to_come_back_shortly(alices_passkey):
    person = browser()
    options = person.post("/passkeys/sign-in/options/").content.decode()
    redis_server.stop()
    try:
        response = person.post("/passkeys/sign-in/", {"credential": alices_passkey.get(options)})
    finally:
        redis_server.start()

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert "We cannot check passkeys right now" in response.text
    assert SESSION_KEY not in person.session


def test_a_passkey_can_be_renamed_but_not_to_nothing(alice, alices_passkey):
    person = signed_in(alice)
    stored = Passkey.objects.get(user=alice)

    person.post(f"/account/passkeys/{stored.pk}/name/", {"name": "Work laptop"})
    refused = person.post(f"/account/passkeys/{stored.pk}/name/", {"name": "   "}, follow=True)

    stored.refresh_from_db()
    assert stored.name == "Work laptop"
    assert "Give the passkey a name." in refused.text


def test_removing_a_passkey_needs_a_recent_sign_in(alice, alices_passkey):
    person = signed_in(alice)
    person.get("/account/")  # the sign-in's clock starts
    stored = Passkey.objects.get(user=alice)

    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        refused = person.post(f"/account/passkeys/{stored.pk}/remove/")

    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert "Removing a passkey needs a sign-in from the last 10 minutes" in refused.text
    assert Passkey.objects.filter(pk=stored.pk).exists()


def test_nobody_renames_or_removes_another_accounts_passkey(alices_passkey):
    stored = Passkey.objects.get()
    mallory = signed_in(User.objects.create_user("mallory@example.com"))

    renamed = mallory.post(f"/account/passkeys/{stored.pk}/name/", {"name": "mine"})
    removed = mallory.post(f"/account/passkeys/{stored.pk}/remove/")

    assert renamed.status_code == removed.status_code == HTTPStatus.NOT_FOUND
    assert Passkey.objects.filter(pk=stored.pk).exists()


def test_an_answer_that_does_not_check_out_adds_nothing(alice, passkey):
    person = signed_in(alice)
    options = person.post("/account/passkeys/options/").content.decode()

    answer = passkey.create(options, origin="https://evil.example")
    page = person.post("/account/passkeys/", {"credential": answer}, follow=True).text

    assert "could not be checked, so it was not added" in page
    assert not Passkey.objects.exists()


@pytest.mark.parametrize("answer", ["", "{}", "[]", '{"response": {"attestationObject": "AAAA"}}'])
def test_nonsense_instead_of_a_new_passkey_adds_nothing(alice, answer):
    person = signed_in(alice)
    person.post("/account/passkeys/options/")

    page = person.post("/account/passkeys/", {"credential": answer}, follow=True)

    assert "could not be checked, so it was not added" in page.text
    assert not Passkey.objects.exists()


def test_adding_a_passkey_needs_a_sign_in(client, passkey):
    response = client.post("/account/passkeys/options/")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/?next=")


class TestStaffRequirePasskey:
    @pytest.fixture
    def boss(self, settings) -> User:
        settings.STAFF_REQUIRE_PASSKEY = True
        return User.objects.create_superuser("boss@example.com")

    def test_staff_signed_in_by_email_are_asked_to_add_a_passkey(self, boss):
        person = signed_in(boss)

        response = person.get("/admin/", follow=True)

        assert response.status_code == HTTPStatus.FORBIDDEN
        assert "The admin needs a passkey" in response.text
        assert 'data-passkey="add"' in response.text

    def test_staff_with_a_passkey_are_asked_to_sign_in_with_it(self, boss, passkey):
        person = signed_in(boss)
        add_passkey(person, passkey)

        response = person.get("/admin/", follow=True)

        assert response.status_code == HTTPStatus.FORBIDDEN
        assert "Sign out, then sign in with your passkey" in response.text

    def test_a_passkey_sign_in_opens_the_admin(self, boss, passkey):
        add_passkey(signed_in(boss), passkey)
        person = browser()

        sign_in_with(person, passkey, next_url="/admin/")

        assert person.get("/admin/").status_code == HTTPStatus.OK

    def test_a_phished_code_cannot_add_a_passkey_or_remove_theirs(self, boss, passkey):
        add_passkey(signed_in(boss), passkey)  # the first one, by email: nothing to guard yet
        theirs = Passkey.objects.get()
        attacker = signed_in(boss)  # what a code typed on a look-alike site gives
        attacker.get("/account/")  # a sign-in this recent may remove passkeys, otherwise

        options = attacker.post("/account/passkeys/options/")
        added = attacker.post("/account/passkeys/", {"credential": "{}"}, follow=True)
        removed = attacker.post(f"/account/passkeys/{theirs.pk}/remove/", follow=True)

        assert options.status_code == HTTPStatus.FORBIDDEN
        assert "Sign in with one of your passkeys first" in added.text
        assert "Sign in with one of your passkeys first" in removed.text
        assert list(Passkey.objects.all()) == [theirs]
        page = attacker.get("/account/").text
        assert "data-passkeys-locked" in page and 'data-passkey="add"' not in page
        assert "/remove/" not in page

    def test_a_passkey_sign_in_adds_and_removes_passkeys(self, boss, passkey):
        add_passkey(signed_in(boss), passkey)
        person = browser()
        sign_in_with(person, passkey)

        add_passkey(person, SoftPasskey(origin=TEST_SITE_URL, rp_id=SITE_HOST))
        first = Passkey.objects.order_by("created_at").first()
        person.post(f"/account/passkeys/{first.pk}/remove/")

        assert Passkey.objects.count() == 1 and not Passkey.objects.filter(pk=first.pk).exists()

    def test_staff_who_lost_their_passkey_get_back_in_once_another_admin_deletes_it(
        self, boss, passkey
    ):
        add_passkey(signed_in(boss), passkey)
        lost = Passkey.objects.get()
        colleague = User.objects.create_superuser("colleague@example.com")
        colleagues_passkey = SoftPasskey(origin=TEST_SITE_URL, rp_id=SITE_HOST)
        add_passkey(signed_in(colleague), colleagues_passkey)
        admin = browser()
        sign_in_with(admin, colleagues_passkey)

        listed = admin.get("/admin/accounts/passkey/")
        deleted = admin.post(f"/admin/accounts/passkey/{lost.pk}/delete/", {"post": "yes"})
        page = add_passkey(signed_in(boss), SoftPasskey(origin=TEST_SITE_URL, rp_id=SITE_HOST))

        assert listed.status_code == HTTPStatus.OK and "boss@example.com" in listed.text
        assert deleted.status_code == HTTPStatus.FOUND
        assert "Passkey added" in page
        assert not Passkey.objects.filter(pk=lost.pk).exists()

    def test_with_the_setting_off_an_email_sign_in_opens_the_admin(self, boss, settings):
        settings.STAFF_REQUIRE_PASSKEY = False

        assert signed_in(boss).get("/admin/").status_code == HTTPStatus.OK


# --- A ceremony in a frame on another site ------------------------------------------------------


def test_a_passkey_made_in_a_frame_on_another_site_is_refused(alice):
    framed = SoftPasskey(origin=TEST_SITE_URL, rp_id=SITE_HOST, framed_by="https://evil.example")
    person = signed_in(alice)

    page = add_passkey(person, framed)

    assert "could not be checked, so it was not added" in page
    assert not Passkey.objects.exists()


def test_a_passkey_answer_from_a_frame_on_another_site_signs_nobody_in(alice, alices_passkey):
    alices_passkey.framed_by = "https://evil.example"
    person = browser()

    refused = sign_in_with(person, alices_passkey)

    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert SESSION_KEY not in person.session
    assert SignInEvent.objects.filter(kind="rejected", detail="passkey").count() == 1

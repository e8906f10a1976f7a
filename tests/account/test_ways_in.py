"""The way back: any change to a way in needs a fresh sign-in, and the inbox can undo it.

The table in docs/security.md ("Who may do what") is this file's data: every kind of session
against every action that touches a way in. Then the three seams the review found, in process
(tests/account/test_way_back_system.py walks them against gunicorn and the mail worker).
"""

from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.conf import settings as django_settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from accounts.account.address_mail import send_change_notice
from accounts.account.deletion import close_account, restore_link
from accounts.account.undo import undo_link
from accounts.models import AccountEmail, AddressChange, Passkey, User
from accounts.passkeys.notice import refusal_link
from harness.authenticator import SoftPasskey
from harness.servers import ROOT
from tests.environment import TEST_SITE_URL
from tests.helpers import behind_the_proxy, code_in, link_in, path_of, signed_in_by_code

pytestmark = pytest.mark.django_db

SECURITY_MD = ROOT / "docs" / "security.md"


def the_table() -> dict[tuple[str, str], bool]:
    """docs/security.md's "Who may do what", as {(session, action): allowed}."""
    text = SECURITY_MD.read_text()
    start = text.index("<!-- ways-in table: start -->")
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text[start : text.index("<!-- ways-in table: end -->")].splitlines()
        if line.startswith("|")
    ]
    actions = rows[0][1:]
    return {
        (row[0], action): {"yes": True, "no": False}[cell]
        for row in rows[2:]
        for action, cell in zip(actions, row[1:], strict=True)
    }


TABLE = the_table()


def add_passkey(browser: Client, passkey: SoftPasskey):
    options = browser.post("/account/passkeys/options/")
    if options.status_code != HTTPStatus.OK:
        return options
    return browser.post(
        "/account/passkeys/", {"credential": passkey.create(options.content.decode())}
    )


def signed_in_by_passkey(alice: User) -> Client:
    """A browser signed in with a passkey the account's owner added in another, fresh one."""
    passkey = SoftPasskey(origin=TEST_SITE_URL, rp_id=TEST_SITE_URL.removeprefix("https://"))
    helper = behind_the_proxy()
    helper.force_login(alice)
    add_passkey(helper, passkey)
    browser = behind_the_proxy()
    options = browser.post("/passkeys/sign-in/options/").content.decode()
    answer = browser.post("/passkeys/sign-in/", {"credential": passkey.get(options)})
    assert answer["Location"] == "/dashboard/", answer
    return browser


def open_session(kind: str, alice: User, mailbox) -> Client:
    if kind == "signed out":
        return behind_the_proxy()
    if kind.startswith("passkey"):
        return signed_in_by_passkey(alice)
    return signed_in_by_code(mailbox)


# --- What each action needs beforehand, and how to tell whether it happened ---------------------


def prepare(action: str, browser: Client, alice: User, mailbox, signed_in: bool) -> dict:
    if action == "remove a passkey":
        spare = Passkey.objects.create(
            user=alice, credential_id=b"spare", public_key=b"k", user_handle=b"h", name="Spare"
        )
        return {"passkey": spare}
    if action == "confirm an address change":
        # Asked while fresh; the code is typed once the session has aged.
        asker = browser if signed_in else signed_in_by_code(mailbox)
        mailbox.clear()
        asker.post("/account/email/", {"email": "new@example.org"})
        return {"code": code_in(mailbox.message_to("new@example.org"))}
    if action == "undo a change":
        made = AddressChange.objects.create(
            id="made-elsewhere",
            user=alice,
            from_address="alice@example.com",
            to_address="moved@example.org",
            state=AddressChange.State.DONE,
            done_at=timezone.now(),
        )
        User.objects.filter(pk=alice.pk).update(email="moved@example.org")
        return {"token": undo_link(made).split("change=")[1]}
    if action == "sign out others":
        return {"other": signed_in_by_code(mailbox)}
    if action == "refuse a passkey":
        added = Passkey.objects.create(
            user=alice, credential_id=b"added", public_key=b"k", user_handle=b"h", name="Not me"
        )
        return {"passkey": added, "token": refusal_link(added).split("refuse=")[1]}
    if action == "restore":
        alice.refresh_from_db()
        close_account(alice)
        alice.refresh_from_db()
        return {"token": restore_link(alice).split("restore=")[1]}
    return {}


def act(action: str, browser: Client, alice: User, given: dict) -> bool:
    """Do it in `browser`; whether it happened."""
    if action == "add a passkey":
        before = Passkey.objects.filter(user=alice).count()
        passkey = SoftPasskey(origin=TEST_SITE_URL, rp_id=TEST_SITE_URL.removeprefix("https://"))
        add_passkey(browser, passkey)
        return Passkey.objects.filter(user=alice).count() == before + 1
    if action == "remove a passkey":
        browser.post(f"/account/passkeys/{given['passkey'].pk}/remove/")
        return not Passkey.objects.filter(pk=given["passkey"].pk).exists()
    if action == "ask an address change":
        browser.post("/account/email/", {"email": "new@example.org"})
        return AddressChange.objects.filter(to_address="new@example.org").exists()
    if action == "confirm an address change":
        browser.post("/account/email/confirm/", {"code": given["code"]})
        return User.objects.get(pk=alice.pk).email == "new@example.org"
    if action == "undo a change":
        browser.post("/account/email/undo/", {"change": given["token"]})
        return User.objects.get(pk=alice.pk).email == "alice@example.com"
    if action == "sign out others":
        browser.post("/account/sign-out-browser/", {"browser": "others"})
        return given["other"].get("/dashboard/").status_code == HTTPStatus.FOUND
    if action == "delete":
        browser.post("/account/delete/", {"email": "alice@example.com"})
        return User.objects.get(pk=alice.pk).closed_at is not None
    if action == "refuse a passkey":
        browser.post("/account/passkeys/refuse/", {"refuse": given["token"]})
        return not Passkey.objects.filter(pk=given["passkey"].pk).exists()
    if action == "restore":
        browser.post("/account/restore/", {"restore": given["token"]})
        return User.objects.get(pk=alice.pk).closed_at is None
    raise AssertionError(f"the table names an action this test does not know: {action}")


@pytest.mark.parametrize(("session", "action"), list(TABLE), ids=lambda v: v.replace(" ", "_"))
def test_each_way_in_against_each_action(session, action, mailbox, settings):
    alice = User.objects.create_user("alice@example.com", is_staff=session == "staff by email")
    if session == "staff by email":
        settings.STAFF_REQUIRE_PASSKEY = True
        Passkey.objects.create(
            user=alice, credential_id=b"staff", public_key=b"k", user_handle=b"h", name="Key"
        )
    stale = session.endswith("stale")
    recent = django_settings.RECENT_SIGN_IN_SECONDS
    with time_machine.travel(timezone.now(), tick=False) as clock:
        browser = open_session(session, alice, mailbox)
        if stale:
            clock.shift(recent - 100)  # still fresh: what the action needs is done now
        given = prepare(action, browser, alice, mailbox, signed_in=session != "signed out")
        if stale:
            clock.shift(150)  # a sign-in older than RECENT_SIGN_IN_SECONDS; codes still live
        happened = act(action, browser, alice, given)

    assert happened == TABLE[(session, action)]


# --- Every view declares itself ------------------------------------------------------------------

CHANGES_A_WAY_IN = {
    "passkey_add_options",
    "add_passkey",
    "remove_passkey",
    "change_address",
    "confirm_address_change",
    "delete_account",
}
PROVEN_BY_THE_INBOX = {"undo_address_change", "restore_account", "refuse_passkey"}
# Not ours to declare: the admin (staff only, with its own passkey rule) and anymail's webhooks
# (a shared secret, no session).
NOT_OURS = ("admin", "anymail")


def our_views(patterns=None, prefix=""):
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace in NOT_OURS:
                continue
            yield from our_views(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.name, entry.callback


def test_every_view_says_whether_it_changes_a_way_in():
    declared = {}
    for route, name, view in our_views():
        assert hasattr(view, "changes_a_way_in"), (
            f"/{route} ({name}) says neither needs_recent_sign_in, proven_by_the_inbox nor "
            "changes_no_way_in (accounts/pages.py)"
        )
        if name:  # unnamed routes are the same views without their slash
            declared[name] = view.changes_a_way_in

    assert {n for n, v in declared.items() if v is True} == CHANGES_A_WAY_IN
    assert {n for n, v in declared.items() if v == "by the inbox"} == PROVEN_BY_THE_INBOX


def test_a_stale_session_gets_a_page_that_signs_in_again_and_comes_back(mailbox):
    User.objects.create_user("alice@example.com")
    browser = signed_in_by_code(mailbox)

    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        options = browser.post("/account/passkeys/options/")
        page = browser.post("/account/passkeys/", {"credential": ""})

    assert options.status_code == HTTPStatus.FORBIDDEN
    assert options.json() == {"error": "sign_in_again"}
    assert page.status_code == HTTPStatus.FORBIDDEN
    assert "Adding a passkey needs a sign-in from the last 10 minutes" in page.text
    assert 'name="next" value="/account/"' in page.text


# --- The seams --------------------------------------------------------------------------------


def test_two_changes_asked_in_two_browsers_only_the_first_lands(mailbox):
    alice = User.objects.create_user("alice@example.com")
    first, second = signed_in_by_code(mailbox), signed_in_by_code(mailbox)
    first.post("/account/email/", {"email": "inbox-a@example.net"})
    second.post("/account/email/", {"email": "inbox-b@example.net"})
    code_a = code_in(mailbox.message_to("inbox-a@example.net"))
    code_b = code_in(mailbox.message_to("inbox-b@example.net"))

    landed = first.post("/account/email/confirm/", {"code": code_a})
    cancelled = second.post("/account/email/confirm/", {"code": code_b})

    assert landed["Location"] == "/account/"
    assert cancelled["Location"] == "/account/"
    told = second.get("/account/").text
    assert "was confirmed first, so this one was cancelled" in told
    assert "Signed in as <strong>inbox-a@example.net</strong>" in told
    assert User.objects.get(pk=alice.pk).email == "inbox-a@example.net"
    states = dict(AddressChange.objects.values_list("to_address", "state"))
    assert states == {"inbox-a@example.net": "done", "inbox-b@example.net": "cancelled"}
    notice = mailbox.message_to("alice@example.com", subject="was changed")
    assert "/account/email/undo/?change=" in link_in(notice)


def test_the_notice_is_built_from_the_change_not_from_the_account_as_it_is_now(mailbox):
    alice = User.objects.create_user("alice@example.com")
    made = AddressChange.objects.create(
        id="earlier",
        user=alice,
        from_address="alice@example.com",
        to_address="inbox-a@example.net",
        state=AddressChange.State.DONE,
        done_at=timezone.now(),
    )
    User.objects.filter(pk=alice.pk).update(email="somewhere-else@example.net")
    mailbox.clear()

    send_change_notice.call(made.pk, key="address_changed:earlier")

    notice = mailbox.message_to("alice@example.com")
    assert "inbox-a@example.net" in notice.get_body(preferencelist=("plain",)).get_content()
    assert "/account/email/undo/?change=" in link_in(notice)


def moved(mailbox) -> tuple[User, Client, str]:
    """An intruder, with a code phished from alice, moved her account to mallory@example.net."""
    alice = User.objects.create_user("alice@example.com")
    intruder = signed_in_by_code(mailbox)
    intruder.post("/account/email/", {"email": "mallory@example.net"})
    intruder.post(
        "/account/email/confirm/", {"code": code_in(mailbox.message_to("mallory@example.net"))}
    )
    notice = mailbox.message_to("alice@example.com", subject="was changed")
    return alice, intruder, link_in(notice)


def test_the_owner_asking_to_sign_in_after_a_move_gets_the_undo(mailbox):
    alice, intruder, _ = moved(mailbox)
    owner = behind_the_proxy()
    mailbox.clear()

    asked = owner.post("/", {"email": "alice@example.com"})
    offer = mailbox.message_to("alice@example.com")
    opened = owner.get(path_of(link_in(offer)), follow=True)
    undone = owner.post("/account/email/undo/", {"change": link_in(offer).split("change=")[1]})

    assert asked["Location"] == "/check-inbox/"  # as for every address
    assert "moved to another address" in offer["Subject"]
    text = offer.get_body(preferencelist=("plain",)).get_content()
    assert "m***@example.net" in text and "mallory@example.net" not in text
    assert "sesame" not in offer.as_string()
    assert opened.status_code == HTTPStatus.OK
    assert undone.status_code == HTTPStatus.OK
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"
    assert User.objects.count() == 1  # no new, empty account at the old address
    assert intruder.get("/dashboard/").status_code == HTTPStatus.FOUND


def test_the_old_address_cannot_open_an_account_or_be_moved_to_in_its_week(mailbox):
    moved(mailbox)
    bob = User.objects.create_user("bob@example.com")
    bobs_browser = signed_in_by_code(mailbox, "bob@example.com")
    mailbox.clear()

    bobs_browser.post("/account/email/", {"email": "alice@example.com"})
    proof = [m for m in mailbox.messages if "sign-in code" not in m["Subject"]]
    (code,) = [code_in(m) for m in proof]  # mailed to alice's inbox; bob could not read it
    typed = bobs_browser.post("/account/email/confirm/", {"code": code})

    assert typed.status_code == HTTPStatus.BAD_REQUEST
    assert "Another account has that address now" in typed.text
    assert User.objects.get(pk=bob.pk).email == "bob@example.com"
    assert User.objects.filter(email="alice@example.com").count() == 0


def test_a_notice_task_run_twice_sends_one_email(mailbox):
    alice, _, _ = moved(mailbox)
    made = AddressChange.objects.get(state=AddressChange.State.DONE)
    key = f"address_changed:{made.pk}"
    mailbox.clear()

    again = send_change_notice.call(made.pk, key=key)
    and_again = send_change_notice.call(made.pk, key=key, attempt=2)

    assert again == and_again == "already handled"
    assert mailbox.messages == []
    assert AccountEmail.objects.get(key=key).status == AccountEmail.Status.SENT

"""Seams between flows that are each correct alone, found by the attack review of the way back
(2026-12-06), each closed: a passkey the inbox could not take back, a restore that handed one
back unannounced, a passkey added while an undo landed, the admin outside the rule, an undo
that lifted staff's deactivation, and a few answers that were 500s or leaked a token."""

from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.utils import timezone

from accounts.account.changes import State
from accounts.account.deletion import close_account
from accounts.account.undo import undo, undo_link
from accounts.models import AddressChange, Passkey, SignInEvent, User
from accounts.passkeys import ceremony
from harness.authenticator import SoftPasskey
from harness.tasks import run_due_tasks
from tests.environment import TEST_SITE_URL
from tests.helpers import behind_the_proxy, code_in, path_of, signed_in_by_code

pytestmark = pytest.mark.django_db

SITE_HOST = TEST_SITE_URL.removeprefix("https://")


def a_passkey() -> SoftPasskey:
    return SoftPasskey(origin=TEST_SITE_URL, rp_id=SITE_HOST)


def add(browser, passkey: SoftPasskey):
    options = browser.post("/account/passkeys/options/").content.decode()
    return browser.post("/account/passkeys/", {"credential": passkey.create(options)})


def signed_in_with(passkey: SoftPasskey):
    browser = behind_the_proxy()
    options = browser.post("/passkeys/sign-in/options/").content.decode()
    return browser, browser.post("/passkeys/sign-in/", {"credential": passkey.get(options)})


def test_the_inbox_takes_back_a_passkey_it_did_not_add_without_signing_in(mailbox):
    alice = User.objects.create_user("alice@example.com")
    intruder = signed_in_by_code(mailbox)
    passkey = a_passkey()
    mailbox.clear()
    add(intruder, passkey)
    bot, _ = signed_in_with(passkey)  # it signs straight back in: the owner would lose a race
    notice = mailbox.message_to("alice@example.com", subject="passkey")
    refuse = [line for line in link_in_all(notice) if "/account/passkeys/refuse/" in line][0]
    owner = behind_the_proxy()

    page = owner.get(path_of(refuse), follow=True)
    removed = owner.post("/account/passkeys/refuse/", {"refuse": refuse.split("refuse=")[1]})
    _, again = signed_in_with(passkey)

    assert page.redirect_chain == [("/account/passkeys/refuse/", HTTPStatus.SEE_OTHER)]
    assert b"Remove it and sign out everywhere" in page.content
    assert removed.status_code == HTTPStatus.OK and b"The passkey is removed" in removed.content
    assert not Passkey.objects.filter(user=alice).exists()
    for browser in (intruder, bot):
        assert browser.get("/dashboard/").status_code == HTTPStatus.FOUND
    assert again.status_code == HTTPStatus.BAD_REQUEST
    assert SignInEvent.objects.filter(kind="passkey_removed", detail="by the inbox").count() == 1


def link_in_all(message) -> list[str]:
    text = message.get_body(preferencelist=("plain",)).get_content()
    return [word for word in text.split() if word.startswith("https://")]


@pytest.mark.django_db(transaction=True)
def test_a_passkey_added_just_before_a_deletion_is_still_announced(mailbox, settings):
    # The production queue, its worker one step behind: the notice is queued, then the account
    # is closed before the worker gets to it. It used to be dropped ("no account"), and a
    # restore handed the passkey back unannounced.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    User.objects.create_user("alice@example.com")
    intruder = behind_the_proxy()
    intruder.post("/", {"email": "alice@example.com"})
    run_due_tasks()
    intruder.post("/check-inbox/", {"code": code_in(mailbox.message_to("alice@example.com"))})
    mailbox.clear()

    add(intruder, a_passkey())
    intruder.post("/account/delete/", {"email": "alice@example.com"})
    run_due_tasks()

    subjects = [m["Subject"] for m in mailbox.by_recipient["alice@example.com"]]
    assert any("passkey" in subject for subject in subjects)
    assert any("was deleted" in subject for subject in subjects)


def test_a_passkey_added_while_the_undo_lands_does_not_outlive_it(mailbox, monkeypatch):
    alice = User.objects.create_user("alice@example.com")
    intruder = signed_in_by_code(mailbox)
    made = AddressChange.objects.create(
        id="moved",
        user=alice,
        from_address="alice@example.com",
        to_address="alice@example.com",  # set below, once the intruder's session is loaded
        state=State.DONE,
        done_at=timezone.now(),
    )
    User.objects.filter(pk=alice.pk).update(email="mallory@example.net")
    AddressChange.objects.filter(pk=made.pk).update(to_address="mallory@example.net")
    made.refresh_from_db()
    checked = ceremony.verify_registration_response

    def the_owner_undoes_meanwhile(**kwargs):
        # Between the intruder's request loading its session and the passkey's insert, the
        # owner's undo commits: the interleaving a script keeping adds in flight would hit.
        undo(AddressChange.objects.select_related("user").get(pk=made.pk))
        return checked(**kwargs)

    monkeypatch.setattr(ceremony, "verify_registration_response", the_owner_undoes_meanwhile)
    answer = add(intruder, a_passkey())

    # Django's own answer when a request's session is deleted under it (SessionInterrupted).
    assert answer.status_code == HTTPStatus.BAD_REQUEST
    assert not Passkey.objects.exists()
    assert User.objects.get(pk=alice.pk).email == "alice@example.com"


def test_a_stale_staff_session_changes_nothing_in_the_admin(mailbox):
    User.objects.create_user("staff@example.com", is_staff=True, is_superuser=True)
    bob = User.objects.create_user("bob@example.com")
    browser = signed_in_by_code(mailbox, "staff@example.com")
    page = f"/admin/accounts/user/{bob.pk}/change/"
    fresh = browser.get(page)

    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        stale = browser.post(page, {"email": "mallory@example.net", "is_active": "on"})
        read = browser.get(page)

    assert fresh.status_code == HTTPStatus.OK and b'name="email"' not in fresh.content
    assert stale.status_code == HTTPStatus.FORBIDDEN and b"Sign in again first" in stale.content
    assert read.status_code == HTTPStatus.OK
    assert User.objects.get(pk=bob.pk).email == "bob@example.com"
    assert browser.get(f"/admin/accounts/user/{bob.pk}/delete/").status_code == 403
    # The close action instead of a delete: the account waits its restore week.
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        closing = browser.post(
            "/admin/accounts/user/", {"action": "close_accounts", "_selected_action": [bob.pk]}
        )
    assert closing.status_code == HTTPStatus.FORBIDDEN  # a stale session closes nobody either
    assert User.objects.get(pk=bob.pk).closed_at is None
    fresh = browser.post(
        "/admin/accounts/user/", {"action": "close_accounts", "_selected_action": [bob.pk]}
    )
    assert fresh.status_code == HTTPStatus.FOUND
    assert User.objects.get(pk=bob.pk).closed_at is not None  # closed, not deleted


def test_an_undo_does_not_lift_a_deactivation_by_staff(mailbox):
    alice = User.objects.create_user("alice@example.com")
    made = AddressChange.objects.create(
        id="moved",
        user=alice,
        from_address="alice@example.com",
        to_address="banned@example.net",
        state=State.DONE,
        done_at=timezone.now(),
    )
    alice.email, alice.is_active = "banned@example.net", False
    alice.save()
    mailbox.clear()

    refused = behind_the_proxy().post(
        "/account/email/undo/", {"change": undo_link(made).split("change=")[1]}
    )
    behind_the_proxy().post("/", {"email": "alice@example.com"})

    assert refused.status_code == HTTPStatus.GONE
    alice.refresh_from_db()
    assert not alice.is_active and alice.email == "banned@example.net"
    assert "moved to another address" not in mailbox.message_to("alice@example.com")["Subject"]


def test_a_closed_account_is_reopened_by_an_undo_of_the_move_before_it(mailbox):
    alice = User.objects.create_user("alice@example.com")
    made = AddressChange.objects.create(
        id="moved",
        user=alice,
        from_address="alice@example.com",
        to_address="mallory@example.net",
        state=State.DONE,
        done_at=timezone.now(),
    )
    User.objects.filter(pk=alice.pk).update(email="mallory@example.net")
    close_account(User.objects.get(pk=alice.pk))

    undone = behind_the_proxy().post(
        "/account/email/undo/", {"change": undo_link(made).split("change=")[1]}
    )

    assert undone.status_code == HTTPStatus.OK
    alice.refresh_from_db()
    assert alice.is_active and alice.closed_at is None and alice.email == "alice@example.com"


def test_json_nested_thousands_deep_is_a_refused_passkey_not_a_500(mailbox):
    User.objects.create_user("alice@example.com")
    browser = behind_the_proxy()
    browser.post("/passkeys/sign-in/options/")
    deep = "[" * 50_000 + "]" * 50_000

    answer = browser.post("/passkeys/sign-in/", {"credential": deep})

    assert answer.status_code == HTTPStatus.BAD_REQUEST
    assert SignInEvent.objects.filter(kind="rejected", detail="passkey").count() == 1


def test_a_browser_handle_with_a_nul_byte_is_no_browser_of_ours(mailbox):
    User.objects.create_user("alice@example.com")
    browser = signed_in_by_code(mailbox)

    answer = browser.post("/account/sign-out-browser/", {"browser": "abc\x00def"}, follow=True)

    assert answer.status_code == HTTPStatus.OK
    assert b"That browser was already signed out." in answer.content


@pytest.mark.parametrize(
    "path", ["/account/email/undo", "/account/restore", "/account/passkeys/refuse"]
)
def test_an_emailed_link_without_its_slash_is_no_cacheable_redirect_with_the_token(path):
    response = behind_the_proxy().get(path, {"change": "a.b.c", "restore": "a.b.c", "refuse": "a"})

    assert response.status_code == HTTPStatus.SEE_OTHER
    assert "a.b.c" not in response["Location"]
    assert response["Referrer-Policy"] == "no-referrer"

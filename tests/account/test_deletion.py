"""Deleting an account: closed at once, restorable by its inbox for a week, then erased.

One phished code and the address typed in used to erase an account for good. Now the person's
"Delete" closes it (nobody signs in, by link, code or passkey), the farewell email can restore
it as it was, and only after ACCOUNT_UNDO_DAYS is it erased.
"""

from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.models import (
    AccountEmail,
    Passkey,
    SignedInBrowser,
    SignInEmail,
    SignInEvent,
    User,
)
from tests.helpers import behind_the_proxy, code_in, link_in, path_of, signed_in_by_code

pytestmark = pytest.mark.django_db


def deleted(mailbox, alice) -> tuple[Client, Client, str]:
    """Alice's phone and laptop, signed in, a passkey on the account; the laptop deletes it.
    Returns both browsers and the farewell email's restore link."""
    phone = signed_in_by_code(mailbox)
    laptop = signed_in_by_code(mailbox)
    Passkey.objects.create(
        user=alice, credential_id=b"phone", public_key=b"key", user_handle=b"h", name="Phone"
    )
    mailbox.clear()
    answer = laptop.post("/account/delete/", {"email": "ALICE@example.com"})
    assert answer["Location"] == "/"
    farewell = mailbox.message_to("alice@example.com", subject="was deleted")
    return phone, laptop, link_in(farewell)


def restore_with(browser: Client, link: str):
    page = browser.get(path_of(link), follow=True)
    token = link.split("restore=")[1]
    return page, browser.post("/account/restore/", {"restore": token})


def test_deleting_closes_the_account_at_once_and_every_way_in_with_it(mailbox, alice):
    phone, laptop, restore_link = deleted(mailbox, alice)
    stranger = behind_the_proxy()
    mailbox.clear()

    stranger.post("/", {"email": "alice@example.com"})
    offer = mailbox.message_to("alice@example.com")

    alice.refresh_from_db()
    assert not alice.is_active and alice.closed_at is not None
    assert not SignedInBrowser.objects.exists()
    assert not [s for s in Session.objects.all() if "_auth_user_id" in s.get_decoded()]
    assert phone.get("/dashboard/").status_code == HTTPStatus.FOUND
    assert laptop.get("/dashboard/").status_code == HTTPStatus.FOUND
    assert "/account/restore/?restore=" in restore_link
    # Asking to sign in offers the restore, never a new account or a code.
    assert "is closed: restore it" in offer["Subject"]
    assert "/account/restore/?restore=" in link_in(offer) and "sesame" not in offer.as_string()
    assert User.objects.filter(email="alice@example.com").count() == 1


def test_restoring_within_the_week_gives_back_the_same_account(mailbox, alice):
    _, _, restore_link = deleted(mailbox, alice)
    history = SignInEvent.objects.filter(user=alice).count()
    owner = behind_the_proxy()

    with time_machine.travel(timezone.now() + timedelta(days=6)):
        page, restored = restore_with(owner, restore_link)
        again = owner.post("/account/restore/", {"restore": restore_link.split("restore=")[1]})

    assert page.redirect_chain == [("/account/restore/", HTTPStatus.SEE_OTHER)]
    assert b"Restore the account" in page.content
    assert restored.status_code == HTTPStatus.OK and b"Your account is back" in restored.content
    assert again.status_code == HTTPStatus.GONE
    alice.refresh_from_db()
    assert alice.is_active and alice.closed_at is None
    assert Passkey.objects.filter(user=alice, name="Phone").exists()
    assert SignInEvent.objects.filter(user=alice).count() == history + 1  # "restored"
    assert signed_in_by_code(mailbox).get("/dashboard/").status_code == HTTPStatus.OK


def test_after_the_week_only_what_the_privacy_wording_names_remains(mailbox, alice):
    _, _, restore_link = deleted(mailbox, alice)

    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        call_command("delete_unused_accounts", stdout=open("/dev/null", "w"))  # noqa: SIM115
        late = behind_the_proxy().post(
            "/account/restore/", {"restore": restore_link.split("restore=")[1]}
        )

    assert late.status_code == HTTPStatus.GONE and b"it is erased" in late.content
    assert not User.objects.filter(pk=alice.pk).exists()
    assert not Passkey.objects.exists() and not AccountEmail.objects.exists()
    assert not SignInEmail.objects.filter(address="alice@example.com").exists()
    # The record keeps what happened, and nothing that names the person.
    kept = list(SignInEvent.objects.values("user", "network", "user_agent"))
    assert kept and all(e == {"user": None, "network": "", "user_agent": ""} for e in kept)
    assert SignInEvent.objects.filter(kind="deleted", detail="erased").count() == 1


def test_a_closed_accounts_links_and_codes_sign_nobody_in(mailbox, alice):
    waiting = behind_the_proxy()
    mailbox.clear()
    waiting.post("/", {"email": "alice@example.com"})
    email = mailbox.message_to("alice@example.com")
    _, _, restore_link = deleted(mailbox, alice)

    restore_with(behind_the_proxy(), restore_link)  # restored: old links and codes stay dead
    typed = waiting.post("/check-inbox/", {"code": code_in(email)})
    pressed = behind_the_proxy().post("/link/", {"sesame": link_in(email).split("sesame=")[1]})

    assert typed.status_code == HTTPStatus.BAD_REQUEST  # its email went with the closing
    assert pressed.status_code in (HTTPStatus.BAD_REQUEST, HTTPStatus.GONE)
    assert waiting.get("/dashboard/").status_code == HTTPStatus.FOUND


def test_a_forged_restore_link_restores_nothing(mailbox, alice):
    _, _, restore_link = deleted(mailbox, alice)
    token = restore_link.split("restore=")[1]

    forged = behind_the_proxy().post("/account/restore/", {"restore": token[:-2] + "xx"})

    assert forged.status_code == HTTPStatus.BAD_REQUEST
    assert not User.objects.get(pk=alice.pk).is_active


def test_an_erased_accounts_sign_ins_keep_no_trace_of_its_address(mailbox, alice):
    deleted(mailbox, alice)
    assert SignInEvent.objects.filter(user=alice, kind="signed_in").exclude(domain="").exists()

    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        call_command("delete_unused_accounts", stdout=open("/dev/null", "w"))  # noqa: SIM115

    kept = list(SignInEvent.objects.filter(kind="signed_in").values("user", "domain"))
    assert kept and all(event == {"user": None, "domain": ""} for event in kept), kept

"""Changing the account's address: proven by the new inbox, announced to the old one, and every
older sign-in link dies with the old address."""

from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts.models import Passkey, SignInEvent, User
from tests.helpers import code_in, link_in, path_of, signed_in_by_code

pytestmark = pytest.mark.django_db


def test_the_code_from_the_new_inbox_changes_the_address_and_the_old_one_is_told(mailbox, alice):
    laptop = signed_in_by_code(mailbox)
    old_link = link_in(_another_sign_in_email(mailbox))

    asked = laptop.post("/account/email/", {"email": "Alice.New@Example.org"})
    proof = mailbox.message_to("alice.new@example.org")
    changed = laptop.post("/account/email/confirm/", {"code": code_in(proof)})

    assert asked["Location"] == "/account/email/confirm/"
    assert changed["Location"] == "/account/"
    alice.refresh_from_db()
    assert alice.email == "alice.new@example.org"
    assert b"Hello, alice.new@example.org" in laptop.get("/dashboard/").content
    (notice,) = [
        m for m in mailbox.by_recipient["alice@example.com"] if "was changed" in m["Subject"]
    ]
    assert notice["Subject"] == "Your Latchkey address was changed"
    assert "alice.new@example.org" in notice.get_body(preferencelist=("plain",)).get_content()
    # Every link sent to the old address is dead.
    stranger = Client(headers={"X-Forwarded-Proto": "https"})
    assert stranger.post("/link/", {"sesame": old_link.split("sesame=")[1]}).status_code in (
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.GONE,
    )
    assert SignInEvent.objects.filter(kind=SignInEvent.Kind.ADDRESS_CHANGED, user=alice).exists()


def _another_sign_in_email(mailbox):
    """A sign-in email to alice, asked for by another browser, left unused."""
    before = len(mailbox.messages)
    Client(headers={"X-Forwarded-Proto": "https"}).post("/", {"email": "alice@example.com"})
    return mailbox.wait_for(before + 1)[-1]


def test_the_link_works_in_a_browser_signed_in_to_the_account_and_only_once(mailbox, alice):
    laptop = signed_in_by_code(mailbox)
    laptop.post("/account/email/", {"email": "new@example.org"})
    link = link_in(mailbox.message_to("new@example.org"))

    opened = laptop.get(path_of(link))
    page = laptop.get(opened["Location"])
    token = link.split("change=")[1]
    changed = laptop.post("/account/email/confirm/", {"change": token})
    again = laptop.post("/account/email/confirm/", {"change": token})

    # As a sign-in link's token does, this one leaves the address bar before any page loads.
    assert opened.status_code == HTTPStatus.SEE_OTHER
    assert opened["Location"] == "/account/email/confirm/?link"
    assert opened["Referrer-Policy"] == "no-referrer"
    assert page.status_code == HTTPStatus.OK
    assert b"Change your address to new@example.org" in page.content
    assert f'name="change" value="{token}"' in page.content.decode()
    assert changed["Location"] == "/account/"
    assert again.status_code == HTTPStatus.GONE
    assert User.objects.get(pk=alice.pk).email == "new@example.org"


def test_the_link_in_a_signed_out_browser_asks_to_sign_in_first(mailbox, alice):
    laptop = signed_in_by_code(mailbox)
    laptop.post("/account/email/", {"email": "new@example.org"})
    link = link_in(mailbox.message_to("new@example.org"))

    phone = Client(headers={"X-Forwarded-Proto": "https"}).get(path_of(link), follow=True)

    assert phone.redirect_chain == [("/account/email/confirm/?link", HTTPStatus.SEE_OTHER)]
    assert phone.status_code == HTTPStatus.OK and b"Sign in first" in phone.content
    assert User.objects.get(pk=alice.pk).email == "alice@example.com"


def test_an_address_with_an_account_changes_nothing_and_the_page_does_not_say(
    mailbox, alice, django_user_model
):
    django_user_model.objects.create_user("bob@example.com")
    laptop = signed_in_by_code(mailbox)

    asked = laptop.post("/account/email/", {"email": "bob@example.com"})
    note = mailbox.message_to("bob@example.com")

    assert asked["Location"] == "/account/email/confirm/"  # the same answer as for any address
    assert "already has an account" in note.get_body(preferencelist=("plain",)).get_content()
    assert "sesame" not in note.as_string() and "change=" not in note.as_string()
    assert User.objects.get(pk=alice.pk).email == "alice@example.com"


def test_the_same_address_a_closed_domain_and_nonsense_are_refused_clearly(
    mailbox, alice, settings
):
    settings.SIGNUP_EMAIL_DOMAINS = ["example.com"]
    laptop = signed_in_by_code(mailbox)

    same = laptop.post("/account/email/", {"email": "ALICE@example.com"})
    closed = laptop.post("/account/email/", {"email": "alice@elsewhere.org"})
    nonsense = laptop.post("/account/email/", {"email": "not an address\r\nBcc: x@y.z"})

    assert same.status_code == closed.status_code == nonsense.status_code == 400
    assert b"That is already your address." in same.content
    assert b"cannot use an address at that domain" in closed.content


def test_a_wrong_code_changes_nothing_and_says_how_many_tries_are_left(mailbox, alice):
    laptop = signed_in_by_code(mailbox)
    laptop.post("/account/email/", {"email": "new@example.com"})
    code = code_in(mailbox.message_to("new@example.com")).replace(" ", "")

    wrong = laptop.post("/account/email/confirm/", {"code": "000000" if code != "000000" else "1"})

    assert wrong.status_code == HTTPStatus.BAD_REQUEST
    assert b"tries left" in wrong.content
    assert User.objects.get(pk=alice.pk).email == "alice@example.com"


def test_changing_the_address_needs_a_recent_sign_in(mailbox, alice):
    laptop = signed_in_by_code(mailbox)

    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        refused = laptop.post("/account/email/", {"email": "new@example.com"})

    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert b"Sign in again first" in refused.content


def test_the_code_typed_after_the_link_did_the_change_says_so_and_tells_nobody_twice(
    mailbox, alice
):
    laptop = signed_in_by_code(mailbox)
    phone = signed_in_by_code(mailbox)
    laptop.post("/account/email/", {"email": "new@example.org"})
    proof = mailbox.message_to("new@example.org")
    phone.post("/account/email/confirm/", {"change": link_in(proof).split("change=")[1]})

    typed = laptop.post("/account/email/confirm/", {"code": code_in(proof)}, follow=True)

    assert typed.redirect_chain == [("/account/", HTTPStatus.FOUND)]
    assert b"Your address is now new@example.org." in typed.content
    assert User.objects.get(pk=alice.pk).email == "new@example.org"
    notices = [m["To"] for m in mailbox.messages if "was changed" in m["Subject"]]
    assert notices == ["alice@example.com"]
    assert SignInEvent.objects.filter(kind=SignInEvent.Kind.ADDRESS_CHANGED).count() == 1


def moved_by_an_intruder(mailbox, alice) -> tuple[Client, Client, str]:
    """Alice's laptop, and an intruder's browser that moved her account to mallory@example.net
    (with a code phished from her) after adding a passkey of its own; the notice's undo link."""
    laptop = signed_in_by_code(mailbox)
    intruder = signed_in_by_code(mailbox)
    Passkey.objects.create(
        user=alice, credential_id=b"intruder", public_key=b"key", user_handle=b"h", name="mine"
    )
    intruder.post("/account/email/", {"email": "mallory@example.net"})
    proof = mailbox.message_to("mallory@example.net")
    intruder.post("/account/email/confirm/", {"code": code_in(proof)})
    (notice,) = [
        m for m in mailbox.by_recipient["alice@example.com"] if "was changed" in m["Subject"]
    ]
    return laptop, intruder, link_in(notice)


def test_the_old_address_undoes_a_change_it_did_not_make_and_ends_every_way_in(mailbox, alice):
    laptop, intruder, undo_link = moved_by_an_intruder(mailbox, alice)
    phone = Client(headers={"X-Forwarded-Proto": "https"})  # the owner, signed out

    page = phone.get(path_of(undo_link), follow=True)
    looked = User.objects.get(pk=alice.pk).email
    undone = phone.post("/account/email/undo/", {"change": undo_link.split("change=")[1]})
    again = phone.post("/account/email/undo/", {"change": undo_link.split("change=")[1]})

    assert "/account/email/undo/?change=" in undo_link
    assert page.redirect_chain == [("/account/email/undo/", HTTPStatus.SEE_OTHER)]
    assert page.status_code == HTTPStatus.OK
    assert b"make it <strong>alice@example.com</strong> again" in page.content
    assert looked == "mallory@example.net"  # opening the link changes nothing
    assert b"signs in as <strong>alice@example.com</strong> again" in undone.content
    assert User.objects.get(pk=alice.pk).email == "alice@example.com"
    for browser in (laptop, intruder):
        assert browser.get("/dashboard/").status_code == HTTPStatus.FOUND  # signed out
    assert not Passkey.objects.exists()
    assert again.status_code == HTTPStatus.GONE
    assert SignInEvent.objects.filter(kind="address_changed", detail="undone").count() == 1
    # Alice signs in again the usual way.
    assert signed_in_by_code(mailbox).get("/dashboard/").status_code == HTTPStatus.OK


def test_an_undo_link_works_for_a_week_and_cannot_be_forged(mailbox, alice):
    _, _, undo_link = moved_by_an_intruder(mailbox, alice)
    token = undo_link.split("change=")[1]
    phone = Client(headers={"X-Forwarded-Proto": "https"})

    forged = phone.post("/account/email/undo/", {"change": token[:-2] + "xx"})
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        late = phone.post("/account/email/undo/", {"change": token})

    assert forged.status_code == HTTPStatus.BAD_REQUEST
    assert late.status_code == HTTPStatus.GONE and b"7 days" in late.content
    assert User.objects.get(pk=alice.pk).email == "mallory@example.net"


def test_a_second_change_waits_a_week_so_the_first_can_still_be_undone(mailbox, alice):
    _, intruder, undo_link = moved_by_an_intruder(mailbox, alice)

    shown = intruder.get("/account/email/")
    second = intruder.post("/account/email/", {"email": "mallory2@example.net"})
    phone = Client(headers={"X-Forwarded-Proto": "https"})
    undone = phone.post("/account/email/undo/", {"change": undo_link.split("change=")[1]})

    assert shown.status_code == HTTPStatus.OK and b"It can change again from" in shown.content
    assert b'name="email"' not in shown.content
    assert second.status_code == HTTPStatus.FORBIDDEN
    assert "mallory2@example.net" not in mailbox.by_recipient
    assert undone.status_code == HTTPStatus.OK
    assert User.objects.get(pk=alice.pk).email == "alice@example.com"
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        laptop = signed_in_by_code(mailbox)
        assert laptop.post("/account/email/", {"email": "new@example.org"}).status_code == 302


def test_a_code_mailed_to_the_old_address_dies_with_it_as_its_link_does(mailbox, alice):
    laptop = signed_in_by_code(mailbox)
    waiting = Client(headers={"X-Forwarded-Proto": "https"})  # asked, then left for a while
    mailbox.clear()
    waiting.post("/", {"email": "alice@example.com"})
    old_email = mailbox.message_to("alice@example.com")
    laptop.post("/account/email/", {"email": "new@example.org"})
    laptop.post("/account/email/confirm/", {"code": code_in(mailbox.message_to("new@example.org"))})

    typed = waiting.post("/check-inbox/", {"code": code_in(old_email)})

    assert User.objects.get(pk=alice.pk).email == "new@example.org"
    assert typed.status_code == HTTPStatus.GONE
    assert waiting.get("/dashboard/").status_code == HTTPStatus.FOUND  # not signed in


def test_the_code_is_checked_even_after_the_link_was_opened_in_the_same_browser(mailbox, alice):
    laptop = signed_in_by_code(mailbox)
    laptop.post("/account/email/", {"email": "new@example.org"})
    proof = mailbox.message_to("new@example.org")
    laptop.get(path_of(link_in(proof)))  # opened, not pressed: its token waits in a cookie
    not_the_code = "000000" if code_in(proof).replace(" ", "") != "000000" else "111111"

    wrong = laptop.post("/account/email/confirm/", {"code": not_the_code})

    assert wrong.status_code == HTTPStatus.BAD_REQUEST and b"tries left" in wrong.content
    assert User.objects.get(pk=alice.pk).email == "alice@example.com"


def test_an_undo_after_the_old_address_got_another_account_says_so_and_changes_nothing(
    mailbox, alice
):
    _, _, undo_link = moved_by_an_intruder(mailbox, alice)
    User.objects.create_user("alice@example.com")  # signed up again meanwhile
    phone = Client(headers={"X-Forwarded-Proto": "https"})

    refused = phone.post("/account/email/undo/", {"change": undo_link.split("change=")[1]})

    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert b"Another account has your old address now" in refused.content
    assert User.objects.get(pk=alice.pk).email == "mallory@example.net"


def test_an_undo_after_the_intruder_deleted_the_account_gives_it_back_open(mailbox, alice):
    _, intruder, undo_link = moved_by_an_intruder(mailbox, alice)
    intruder.post("/account/delete/", {"email": "mallory@example.net"})
    phone = Client(headers={"X-Forwarded-Proto": "https"})

    undone = phone.post("/account/email/undo/", {"change": undo_link.split("change=")[1]})

    assert undone.status_code == HTTPStatus.OK
    alice.refresh_from_db()
    assert alice.email == "alice@example.com" and alice.is_active and alice.closed_at is None
    assert signed_in_by_code(mailbox).get("/dashboard/").status_code == HTTPStatus.OK


def test_an_undo_after_the_account_was_erased_says_so(mailbox, alice):
    _, intruder, undo_link = moved_by_an_intruder(mailbox, alice)
    User.objects.filter(pk=alice.pk).delete()  # as erase_due() does, a week after a deletion
    phone = Client(headers={"X-Forwarded-Proto": "https"})

    refused = phone.post("/account/email/undo/", {"change": undo_link.split("change=")[1]})

    assert refused.status_code == HTTPStatus.GONE
    assert b"The account was deleted or closed after the change" in refused.content


@pytest.mark.parametrize(
    ("path", "lands_on", "status", "says"),
    [
        # No change is waiting for a code here: the page to ask for one.
        ("/account/email/confirm/", "/account/email/", HTTPStatus.OK, "Change your email address"),
        ("/account/email/undo/", "/account/email/undo/", HTTPStatus.BAD_REQUEST, "open the link"),
    ],
)
def test_text_that_cannot_be_a_token_in_an_address_link_gets_a_clear_answer(
    mailbox, alice, path, lands_on, status, says
):
    laptop = signed_in_by_code(mailbox)

    answer = laptop.get(path, {"change": "Ā\u2028 not a token"}, follow=True)

    assert answer.redirect_chain[0][1] == HTTPStatus.SEE_OTHER
    assert answer.request["PATH_INFO"] == lands_on
    assert answer.status_code == status
    assert says in answer.content.decode()
    assert User.objects.get(pk=alice.pk).email == "alice@example.com"

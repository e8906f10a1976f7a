"""One mailbox, one spelling: the address as it is stored, limited, mailed and shown."""

import importlib
from http import HTTPStatus

import pytest
from django.apps import apps
from django.test import Client

from accounts.models import User
from accounts.signin.addresses import InvalidAddress, canonical_address, display_address
from tests.helpers import link_in, path_of

pytestmark = pytest.mark.django_db


def request_link(client, address: str):
    return client.post("/", {"email": address})


@pytest.mark.parametrize(
    "typed",
    [
        "alice@example.com",
        "ALICE@Example.COM",
        " alice@example.com ",
        "alice@ｅｘａｍｐｌｅ.com",  # fullwidth letters
        "ａｌｉｃｅ@example.com",  # fullwidth local part
        "alice@ⓔxample.com",  # circled letter
        "alice@example。com",  # ideographic full stop
        "alice＠example.com",  # fullwidth at sign
    ],
)
def test_every_spelling_of_one_mailbox_is_the_same_address(typed):
    assert canonical_address(typed) == "alice@example.com"


def test_spellings_of_one_inbox_share_one_account_and_one_allowance(client, mailbox):
    spellings = ["alice@example.com", "alice@ｅｘａｍｐｌｅ.com", "alice@ⓔxample.com"]
    for typed in spellings:
        assert request_link(client, typed).status_code == HTTPStatus.FOUND

    fourth = request_link(client, "ALICE@example。com")

    assert fourth.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert not User.objects.exists()  # asking proves nothing
    assert [rcpt for _, rcpt in mailbox.envelopes] == [["alice@example.com"]] * 3
    # Confirming the links of two spellings: one account, and the second link finds it made.
    tokens = [link_in(message).split("sesame=")[1] for message in mailbox.wait_for(3)]
    assert client.post("/link/", {"sesame": tokens[1]})["Location"] == "/dashboard/"
    elsewhere = Client(headers={"X-Forwarded-Proto": "https"})
    assert elsewhere.post("/link/", {"sesame": tokens[2]}).status_code == HTTPStatus.GONE
    assert list(User.objects.values_list("email", flat=True)) == ["alice@example.com"]


@pytest.mark.parametrize(
    ("typed", "mailed_to", "not_to"),
    [
        ("anna@faß.de", "anna@xn--fa-hia.de", "anna@fass.de"),
        ("nikos@ς.gr", "nikos@xn--3xa.gr", "nikos@xn--4xa.gr"),
    ],
)
def test_a_link_for_an_idna_2008_domain_goes_to_that_domain(
    client, mailbox, typed, mailed_to, not_to
):
    assert request_link(client, typed).status_code == HTTPStatus.FOUND

    message = mailbox.message_to(mailed_to)
    assert mailbox.envelopes == [(mailbox.envelopes[0][0], [mailed_to])]
    assert not_to not in message["To"]
    client.get(path_of(link_in(message)))
    client.post("/link/", {"sesame": link_in(message).split("sesame=")[1].split("&")[0]})
    assert User.objects.get().email == mailed_to


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        # Django's mail layer decodes encoded words: this one would go to alice@example.com.
        ("=?us-ascii?q?alice?=@example.com", "different mailbox"),
        ("=?utf-8?b?YWxpY2U=?=@example.com", "different mailbox"),
        # IDNA makes this label longer than DNS allows: the mail layer could not send it.
        ("a@" + "é" * 63 + ".com", "too long"),
        # A Cyrillic "а": non-ASCII names before the @ are refused, look-alikes with them.
        ("аlice@example.com", "other alphabets, before the @ are not supported"),
        ('"alice"@example.com', "Quotes are not allowed"),
        ("alice@[127.0.0.1]", "not a bracketed IP address"),
    ],
)
def test_an_address_the_mail_layer_cannot_send_to_is_refused_up_front(
    client, mailbox, caplog, typed, says
):
    response = request_link(client, typed)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "We cannot send email to this address." in response.content.decode()
    assert says in response.content.decode()
    assert not User.objects.exists()
    assert mailbox.messages == []
    assert typed not in caplog.text


def test_a_look_alike_domain_is_shown_with_its_ascii_form(client, mailbox):
    request_link(client, "alice@exаmple.com")  # a Cyrillic "а" in the domain
    (message,) = mailbox.wait_for(1)
    assert mailbox.envelopes[0][1] == ["alice@xn--exmple-4nf.com"]
    shown = "alice@exаmple.com (xn--exmple-4nf.com)"
    assert shown in message.get_body(preferencelist=("plain",)).get_content()
    assert shown in client.get("/check-inbox/").content.decode()

    confirm = client.get(client.get(path_of(link_in(message)))["Location"])

    assert shown in confirm.content.decode()


def test_plain_ascii_addresses_are_shown_as_they_are():
    assert display_address("alice@example.com") == "alice@example.com"
    assert display_address("anna@xn--fa-hia.de") == "anna@faß.de (xn--fa-hia.de)"


def test_createsuperuser_refuses_an_address_it_cannot_mail():
    with pytest.raises(InvalidAddress):
        User.objects.create_superuser("=?us-ascii?q?root?=@example.com")
    assert not User.objects.exists()


def test_stored_addresses_are_rewritten_to_their_canonical_spelling():
    migration = importlib.import_module("accounts.migrations.0002_canonical_addresses")
    # Rows as the old code stored them: only stripped and lower-cased.
    kept = User.objects.create(email="bob@example.com")
    fullwidth = User.objects.create(email="bob@ｅｘａｍｐｌｅ.com")
    german = User.objects.create(email="anna@faß.de")
    encoded = User.objects.create(email="=?us-ascii?q?carol?=@example.com")

    migration.canonicalise(apps, schema_editor=None)

    for user in (kept, fullwidth, german, encoded):
        user.refresh_from_db()
    assert (kept.email, kept.is_active) == ("bob@example.com", True)
    assert (german.email, german.is_active) == ("anna@xn--fa-hia.de", True)
    # A second account for bob's inbox, and one that cannot be mailed: both retired, no way in.
    assert (fullwidth.email, fullwidth.is_active) == ("bob@ｅｘａｍｐｌｅ.com", False)
    assert not encoded.is_active
    assert not fullwidth.has_usable_password()

"""The attack review's login-CSRF chain, and every link in it, now broken.

Mallory holds a link for her own account. She asks for a link for Alice's address with
`next=/link/?sesame=<Mallory's token>`. Alice gets a genuine email, signs in, and used to land
on a second "Sign in as …" page that a second press turned into a session as Mallory.
"""

from http import HTTPStatus
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from accounts.models import User
from tests.helpers import behind_the_proxy, link_in, path_of

pytestmark = pytest.mark.django_db


def link_for(client, mailbox, address: str, next_url: str = "") -> str:
    response = client.post("/", {"email": address, "next": next_url})
    assert response.status_code == HTTPStatus.FOUND, response.content
    link = link_in(mailbox.message_to(address))
    mailbox.clear()
    return link


def query_of(link: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(link).query).items()}


def confirm(client, link: str, next_value: str | None = None):
    """Open the link and press the button, as a browser does."""
    client.get(path_of(link))
    query = query_of(link)
    data = {"sesame": query["sesame"], "next": query.get("next", "")}
    if next_value is not None:
        data["next"] = next_value
    return client.post("/link/", data)


@pytest.fixture
def mallory(db) -> User:
    return User.objects.create_user("mallory@example.com")


def mallorys_token(mailbox) -> str:
    return query_of(link_for(behind_the_proxy(), mailbox, "mallory@example.com"))["sesame"]


@pytest.mark.parametrize(
    "chained",
    [
        "/link/?sesame={token}",
        "/link?sesame={token}",
        "/%6Cink/?%73esame={token}",
        "/%256Cink/?%2573esame={token}",
        "/dashboard/?SESAME={token}",
        "/admin/login/?next=/link/%3Fsesame%3D{token}",
        "/link/",
        "/link",
        "https://signin.example.test/link/?sesame={token}",
        # An address-change link spends a credential too (its token is bound to one account).
        "/account/email/confirm/?change={token}",
        "/account/email/confirm/",
    ],
)
def test_a_next_that_leads_to_a_sign_in_is_dropped(client, mailbox, alice, mallory, chained):
    next_url = chained.format(token=mallorys_token(mailbox))

    asked = client.post("/", {"email": "alice@example.com", "next": next_url})

    assert asked["Location"] == "/check-inbox/"
    link = link_in(mailbox.message_to("alice@example.com"))
    assert "next" not in query_of(link)
    assert client.get(f"/?next={quote(next_url)}").context["form"]["next"].value() == ""


def test_the_chain_ends_with_alice_signed_in_as_herself(mailbox, alice, mallory):
    token = mallorys_token(mailbox)
    attacker = behind_the_proxy()
    # The attacker asks; Alice receives a genuine email and opens it in her own browser.
    alices_link = link_for(attacker, mailbox, "alice@example.com", f"/link/?sesame={token}")
    victim = behind_the_proxy()

    signed_in = confirm(victim, alices_link)

    assert signed_in["Location"] == "/dashboard/"
    assert victim.get("/dashboard/").context["user"] == alice
    assert victim.get("/link/")["Location"] == "/dashboard/"  # no second button page


def test_a_next_sealed_to_one_link_does_not_travel_with_another(client, mailbox, alice, mallory):
    mallorys = link_for(behind_the_proxy(), mailbox, "mallory@example.com", next_url="/admin/")
    alices = link_for(client, mailbox, "alice@example.com", next_url="/dashboard/")

    signed_in = confirm(client, alices, next_value=query_of(mallorys)["next"])

    assert signed_in["Location"] == "/dashboard/"


def test_a_tampered_sealed_next_is_ignored(client, mailbox, alice):
    link = link_for(client, mailbox, "alice@example.com", next_url="/dashboard/")
    sealed = query_of(link)["next"]
    tampered = "/admin/" + sealed[sealed.index(":") :]

    signed_in = confirm(client, link, next_value=tampered)

    assert signed_in["Location"] == "/dashboard/"


def test_a_signed_in_browser_is_told_that_a_link_switches_accounts(client, mailbox, alice, mallory):
    confirm(client, link_for(client, mailbox, "alice@example.com"))
    mallorys = link_for(behind_the_proxy(), mailbox, "mallory@example.com")

    client.get(path_of(mallorys))
    page = client.get("/link/").content.decode()

    assert "You are signed in as <strong>alice@example.com</strong>" in page
    assert "Continuing signs you out of it and in as <strong>mallory@example.com</strong>" in page
    assert "Switch to mallory@example.com" in page


def test_a_planted_link_names_the_account_this_browser_did_not_ask_for(mailbox, alice, mallory):
    victim = behind_the_proxy()
    victim.post("/", {"email": "alice@example.com"})
    mallorys = link_for(behind_the_proxy(), mailbox, "mallory@example.com")

    # Another site navigates the victim's browser to Mallory's link: the cookie is planted...
    victim.get(path_of(mallorys), headers={"Sec-Fetch-Site": "cross-site"})
    page = victim.get("/link/").content.decode()

    # ...and the page says whose account it is and that it is not the one asked for.
    assert "Sign in as mallory@example.com" in page
    assert "You asked for a link for <strong>alice@example.com</strong>" in page


def test_a_browser_that_asked_for_nothing_is_told_so(client, mailbox, alice):
    link = link_for(behind_the_proxy(), mailbox, "alice@example.com")

    client.get(path_of(link))
    page = client.get("/link/").content.decode()

    assert "This browser did not ask for this link." in page

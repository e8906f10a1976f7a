"""Security mail reaches the inbox: through a pause it waits, past a complaint it goes at once.

Run as production runs it: gunicorn and the mail worker from fly.toml, the provider's webhook
signed with the real secret. "The pause ends" is the clock's doing, which a test cannot wait a
day for: the test moves the pause's end, and the due time of the task that waits for it, into
the past in PostgreSQL, as the passing day would.
"""

import json
from base64 import b64encode
from datetime import timedelta
from http import HTTPStatus

import httpx
import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.models import AccountEmail, SuppressedAddress, User
from harness.authenticator import SoftPasskey
from tests.helpers import (
    code_in,
    csrf_token_in,
    eventually,
    link_in,
    our_app,
    path_of,
    press,
    signed_in_over_http,
)

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]

WEBHOOK_SECRET = "webhook-user:webhook-password-0123456789"


@pytest.fixture
def app(transactional_db):
    # the_pause_ends() moves waiting tasks on in the table itself, where only a sweep sees them:
    # one a second here, where production sweeps once a minute and needs no such shortcut.
    served = our_app(ANYMAIL_WEBHOOK_SECRET=WEBHOOK_SECRET, MAIL_SWEEP_SECONDS="1")
    yield served
    served.stop()


def provider_reports(app, address: str, kind: str) -> None:
    """Postmark's webhook, with the secret: SoftBounce (a full mailbox) or SpamComplaint."""
    event = {
        "RecordType": "SpamComplaint" if kind == "SpamComplaint" else "Bounce",
        "Type": kind,
        "TypeCode": 4096,
        "MessageID": "b7bc2f4a",
        "Email": address,
        "BouncedAt": "2026-12-06T10:00:00Z",
        "Description": "The recipient's mailbox is full.",
    }
    credentials = b64encode(WEBHOOK_SECRET.encode()).decode()
    with httpx.Client(base_url=app.origin) as provider:
        answer = provider.post(
            "/anymail/postmark/tracking/",
            content=json.dumps(event),
            headers={
                "Authorization": f"Basic {credentials}",
                "Content-Type": "application/json",
                "X-Forwarded-Proto": "https",
            },
        )
    assert answer.status_code == HTTPStatus.OK


def move_to(browser: httpx.Client, mailbox, address: str) -> None:
    press(browser, "/account/email/", "/account/email/", {"email": address})
    code = code_in(mailbox.message_to(address))
    moved = press(browser, "/account/email/confirm/", "/account/email/confirm/", {"code": code})
    assert moved.headers["Location"] == "/account/"


def owed(kind: str) -> AccountEmail:
    eventually(
        lambda: AccountEmail.objects.filter(kind=kind, status="owed", attempts__gte=1).exists(),
        10,
        f"the {kind} email tried, and owed",
    )
    return AccountEmail.objects.get(kind=kind)


def the_pause_ends(address: str) -> None:
    SuppressedAddress.objects.filter(email=address).update(until=timezone.now())
    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())


def test_a_notice_to_a_paused_old_address_waits_then_arrives_with_a_working_undo(app, mailbox):
    User.objects.create_user("alice@example.com")
    laptop = signed_in_over_http(app, mailbox)[0]
    provider_reports(app, "alice@example.com", "SoftBounce")

    move_to(laptop, mailbox, "new@example.org")
    waiting = owed("address_changed")
    account_page = laptop.get("/account/").text
    nothing_yet = list(mailbox.by_recipient.get("alice@example.com", []))
    the_pause_ends("alice@example.com")
    notice = mailbox.message_to("alice@example.com", subject="was changed")
    owner = app.client()
    undo = link_in(notice)
    undone = press(
        owner, path_of(undo), "/account/email/undo/", {"change": undo.split("change=")[1]}
    )

    assert waiting.problem == "address paused"
    assert "Emails we still owe you" in account_page
    assert "The notice that your address changed" in account_page
    assert not [m for m in nothing_yet if "was changed" in m["Subject"]]
    assert undone.status_code == HTTPStatus.OK
    assert User.objects.get().email == "alice@example.com"
    eventually(
        lambda: AccountEmail.objects.get(kind="address_changed").status == "sent", 10, "recorded"
    )


def test_a_notice_goes_at_once_despite_a_complaint(app, mailbox):
    User.objects.create_user("alice@example.com")
    laptop = signed_in_over_http(app, mailbox)[0]
    provider_reports(app, "alice@example.com", "SpamComplaint")
    assert SuppressedAddress.objects.get(email="alice@example.com").until is None

    move_to(laptop, mailbox, "new@example.org")
    notice = mailbox.message_to("alice@example.com", subject="was changed")

    assert "/account/email/undo/?change=" in link_in(notice)


def test_a_passkey_added_during_a_pause_is_announced_when_it_ends(app, mailbox):
    User.objects.create_user("alice@example.com")
    laptop = signed_in_over_http(app, mailbox)[0]
    provider_reports(app, "alice@example.com", "SoftBounce")
    page = laptop.get("/account/").text
    options = laptop.post(
        "/account/passkeys/options/", headers={"X-CSRFToken": csrf_token_in(page)}
    )
    passkey = SoftPasskey(origin=app.site_url, rp_id="127.0.0.1")
    laptop.post(
        "/account/passkeys/",
        data={
            "credential": passkey.create(options.text),
            "csrfmiddlewaretoken": csrf_token_in(page),
        },
    )

    owed("passkey_added")
    the_pause_ends("alice@example.com")
    notice = mailbox.message_to("alice@example.com", subject="passkey")

    assert "/account/" in notice.get_body(preferencelist=("plain",)).get_content()
    # The worker records "sent" just after the mail server took the email.
    eventually(
        lambda: AccountEmail.objects.get(kind="passkey_added").status == "sent", 10, "recorded"
    )


def test_a_notice_undelivered_by_its_deadline_is_a_warning(app, mailbox):
    User.objects.create_user("alice@example.com")
    laptop = signed_in_over_http(app, mailbox)[0]
    provider_reports(app, "alice@example.com", "SoftBounce")
    move_to(laptop, mailbox, "new@example.org")
    owed("address_changed")

    # A week of pauses later: the deadline has passed when the waiting task runs.
    AccountEmail.objects.update(deadline=timezone.now() - timedelta(seconds=1))
    SuppressedAddress.objects.update(until=timezone.now() + timedelta(days=1))
    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())

    eventually(
        lambda: AccountEmail.objects.filter(kind="address_changed", status="failed").exists(),
        10,
        "the notice given up",
    )
    assert (
        "WARNING" in app.logs() and "event=account_email_failed kind=address_changed" in app.logs()
    )

"""A transactional mail provider through django-anymail: tracking off, bounces stop further mail.

Postmark's API is played by a small HTTP server on loopback, since this machine reaches no
provider; anymail, its Postmark backend and Django's MAILERS are the real ones.
"""

import json
import threading
from base64 import b64encode
from datetime import timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts.mail.suppression import BOUNCE_PAUSE
from accounts.models import SuppressedAddress
from harness.servers import free_port
from tests.helpers import (
    WEBHOOK_SECRET,
    behind_the_proxy,
    database_of_its_own,
    migrate,
    signed_in_by_link,
)
from tests.helpers import provider_reports as bounce

pytestmark = pytest.mark.django_db


class PostmarkApi(BaseHTTPRequestHandler):
    """Answers POST /email as Postmark does, keeping what it received."""

    received: list[tuple[str, dict, dict]] = []
    error_code = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.path, dict(self.headers), body))
        if self.error_code:
            answer = {
                "ErrorCode": self.error_code,
                "Message": "You tried to send to a recipient that has been marked as inactive.\n"
                f"Found inactive addresses: {body['To']}.\n"
                "Inactive recipients are ones that have generated a hard bounce or a spam "
                "complaint.",
            }
            status = 422
        else:
            answer = {"To": body["To"], "MessageID": "b7bc2f4a", "ErrorCode": 0, "Message": "OK"}
            status = 200
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def postmark(settings):
    """Mail goes through anymail's Postmark backend to the loopback stand-in."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), PostmarkApi)
    # A short poll: shutdown() waits for it, half a second by default.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    PostmarkApi.received = []
    PostmarkApi.error_code = 0
    settings.MAILERS = {"default": {"BACKEND": "anymail.backends.postmark.EmailBackend"}}
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "POSTMARK_SERVER_TOKEN": "server-token-for-the-test",
        "POSTMARK_API_URL": f"http://127.0.0.1:{server.server_port}/",
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    yield PostmarkApi
    server.shutdown()
    server.server_close()


def test_sign_in_mail_goes_through_the_provider_with_tracking_off(postmark, alice):
    asked = behind_the_proxy().post("/", {"email": "alice@example.com"})

    assert asked["Location"] == "/check-inbox/"
    ((path, headers, body),) = postmark.received
    assert path == "/email"
    assert headers["X-Postmark-Server-Token"] == "server-token-for-the-test"
    assert body["To"] == "alice@example.com"
    assert body["From"] == "Latchkey <sign-in@signin.example.test>"
    assert body["TrackLinks"] == "None" and body["TrackOpens"] is False
    assert "/link/?sesame=" in body["TextBody"]


def test_a_bounce_stops_mail_for_a_while_and_the_answer_stays_the_same(postmark, alice):
    # As a provider posts: no CSRF token, so the webhook must stay exempt from the check.
    provider = Client(enforce_csrf_checks=True, headers={"X-Forwarded-Proto": "https"})
    received = bounce(provider, "Alice@Example.com")

    assert received.status_code == HTTPStatus.OK
    assert SuppressedAddress.objects.get().email == "alice@example.com"
    asked = behind_the_proxy().post("/", {"email": "alice@example.com"})
    assert asked["Location"] == "/check-inbox/"
    assert postmark.received == []


def test_a_webhook_without_the_secret_changes_nothing(postmark, alice):
    refused = bounce(behind_the_proxy(), "alice@example.com", secret="guess:guess")

    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert not SuppressedAddress.objects.exists()


def test_an_address_the_provider_refuses_is_suppressed_without_an_error_page(postmark, alice):
    postmark.error_code = 406  # Postmark: "inactive recipient"

    asked = behind_the_proxy().post("/", {"email": "alice@example.com"})

    assert asked["Location"] == "/check-inbox/"
    assert SuppressedAddress.objects.get().reason == "refused by the provider"


def test_without_a_webhook_secret_nobody_can_report_a_bounce(settings, alice):
    # The default, and every deployment on SMTP: anymail would only warn and accept anyone's
    # "bounce", so one request could stop all mail to any address.
    settings.ANYMAIL = {k: v for k, v in settings.ANYMAIL.items() if k != "WEBHOOK_SECRET"}

    forged = behind_the_proxy().post(
        "/anymail/postmark/tracking/",
        json.dumps({"RecordType": "Bounce", "Type": "HardBounce", "Email": "alice@example.com"}),
        content_type="application/json",
    )

    assert forged.status_code == HTTPStatus.NOT_FOUND
    assert not SuppressedAddress.objects.exists()


def test_a_full_mailbox_pauses_mail_for_a_day_then_its_owner_can_sign_in_again(postmark, alice):
    # anymail reports Postmark's SoftBounce (a full mailbox, a server down) as "bounced" too.
    bounce(behind_the_proxy(), "alice@example.com", kind="SoftBounce")

    behind_the_proxy().post("/", {"email": "alice@example.com"})
    paused = len(postmark.received)
    with time_machine.travel(timezone.now() + BOUNCE_PAUSE + timedelta(minutes=1)):
        behind_the_proxy().post("/", {"email": "alice@example.com"})

    assert paused == 0
    ((_, _, body),) = postmark.received
    assert body["To"] == "alice@example.com"


def test_a_complaint_stops_mail_for_good_and_a_later_bounce_does_not_shorten_it(postmark, alice):
    bounce(behind_the_proxy(), "alice@example.com", kind="SpamComplaint")
    bounce(behind_the_proxy(), "alice@example.com", kind="SoftBounce")

    with time_machine.travel(timezone.now() + timedelta(days=400)):
        asked = behind_the_proxy().post("/", {"email": "alice@example.com"})

    assert asked["Location"] == "/check-inbox/"
    assert postmark.received == []
    assert SuppressedAddress.objects.get().reason == "complained"


@pytest.mark.system
def test_addresses_a_bounce_stopped_for_good_before_the_pause_existed_get_mail_again():
    url = database_of_its_own("suppressions_before_pauses", "accounts", "0006")
    with psycopg.connect(url, autocommit=True) as database:
        database.execute(
            "INSERT INTO accounts_suppressedaddress (email, reason, created_at) VALUES "
            "('full@example.com', 'bounced', now() - interval '3 days'), "
            "('spam@example.com', 'complained', now() - interval '3 days')"
        )

        migrate(url)

        rows = database.execute(
            "SELECT email, until < now() FROM accounts_suppressedaddress ORDER BY email"
        ).fetchall()
    # The bounce's pause ended two days ago; the complaint still stops mail, for good.
    assert rows == [("full@example.com", True), ("spam@example.com", None)]


@pytest.mark.parametrize(
    "payload",
    ["not json", "[]", '{"RecordType": "Bounce", "Type": "HardBounce", "Email": 5}', "null"],
)
def test_nonsense_from_someone_with_the_secret_is_a_400_and_changes_nothing(postmark, payload):
    credentials = b64encode(WEBHOOK_SECRET.encode()).decode()
    provider = Client(raise_request_exception=False, headers={"X-Forwarded-Proto": "https"})

    answer = provider.post(
        "/anymail/postmark/tracking/",
        payload,
        content_type="application/json",
        headers={"Authorization": f"Basic {credentials}"},
    )

    assert answer.status_code == HTTPStatus.BAD_REQUEST
    assert not SuppressedAddress.objects.exists()


def changing_address(alice, new_address: str):
    """Alice, signed in a moment ago, asks to move her account to `new_address`."""
    laptop = behind_the_proxy()
    laptop.force_login(alice)
    laptop.get("/account/")  # the sign-in's clock starts: it is recent
    return laptop.post("/account/email/", {"email": new_address})


def test_an_address_change_proof_does_not_go_to_a_suppressed_address(postmark, alice):
    SuppressedAddress.objects.create(email="new@example.org", reason="complained")

    asked = changing_address(alice, "new@example.org")

    assert asked["Location"] == "/account/email/confirm/"  # as for any address
    assert postmark.received == []


def test_an_account_email_the_provider_refuses_pauses_the_address_without_an_error(postmark, alice):
    postmark.error_code = 406  # Postmark: "inactive recipient"

    asked = changing_address(alice, "new@example.org")

    assert asked["Location"] == "/account/email/confirm/"
    assert SuppressedAddress.objects.get().email == "new@example.org"


@pytest.mark.django_db(transaction=True)
def test_pauses_of_mail_that_ended_are_pruned_and_stops_for_good_are_kept(mailbox, alice):
    hour_ago = timezone.now() - timedelta(hours=1)
    SuppressedAddress.objects.create(email="ended@example.com", reason="bounced", until=hour_ago)
    SuppressedAddress.objects.create(email="spam@example.com", reason="complained")

    signed_in_by_link(mailbox, "alice@example.com")

    assert list(SuppressedAddress.objects.values_list("email", flat=True)) == ["spam@example.com"]

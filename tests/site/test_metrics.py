"""The operator's view: the series fly scrapes move by exactly what people did, and name nobody."""

import re
import time
import tomllib

import httpx
import pytest

from harness.servers import ROOT, wait_for_port
from tests.helpers import (
    ask_for_a_link,
    code_in,
    confirm_the_link,
    csrf_token_in,
    eventually,
    link_in,
    our_app,
)

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]

FLY = tomllib.loads((ROOT / "fly.toml").read_text())


def scrape(port: int, path: str) -> tuple[dict[str, float], str]:
    text = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10).text
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            values[series] = float(value)
    return values, text


@pytest.fixture
def app_on_flys_metrics_port():
    # The one app on fly.toml's own port: every other test app takes a free one. Its couriers
    # sweep every second, so that the queue's gauges are read again after the story.
    app = our_app(METRICS_PORT=str(FLY["metrics"]["port"]), MAIL_SWEEP_SECONDS="1")
    # gunicorn's master opens it just after the site's own port (its when_ready hook).
    wait_for_port(FLY["metrics"]["port"], process=app.process)
    yield app
    app.stop()


def test_the_series_move_by_what_happened_and_name_no_address_ip_or_token(
    app_on_flys_metrics_port, mailbox
):
    app, port, path = app_on_flys_metrics_port, FLY["metrics"]["port"], FLY["metrics"]["path"]
    assert port != FLY["http_service"]["internal_port"]  # never public
    before, _ = scrape(port, path)

    with app.client() as by_code:
        ask_for_a_link(by_code, "alice@example.com")
        page = by_code.get("/check-inbox/")
        code = code_in(mailbox.message_to("alice@example.com"))
        typed = by_code.post(
            "/check-inbox/", data={"code": code, "csrfmiddlewaretoken": csrf_token_in(page.text)}
        )
    with app.client() as by_link:
        ask_for_a_link(by_link, "bob@example.com")
        link = link_in(mailbox.message_to("bob@example.com"))
        confirmed = confirm_the_link(by_link, link)
    assert typed.status_code == confirmed.status_code == 302

    def moved(series: str) -> float:
        return scrape(port, path)[0].get(series, 0.0) - before.get(series, 0.0)

    eventually(
        lambda: moved('latchkey_emails_total{kind="sign_in",outcome="sent"}') == 2, 10, "sent"
    )
    sent_at = time.time()

    def swept_since() -> bool:
        # Each process's courier sweeps every second; a process whose first sweep met one of
        # these emails on its way says so until its next (the gauges serve the largest).
        now, _ = scrape(port, path)
        queue = [now["latchkey_mail_queue_depth"], now["latchkey_mail_queue_oldest_seconds"]]
        return queue == [0, 0] and now["latchkey_mail_queue_swept_timestamp_seconds"] > sent_at

    eventually(swept_since, 10, "the queue swept, and found empty, after the emails left")
    after, text = scrape(port, path)

    def delta(series: str) -> float:
        return after.get(series, 0.0) - before.get(series, 0.0)

    assert delta('latchkey_sign_in_requests_total{outcome="sent"}') == 2
    assert delta('latchkey_emails_total{kind="sign_in",outcome="queued"}') == 2
    assert delta('latchkey_sign_ins_total{method="code"}') == 1
    assert delta('latchkey_sign_ins_total{method="link"}') == 1
    assert delta('latchkey_email_wait_seconds_count{kind="sign_in"}') == 2
    assert delta('latchkey_sign_in_seconds_count{method="code"}') == 1
    assert delta('latchkey_sign_in_seconds_count{method="link"}') == 1
    assert after["latchkey_mail_queue_swept_timestamp_seconds"] <= time.time()
    # Labels are fixed words: no address, no IP, no token or code anywhere in the page.
    assert "@" not in text
    assert not re.search(r"\d+\.\d+\.\d+\.\d+", " ".join(re.findall(r"\{[^}]*\}", text)))
    assert code.replace(" ", "") not in text and link.split("sesame=")[1] not in text


def test_a_metrics_port_already_taken_does_not_keep_the_site_down():
    import socket

    taken = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    taken.bind(("::", 0))
    taken.listen()
    try:
        app = our_app(METRICS_PORT=str(taken.getsockname()[1]))
        try:
            with app.client() as browser:
                assert browser.get("/").status_code == 200
            assert "No metrics: port" in app.logs()
        finally:
            app.stop()
    finally:
        taken.close()

"""Floods against the app on gunicorn: the limits hold under concurrency, across workers."""

from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest

from tests.helpers import ask_for_a_link

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]


def ask_at_once(app, addresses: list[str], headers: dict | None = None) -> list[int]:
    def ask(address: str) -> int:
        with app.client() as browser:
            return ask_for_a_link(browser, address, headers=headers or {}).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        return list(pool.map(ask, addresses))


def test_a_burst_of_100_requests_for_one_address_sends_three_emails(live_app, mailbox):
    statuses = ask_at_once(live_app, ["alice@example.com"] * 100)

    assert statuses.count(HTTPStatus.FOUND) == 3
    assert statuses.count(HTTPStatus.TOO_MANY_REQUESTS) == 97
    mailbox.wait_for(3)
    assert len(mailbox.by_recipient["alice@example.com"]) == 3


def test_100_addresses_from_one_client_must_prove_some_work_past_thirty(live_app, mailbox):
    statuses = ask_at_once(
        live_app,
        [f"person{n}@example.com" for n in range(100)],
        headers={"X-Forwarded-For": "198.51.100.9"},  # spoofed: changes nothing
    )

    # 30 emails per network per 15 minutes; past them, the proof of work (none solved here).
    assert statuses.count(HTTPStatus.FOUND) == 30
    assert statuses.count(HTTPStatus.OK) == 70
    mailbox.wait_for(statuses.count(HTTPStatus.FOUND))
    assert len(mailbox.messages) == statuses.count(HTTPStatus.FOUND)

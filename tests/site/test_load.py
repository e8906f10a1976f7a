"""Many people signing in at once on two machines: no 5xx, one email per accepted request, one
sign-in per delivered link. CI runs a short version; `scripts/test --soak tests/site/test_load.py`
runs the full one (200 people for 60 seconds) and prints the figures for docs/security.md."""

import json
import threading
import time
from collections import Counter
from http import HTTPStatus

import httpx
import pytest

from harness.servers import ROOT
from tests.helpers import RoundRobin, ask_for_a_link, confirm_the_link, link_in, machine

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_machines():
    pair = [machine(WEB_CONCURRENCY="2", GUNICORN_THREADS="8") for _ in range(2)]
    yield pair
    for app in pair:
        app.stop()


def test_many_people_signing_in_at_once(request, two_machines, mailbox):
    soak = request.config.getoption("--soak")
    people, seconds = (200, 60) if soak else (24, 8)
    proxy = RoundRobin(two_machines)
    tally = Counter()
    accepted: list[str] = []
    problems: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def note(response: httpx.Response) -> httpx.Response:
        with lock:
            tally["requests"] += 1
            if response.status_code >= 500:
                tally["5xx"] += 1
                problems.append(
                    f"{response.request.method} {response.request.url.path}: {response.status_code}"
                )
        return response

    def person(number: int) -> None:
        count = 0
        while time.monotonic() < stop_at:
            address = f"load{number}-{count}@example.com"
            count += 1
            with two_machines[0].client() as browser:  # a new person: no cookies yet
                browser.event_hooks["response"].append(note)
                try:
                    asked = ask_for_a_link(browser, address, proxy.origin)
                    if asked.status_code != HTTPStatus.FOUND:
                        with lock:
                            problems.append(f"link request for {address}: {asked.status_code}")
                        continue
                    with lock:
                        accepted.append(address)
                    link = link_in(mailbox.message_to(address, timeout=60))
                    signed_in = confirm_the_link(browser, link, proxy.origin)
                    dashboard = browser.get(f"{proxy.origin()}/dashboard/")
                    if signed_in.status_code == HTTPStatus.FOUND and address in dashboard.text:
                        with lock:
                            tally["sign-ins"] += 1
                    else:
                        with lock:
                            problems.append(f"sign-in for {address}: {signed_in.status_code}")
                except (httpx.TransportError, AssertionError) as error:
                    with lock:
                        problems.append(f"{address}: {error!r}")

    threads = [threading.Thread(target=person, args=(n,)) for n in range(people)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started

    emails_per_address = Counter(
        recipient
        for address in accepted
        for recipient in [address] * len(mailbox.by_recipient.get(address, []))
    )
    figures = {
        "people": people,
        "seconds": round(elapsed, 1),
        "requests": tally["requests"],
        "5xx": tally["5xx"],
        "link requests accepted": len(accepted),
        "emails received": sum(len(v) for v in mailbox.by_recipient.values()),
        "sign-ins": tally["sign-ins"],
        "problems": len(problems),
    }
    artifacts = ROOT / "tests" / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "load.json").write_text(json.dumps(figures, indent=2))
    print("\nload:", json.dumps(figures))

    assert problems == []
    assert accepted, "nobody got as far as asking"
    assert tally["5xx"] == 0
    assert all(emails_per_address[address] == 1 for address in accepted)
    assert figures["emails received"] == len(accepted)
    assert tally["sign-ins"] == len(accepted)
    if soak:
        # A floor on throughput: on a shared CI machine only the full run can hold one fairly.
        assert tally["sign-ins"] >= people

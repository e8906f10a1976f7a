"""A person in a real Chromium (Debian's), against the app on gunicorn over HTTPS."""

import re
import shutil
from pathlib import Path

import pytest
import trustme
from playwright.sync_api import expect, sync_playwright

from tests.conftest import app_environment, link_in
from tests.servers import AppServer, free_port

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # This machine has no internet: Chromium's background calls home would only fail.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("tls")
    server = trustme.CA().issue_cert("127.0.0.1", "localhost")
    certificate, key = folder / "cert.pem", folder / "key.pem"
    server.private_key_and_cert_chain_pem.write_to_path(str(certificate))
    server.private_key_pem.write_to_path(str(key))
    return str(certificate), str(key)


@pytest.fixture
def https_app(transactional_db, certificate):
    port = free_port()
    app = AppServer(app_environment(port), port=port, tls=certificate).start()
    yield app
    app.stop()


@pytest.fixture(scope="session")
def chromium():
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(executable).exists(), "Chromium is missing: scripts/test installs Debian's"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.problems = []
    page.on(
        "console", lambda message: message.type == "error" and page.problems.append(message.text)
    )
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    yield page
    context.close()


def test_a_person_signs_in_and_out_in_chromium(https_app, page, mailbox):
    page.goto(https_app.origin + "/")
    page.get_by_label("Email address").fill("alice@example.com")
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")

    page.goto(link_in(mailbox.wait_for(1)[0]))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in as alice@example.com")
    assert "sesame" not in page.url
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, alice@example.com")
    assert re.fullmatch(rf"{https_app.origin}/dashboard/", page.url)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    assert page.problems == []

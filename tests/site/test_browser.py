"""What a person sees, in Debian's Chromium, against the app as production runs it.

gunicorn with DEBUG off serves HTTPS itself here (standing in for fly's proxy), with a real
redis-server and a real SMTP server behind it. Every page is checked by axe-core in the light and
the dark theme, must log no console error or Content-Security-Policy violation, and is saved as a
screenshot under tests/artifacts/screenshots/ (scripts/screenshots refreshes docs/screenshots/).
"""

import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import time_machine
import trustme
from axe_playwright_python.sync_playwright import Axe
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import timezone, translation
from playwright.sync_api import Page, expect, sync_playwright
from sesame.utils import get_query_string

from accounts.models import User
from accounts.signin.links import LOGIN_SCOPE
from config.errors import server_error
from harness.servers import ROOT, AppServer, free_port
from tests.helpers import database_of_its_own, eventually, link_in, our_app

# Tests never write tracked files: pictures go to an ignored folder, and `scripts/screenshots`
# points this at docs/screenshots/ when a person decides to refresh them.
SCREENSHOTS = Path(
    os.environ.get("SCREENSHOTS_DIR") or ROOT / "tests" / "artifacts" / "screenshots"
)
# Debian's headless build of Chromium: the same Blink and V8 as the desktop browser without the
# desktop's shell around them, as Playwright itself runs headless tests. It used 17.5 s of CPU
# where the full browser used 44.5 s over the same 31 tests, and the browser is the suite's
# largest user of CPU. (Its wrapper in /usr/bin would leave a shell between Playwright and it.)
HEADLESS_CHROMIUM = Path("/usr/lib/chromium/chromium-headless-shell")
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 740}}
PHONE = {"viewport": VIEWPORTS["phone"], "is_mobile": True, "has_touch": True}
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

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("tls")
    server = trustme.CA().issue_cert("127.0.0.1", "localhost")
    certificate, key = folder / "cert.pem", folder / "key.pem"
    server.private_key_and_cert_chain_pem.write_to_path(str(certificate))
    server.private_key_pem.write_to_path(str(key))
    return str(certificate), str(key)


def https_app(certificate, **env: str):
    app = our_app(tls=certificate, **env)
    yield app
    app.stop()


@pytest.fixture(scope="module")
def app(django_db_setup, certificate):
    yield from https_app(certificate)


@pytest.fixture(scope="module")
def app_without_redis(django_db_setup, certificate):
    # A database of its own: its processes sweep the mail queue, and must not send the other
    # app's mail with their own settings.
    database = database_of_its_own("without_redis")
    redis = f"redis://127.0.0.1:{free_port()}/0"
    yield from https_app(certificate, DATABASE_URL=database, REDIS_URL=redis)


@pytest.fixture(scope="module")
def app_without_mail(django_db_setup, certificate):
    database = database_of_its_own("without_mail")
    yield from https_app(certificate, DATABASE_URL=database, EMAIL_PORT=str(free_port()))


@pytest.fixture(scope="session")
def chromium():
    assert HEADLESS_CHROMIUM.exists(), "Chromium is missing: scripts/test installs Debian's"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=HEADLESS_CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def axe() -> Axe:
    return Axe()


@pytest.fixture(params=list(VIEWPORTS))
def page(request, chromium):
    # Reduced motion: no colour transition is caught halfway when the theme switches.
    context = chromium.new_context(
        ignore_https_errors=True, viewport=VIEWPORTS[request.param], reduced_motion="reduce"
    )
    page = context.new_page()
    page.viewport_name = request.param
    page.problems = []

    def note(message) -> None:
        # Chromium reports a page's own 4xx status as a console error; those statuses are ours
        # on purpose (400, 404, 410, 429, 503). Anything else, a CSP violation above all, counts,
        # and so does a failed stylesheet or image: its location is its own URL, not the page's.
        own_status = message.location.get("url") == page.url and message.text.startswith(
            "Failed to load resource: the server responded with a status of "
        )
        if message.type in ("error", "warning") and not own_status:
            page.problems.append(message.text)

    page.on("console", note)
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    yield page
    context.close()


def look_at(page: Page, axe: Axe, name: str) -> None:
    """What a reviewer checks on every page: accessible in both themes, no console problem."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for theme in ("light", "dark"):
        page.emulate_media(color_scheme=theme)
        results = axe.run(page)
        assert results.violations_count == 0, f"{name} ({theme}):\n{results.generate_report()}"
        if theme == "light" or page.viewport_name == "desktop":
            path = SCREENSHOTS / f"{name}-{page.viewport_name}-{theme}.png"
            # Dates and times change from run to run; the pictures in git should not.
            page.screenshot(path=path, full_page=True, mask=[page.locator("time")])
    page.emulate_media(color_scheme="light")
    assert page.problems == [], f"{name}: {page.problems}"
    # Nothing sideways to scroll: holds at 375 px, and so at 200% zoom of a 750 px window.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name


def ask_for_a_link(page: Page, app: AppServer, address: str, path: str = "/") -> None:
    page.goto(app.origin + path)
    page.get_by_label("Email address").fill(address)
    page.get_by_role("button", name="Email me a sign-in link").click()


def heading(page: Page):
    return page.get_by_role("heading", level=1)


def test_a_person_signs_in_end_to_end_and_signs_out(app, page, axe, mailbox):
    page.goto(app.origin + "/")
    expect(heading(page)).to_have_text("Sign in")
    look_at(page, axe, "sign-in")

    ask_for_a_link(page, app, "alice@example.com")
    expect(heading(page)).to_have_text("Check your inbox")
    expect(page.get_by_text("alice@example.com")).to_be_visible()
    look_at(page, axe, "check-inbox-sending")
    check_again_until(page, "We sent an email to")
    look_at(page, axe, "check-inbox")

    page.goto(link_in(mailbox.message_to("alice@example.com")))
    expect(heading(page)).to_have_text("Sign in as alice@example.com")
    assert "sesame" not in page.url
    look_at(page, axe, "confirm")
    page.get_by_role("button", name="Sign in").click()

    expect(heading(page)).to_have_text("Hello, alice@example.com")
    assert page.url == f"{app.origin}/dashboard/"
    look_at(page, axe, "dashboard")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    look_at(page, axe, "signed-out")
    page.goto(app.origin + "/dashboard/")
    expect(heading(page)).to_have_text("Sign in")


def test_the_account_page_lists_this_browser_and_what_happened(app, page, axe, mailbox):
    ask_for_a_link(page, app, "alice@example.com")
    page.goto(link_in(mailbox.message_to("alice@example.com")))
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("link", name="Your account").click()

    expect(heading(page)).to_have_text("Your account")
    expect(page.get_by_text("this browser")).to_be_visible()
    expect(page.get_by_text("Signed in with the emailed link")).to_be_visible()
    look_at(page, axe, "account")


def test_the_sign_in_works_from_the_keyboard_alone(app, page, mailbox):
    page.goto(app.origin + "/")
    page.keyboard.type("keys@example.com")  # the field has focus when the page opens
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Email me a sign-in link"
    page.keyboard.press("Enter")

    expect(heading(page)).to_have_text("Check your inbox")


def test_a_mistyped_address_is_explained_next_to_the_field(app, page, axe, mailbox):
    ask_for_a_link(page, app, "not an address")

    field = page.get_by_label("Email address")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description("Enter an email address like name@example.com.")
    expect(page.get_by_role("alert")).to_have_text("Enter an email address like name@example.com.")
    look_at(page, axe, "sign-in-error")
    assert mailbox.messages == []


def test_sign_in_with_next_lands_where_the_person_was_going(app, page, mailbox):
    User.objects.create_superuser("boss@example.com")

    page.goto(app.origin + "/admin/")
    expect(heading(page)).to_have_text("Sign in")
    page.get_by_label("Email address").fill("boss@example.com")
    page.get_by_role("button", name="Email me a sign-in link").click()
    page.goto(link_in(mailbox.message_to("boss@example.com")))
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_text("Site administration")).to_be_visible()
    assert page.url == f"{app.origin}/admin/"


def test_an_expired_link_says_so_and_sends_a_new_one(app, page, axe, mailbox):
    alice = User.objects.create_user("alice@example.com")
    with time_machine.travel(timezone.now() - timedelta(minutes=11)):
        query = get_query_string(alice, scope=LOGIN_SCOPE)

    page.goto(f"{app.origin}/link/{query}")

    expect(heading(page)).to_have_text("This link has expired")
    assert "sesame" not in page.url
    look_at(page, axe, "link-expired")
    page.get_by_role("button", name="Send a new email").click()
    expect(heading(page)).to_have_text("Check your inbox")
    assert "/link/?sesame=" in link_in(mailbox.message_to("alice@example.com"))


def test_a_used_link_says_so(app, page, axe, mailbox):
    ask_for_a_link(page, app, "alice@example.com")
    link = link_in(mailbox.message_to("alice@example.com"))
    page.goto(link)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").click()

    page.goto(link)

    expect(heading(page)).to_have_text("This link has already been used")
    look_at(page, axe, "link-used")


def test_a_tampered_link_says_it_is_not_valid(app, page, axe, mailbox):
    ask_for_a_link(page, app, "alice@example.com")
    link = link_in(mailbox.message_to("alice@example.com"))

    page.goto(link[:-6] + quote("AAAAAA"))

    expect(heading(page)).to_have_text("This link is not valid")
    look_at(page, axe, "link-invalid")


def test_too_many_requests_say_when_to_try_again(app, page, axe, mailbox):
    for _ in range(4):
        ask_for_a_link(page, app, "alice@example.com")

    expect(heading(page)).to_have_text("Please wait a little")
    expect(page.get_by_text("You can ask for another in")).to_be_visible()
    expect(page.get_by_role("link", name="Type the code")).to_be_visible()
    look_at(page, axe, "rate-limited")


def test_without_redis_the_page_says_to_come_back_shortly(app_without_redis, page, axe):
    page.goto(app_without_redis.origin + "/")

    expect(heading(page)).to_have_text("Sign-in is taking a short break")
    look_at(page, axe, "unavailable")


def check_again_until(page: Page, text: str, timeout: float = 10) -> None:
    """Press "Check again" on check-inbox, as a waiting person would, until the page says `text`."""
    deadline = time.monotonic() + timeout
    while text not in page.content():
        assert time.monotonic() < deadline, f"check-inbox never said {text!r}"
        # Until the new page has loaded: read too early, the old one would be read again, and
        # its "Check again" looked for on a page that no longer has one.
        with page.expect_navigation():
            page.get_by_role("link", name="Check again").click()


def test_without_a_mail_server_the_page_says_the_email_is_still_on_its_way(
    app_without_mail, page, axe
):
    ask_for_a_link(page, app_without_mail, "alice@example.com")

    check_again_until(page, "The mail server has not taken the email yet")
    expect(heading(page)).to_have_text("Check your inbox")
    expect(page.get_by_role("status")).to_contain_text("We keep trying until")
    look_at(page, axe, "email-retrying")


def test_a_mail_server_that_refuses_the_email_is_told_and_try_again_is_offered(
    app, page, axe, mailbox
):
    mailbox.refusals = ["550 5.7.1 Message refused"]
    ask_for_a_link(page, app, "alice@example.com")

    check_again_until(page, "We could not send the email")
    expect(page.get_by_role("button", name="Try again")).to_be_visible()
    look_at(page, axe, "email-failed")

    page.get_by_role("button", name="Try again").click()
    mailbox.message_to("alice@example.com")
    check_again_until(page, "We sent an email to")


def test_an_unknown_address_is_a_friendly_404(app, page, axe):
    response = page.goto(app.origin + "/no-such-page/")

    assert response.status == 404
    expect(heading(page)).to_have_text("We cannot find that page")
    look_at(page, axe, "not-found")


def test_the_500_page_is_friendly_too(app, page, axe):
    # Nothing in the app fails on purpose; render its real 500 template and show it in the app's
    # origin, where its stylesheet loads.
    html = server_error(RequestFactory().get("/")).content.decode()
    page.route(
        app.origin + "/server-error-preview",
        lambda route: route.fulfill(body=html, content_type="text/html"),
    )
    page.goto(app.origin + "/server-error-preview")

    expect(heading(page)).to_have_text("Something went wrong on our side")
    look_at(page, axe, "server-error")


def test_the_email_reads_well_as_html(app, page, axe, mailbox):
    ask_for_a_link(page, app, "alice@example.com")
    message = mailbox.message_to("alice@example.com")
    html = message.get_body(preferencelist=("html",)).get_content()

    # A fresh tab: the app's Content-Security-Policy would block the email's inline styles.
    inbox = page.context.new_page()
    inbox.set_content(html)

    expect(heading(inbox)).to_have_text("Sign in to Latchkey")
    expect(inbox.get_by_role("link", name="Sign in")).to_have_attribute("href", link_in(message))
    if page.viewport_name == "desktop":
        # WCAG rules only: page landmarks mean nothing inside a mail client.
        wcag = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa"]}}
        results = axe.run(inbox, options=wcag)
        assert results.violations_count == 0, results.generate_report()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # No token, even an expired test one, goes into git, and the picture must not change from
    # run to run: the link's text and the code become fixed ones of the same shape.
    inbox.locator("p a").evaluate(
        "a => a.textContent = 'https://signin.example.test/link/?sesame=' + 'x'.repeat(64)"
    )
    inbox.get_by_text(re.compile(r"^\d{3} \d{3}$")).evaluate("p => p.textContent = '123 456'")
    inbox.screenshot(path=SCREENSHOTS / f"email-{page.viewport_name}.png", full_page=True)


ACCOUNT_EMAILS = {
    "new-browser": (
        "emails/new_browser.html",
        {"device": "Mobile Safari 18 on iOS", "network": "203.0.113.0/24"},
    ),
    "passkey-added": (
        "emails/passkey_added.html",
        {"name": "iCloud Keychain", "device": "Safari 18 on macOS", "network": "203.0.113.0/24"},
    ),
    "address-change": ("emails/address_change.html", {"code": "381 604", "minutes": 10}),
    "address-changed": (
        "emails/address_changed.html",
        {
            "new_address": "alice@example.org",
            "undo_link": "https://signin.example.test/account/email/undo/?change=x",
            "undo_days": 7,
        },
    ),
    "address-taken": ("emails/address_taken.html", {}),
    "account-deleted": ("emails/account_deleted.html", {}),
}


@pytest.mark.parametrize("name", ACCOUNT_EMAILS)
def test_each_account_email_reads_well_as_html(page, axe, name):
    template, context = ACCOUNT_EMAILS[name]
    html = render_to_string(
        template,
        {
            "site_name": "Latchkey",
            "site_host": "signin.example.test",
            "address": "alice@example.com",
            "account_url": "https://signin.example.test/account/",
            "link": "https://signin.example.test/account/email/confirm/",
            "when": datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
            **context,
        },
    )
    inbox = page.context.new_page()
    inbox.set_content(html)

    expect(heading(inbox)).to_be_visible()
    if page.viewport_name == "desktop":
        wcag = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa"]}}
        results = axe.run(inbox, options=wcag)
        assert results.violations_count == 0, results.generate_report()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    inbox.screenshot(path=SCREENSHOTS / f"email-{name}-{page.viewport_name}.png", full_page=True)


def code_in(message) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"^\s+(\d{3} \d{3})\s*$", text, re.MULTILINE).group(1)


def test_asked_on_the_laptop_read_on_the_phone_signed_in_on_the_laptop(app, page, axe, mailbox):
    laptop = page
    phone = laptop.context.browser.new_context(ignore_https_errors=True, **PHONE).new_page()
    ask_for_a_link(laptop, app, "alice@example.com")
    expect(heading(laptop)).to_have_text("Check your inbox")
    look_at(laptop, axe, "check-inbox-code")
    message = mailbox.message_to("alice@example.com")

    phone.goto(link_in(message))  # the mail app opens the link on the phone
    expect(phone.get_by_text("type the code from the email there")).to_be_visible()
    laptop.get_by_label("Code from the email").fill(code_in(message))
    laptop.get_by_role("button", name="Sign in").click()

    expect(heading(laptop)).to_have_text("Hello, alice@example.com")
    phone.goto(app.origin + "/dashboard/")
    expect(heading(phone)).to_have_text("Sign in")
    phone.context.close()


def test_a_wrong_code_is_explained_next_to_the_field(app, page, axe, mailbox):
    ask_for_a_link(page, app, "alice@example.com")
    code = code_in(mailbox.message_to("alice@example.com"))

    page.get_by_label("Code from the email").fill("000 000" if code != "000 000" else "111 111")
    page.get_by_role("button", name="Sign in").click()

    field = page.get_by_label("Code from the email")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert")).to_contain_text("4 tries left")
    assert page.title().startswith("Error:")
    look_at(page, axe, "code-wrong")


def test_after_the_last_wrong_try_only_a_new_email_is_offered(app, page, axe, mailbox):
    address = f"spent-{page.viewport_name}@example.com"
    ask_for_a_link(page, app, address)
    code = code_in(mailbox.message_to(address))
    for _ in range(5):
        page.get_by_label("Code from the email").fill("000 000" if code != "000 000" else "111 111")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_be_visible()

    expect(page.get_by_role("alert")).to_contain_text("Too many wrong codes")
    expect(page.get_by_label("Code from the email")).to_have_count(0)
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)
    expect(page.get_by_role("button", name="Send a new email")).to_be_visible()
    look_at(page, axe, "code-spent")


def test_a_likely_typo_is_questioned(app, page, axe, mailbox):
    ask_for_a_link(page, app, "alice@gmial.com")

    expect(page.get_by_text("Did you mean alice@gmail.com?")).to_be_visible()
    look_at(page, axe, "did-you-mean")
    page.get_by_role("button", name="No, use alice@gmial.com").click()
    expect(heading(page)).to_have_text("Check your inbox")


def test_a_signed_in_person_without_staff_status_sees_why_the_admin_is_closed(
    app, page, axe, mailbox
):
    ask_for_a_link(page, app, "alice@example.com")
    page.goto(link_in(mailbox.message_to("alice@example.com")))
    page.get_by_role("button", name="Sign in").click()

    page.goto(app.origin + "/admin/")

    expect(heading(page)).to_have_text("This account cannot open the admin")
    look_at(page, axe, "not-staff")


def contrast(first: str, second: str) -> float:
    """WCAG contrast ratio of two computed CSS colours, "rgb(r, g, b)"."""

    def luminance(css: str) -> float:
        channels = [int(v) / 255 for v in re.findall(r"\d+", css)[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def style(page: Page, selector: str, name: str) -> str:
    return page.eval_on_selector(selector, f"e => getComputedStyle(e).{name}")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_field_edges_and_focus_rings_stand_out_at_least_3_to_1(app, page, mailbox, theme):
    # WCAG 1.4.11. axe does not check non-text contrast, so Chromium's computed styles do.
    page.emulate_media(color_scheme=theme)
    page.goto(app.origin + "/")
    card = style(page, "main", "backgroundColor")
    field = "input[type=email]"

    assert contrast(style(page, field, "borderTopColor"), card) >= 3
    page.keyboard.press("Tab")  # keyboard focus moves to the button, whose ring shows
    page.keyboard.press("Shift+Tab")  # and back to the field
    assert page.evaluate("document.activeElement.type") == "email"
    assert contrast(style(page, field, "outlineColor"), card) >= 3

    page.get_by_role("button", name="Email me a sign-in link").click()  # empty: an error
    page.get_by_label("Email address").focus()
    danger = style(page, ".errors", "color")
    assert style(page, field, "borderTopColor") == danger  # still red while focused
    assert page.title().startswith("Error:")


# --- Passkeys ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def passkey_app(django_db_setup, certificate):
    """WebAuthn needs a host name: a browser refuses an IP address as the relying party."""
    port = free_port()
    origin = f"https://localhost:{port}"
    # Its own database, so its own mail queue: its worker writes links to its own origin.
    # Nothing empties it between tests: each test signs in with addresses of its own.
    database = database_of_its_own("passkeys")
    app = our_app(
        port=port,
        tls=certificate,
        SITE_URL=origin,
        ALLOWED_HOSTS="localhost",
        DATABASE_URL=database,
        STAFF_REQUIRE_PASSKEY="1",
    )
    app.site = origin
    yield app
    app.stop()


def add_authenticator(page: Page, **options) -> tuple:
    """Chromium's virtual authenticator, as a phone's or laptop's: it keeps discoverable
    passkeys and verifies the person (fingerprint, face or screen lock) every time."""
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    added = devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
                **options,
            }
        },
    )
    return devtools, added["authenticatorId"]


def sign_in_by_email(page: Page, origin: str, mailbox, address: str) -> None:
    page.goto(origin + "/")
    page.get_by_label("Email address").fill(address)
    page.get_by_role("button", name="Email me a sign-in link").click()
    page.goto(link_in(mailbox.message_to(address)))
    page.get_by_role("button", name="Sign in").click()
    expect(heading(page)).to_have_text(f"Hello, {address}")


def without_passkey_autofill(page: Page) -> None:
    """A browser with passkeys but no autofill for them: only the button offers them.

    Chromium's virtual authenticator answers an autofill request at once, as if the person had
    picked the passkey; these tests need the page to stay put until the button is pressed."""
    page.add_init_script(
        "Object.defineProperty(PublicKeyCredential, 'isConditionalMediationAvailable',"
        " {value: undefined})"
    )


def add_a_passkey(page: Page, origin: str, mailbox, address: str) -> None:
    sign_in_by_email(page, origin, mailbox, address)
    page.get_by_role("button", name="Add a passkey").click()
    expect(heading(page)).to_have_text("Your account")
    expect(page.get_by_role("status").first).to_contain_text("Passkey added")
    # The account is told by email; a test that clears the mailbox next must not race it.
    mailbox.message_to(address, subject="A passkey was added")


def sign_out(page: Page, origin: str) -> None:
    page.goto(origin + "/dashboard/")
    page.get_by_role("button", name="Sign out").click()


def test_a_passkey_added_after_an_email_sign_in_signs_in_alone(passkey_app, page, axe, mailbox):
    origin = passkey_app.site
    without_passkey_autofill(page)
    devtools, authenticator = add_authenticator(page)
    sign_in_by_email(page, origin, mailbox, f"pat-{page.viewport_name}@example.com")
    look_at(page, axe, "dashboard-passkey-offer")

    page.get_by_role("button", name="Add a passkey").click()

    expect(heading(page)).to_have_text("Your account")
    expect(page.get_by_role("status").first).to_contain_text("Passkey added")
    look_at(page, axe, "account-passkeys")
    stored = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(stored["credentials"]) == 1 and stored["credentials"][0]["isResidentCredential"]

    sign_out(page, origin)
    look_at(page, axe, "sign-in-passkey")
    page.get_by_role("button", name="Sign in with a passkey").click()

    expect(heading(page)).to_have_text(f"Hello, pat-{page.viewport_name}@example.com")
    assert page.url == f"{origin}/dashboard/"
    expect(page.get_by_role("button", name="Add a passkey")).to_have_count(0)


def test_the_email_field_offers_the_passkey_as_autofill(passkey_app, page, mailbox):
    origin = passkey_app.site
    add_authenticator(page)
    add_a_passkey(page, origin, mailbox, f"sam-{page.viewport_name}@example.com")

    # Back on the sign-in page, the field asks for passkeys among its suggestions, and the
    # virtual authenticator picks this one the moment it is offered.
    sign_out(page, origin)

    expect(heading(page)).to_have_text(f"Hello, sam-{page.viewport_name}@example.com")
    assert page.url == f"{origin}/dashboard/"


def test_autofill_left_open_past_its_challenge_is_renewed_when_the_person_returns(
    passkey_app, page
):
    add_authenticator(page)  # no passkey for this site on it yet: the autofill request waits
    asked = []
    page.on("request", lambda r: asked.append(r) if "/passkeys/sign-in/options/" in r.url else 0)
    page.clock.install()
    with page.expect_request("**/passkeys/sign-in/options/"):
        page.goto(passkey_app.site + "/")
    field = page.get_by_label("Email address")
    field.evaluate("field => field.blur()")
    field.focus()  # at once: its challenge still counts, nothing is asked again

    # The server keeps a challenge five minutes; the page has been open for more than four.
    page.clock.fast_forward("04:01")
    field.evaluate("field => field.blur()")
    with page.expect_request("**/passkeys/sign-in/options/", timeout=5_000):
        field.focus()

    assert len(asked) == 2


def test_a_passkey_removed_elsewhere_is_refused_then_forgotten(passkey_app, page, axe, mailbox):
    origin = passkey_app.site
    address = f"kim-{page.viewport_name}@example.com"
    without_passkey_autofill(page)
    devtools, authenticator = add_authenticator(page)
    add_a_passkey(page, origin, mailbox, address)
    sign_out(page, origin)

    # On another device, signed in by email, the person removes it.
    mailbox.clear()
    other = page.context.browser.new_context(ignore_https_errors=True).new_page()
    sign_in_by_email(other, origin, mailbox, address)
    other.goto(origin + "/account/")
    other.get_by_role("button", name="Remove").click()
    expect(other.get_by_role("status").first).to_contain_text("Passkey removed")
    other.context.close()

    page.get_by_role("button", name="Sign in with a passkey").click()

    expect(page.get_by_role("alert")).to_contain_text("This passkey is not known here")
    look_at(page, axe, "sign-in-passkey-removed")
    expect(heading(page)).to_have_text("Sign in")

    # And this browser is asked to forget it (WebAuthn's Signal API), so it stops offering it.
    def forgotten() -> bool:
        held = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
        return held["credentials"] == []

    eventually(forgotten, 5, "the browser forgot the removed passkey")


def test_staff_must_sign_in_with_a_passkey_to_open_the_admin(passkey_app, page, axe, mailbox):
    origin = passkey_app.site
    address = f"boss-{page.viewport_name}@example.com"
    subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput", "--email", address],
        cwd=ROOT,
        env=passkey_app._environment(),
        check=True,
        capture_output=True,
    )
    without_passkey_autofill(page)
    add_authenticator(page)
    sign_in_by_email(page, origin, mailbox, address)

    page.goto(origin + "/admin/")
    expect(heading(page)).to_have_text("The admin needs a passkey")
    look_at(page, axe, "admin-needs-passkey")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("status").first).to_contain_text("Passkey added")

    page.goto(origin + "/admin/")
    page.get_by_role("button", name="Sign out, to sign in with a passkey").click()
    page.get_by_role("button", name="Sign in with a passkey").click()

    expect(page).to_have_url(f"{origin}/admin/")
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()


def test_without_javascript_nothing_about_passkeys_shows(app, chromium, mailbox):
    context = chromium.new_context(ignore_https_errors=True, java_script_enabled=False)
    page = context.new_page()
    ask_for_a_link(page, app, "alice@example.com")
    page.goto(link_in(mailbox.message_to("alice@example.com")))
    page.get_by_role("button", name="Sign in").click()
    expect(heading(page)).to_have_text("Hello, alice@example.com")
    expect(page.get_by_role("button", name="Add a passkey")).to_have_count(0)

    page.goto(app.origin + "/account/")
    expect(page.get_by_role("heading", name="Passkeys")).to_have_count(0)
    page.context.clear_cookies()  # signed out
    page.goto(app.origin + "/")
    expect(page.get_by_role("button", name="Email me a sign-in link")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in with a passkey")).to_have_count(0)
    context.close()


@pytest.mark.parametrize("page", ["desktop"], indirect=True)
def test_the_account_page_tells_the_browser_which_passkeys_still_count(passkey_app, page, mailbox):
    origin = passkey_app.site
    address = "lee@example.com"
    laptop_devtools, laptop_authenticator = add_authenticator(page)
    add_a_passkey(page, origin, mailbox, address)

    # On the phone, signed in by email, the person adds a passkey there and removes the laptop's.
    mailbox.clear()
    phone = page.context.browser.new_context(ignore_https_errors=True).new_page()
    add_authenticator(phone)
    sign_in_by_email(phone, origin, mailbox, address)
    phone.goto(origin + "/account/")
    phone.get_by_role("button", name="Add a passkey").click()
    expect(phone.get_by_role("status").first).to_contain_text("Passkey added")
    phone.get_by_role("button", name="Remove").first.click()  # the older one: the laptop's
    expect(phone.get_by_role("status").first).to_contain_text("Passkey removed")
    phone.context.close()

    # Back on the laptop, /account/ lists what still counts; the laptop drops its own passkey.
    page.goto(origin + "/account/")

    def dropped() -> bool:
        held = laptop_devtools.send(
            "WebAuthn.getCredentials", {"authenticatorId": laptop_authenticator}
        )
        return held["credentials"] == []

    eventually(dropped, 5, "the laptop dropped the passkey removed on the phone")


def test_a_new_address_proven_by_its_link_and_the_old_one_undoing_it(app, page, axe, mailbox):
    old, new = f"ada-{page.viewport_name}@example.com", f"ada-{page.viewport_name}@example.org"
    ask_for_a_link(page, app, old)
    page.goto(link_in(mailbox.message_to(old)))
    page.get_by_role("button", name="Sign in").click()
    page.goto(app.origin + "/account/email/")
    page.get_by_label("New email address").fill(new)
    page.get_by_role("button", name="Send the link and code").click()

    page.goto(link_in(mailbox.message_to(new)))
    expect(heading(page)).to_have_text(f"Change your address to {new}")
    assert "change=" not in page.url
    look_at(page, axe, "address-change-link")
    page.get_by_role("button", name="Change my address").click()
    expect(page.get_by_role("status")).to_contain_text(f"Your address is now {new}.")

    notice = mailbox.message_to(old, subject="was changed")
    undo = re.search(
        r"https://\S+/account/email/undo/\S+", notice.get_body(("plain",)).get_content()
    )
    page.goto(undo.group(0))
    expect(heading(page)).to_have_text("Undo the change of address")
    assert "change=" not in page.url
    look_at(page, axe, "address-change-undo")
    page.get_by_role("button", name="Undo the change").click()
    expect(heading(page)).to_have_text("Your address is back")
    look_at(page, axe, "address-change-undone")
    page.goto(app.origin + "/dashboard/")
    expect(heading(page)).to_have_text("Sign in")  # every browser was signed out


def test_a_person_signs_out_elsewhere_deletes_the_account_and_restores_it(app, page, axe, mailbox):
    address = f"del-{page.viewport_name}@example.com"
    other = page.context.browser.new_context(ignore_https_errors=True).new_page()
    sign_in_by_email(other, app.origin, mailbox, address)
    mailbox.clear()
    sign_in_by_email(page, app.origin, mailbox, address)

    page.goto(app.origin + "/account/")
    page.get_by_role("button", name="Sign out everywhere else").click()
    expect(page.get_by_role("status")).to_contain_text("Signed out 1 other browser.")
    other.goto(app.origin + "/dashboard/")
    expect(heading(other)).to_have_text("Sign in")
    other.context.close()

    page.goto(app.origin + "/account/delete/")
    look_at(page, axe, "delete-account")
    page.get_by_label("Type your email address to confirm").fill(address)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("status")).to_contain_text("Your account is closed")
    expect(heading(page)).to_have_text("Sign in")
    farewell = mailbox.message_to(address, subject="was deleted")

    page.goto(link_in(farewell))  # the restore link: its token leaves the address bar first
    expect(heading(page)).to_have_text("Restore your account")
    assert "restore=" not in page.url
    look_at(page, axe, "restore-account")
    page.get_by_role("button", name="Restore the account").click()
    expect(heading(page)).to_have_text("Your account is back")
    look_at(page, axe, "account-restored")


@pytest.fixture(scope="module")
def crowded_app(django_db_setup, certificate):
    """An office's network with one email's allowance: the next person meets the proof. A
    database of its own: apps on one database share one mail queue, and its worker would mail
    the other app's links with its own SITE_URL."""
    database = database_of_its_own("crowded")
    yield from https_app(certificate, DATABASE_URL=database, RATE_LIMIT_PER_IP="1/15m")


def widget_state(page: Page) -> str:
    return page.evaluate("document.querySelector('altcha-widget')?.getState?.() ?? ''")


def test_past_the_networks_allowance_the_browser_proves_some_work_and_the_email_goes(
    crowded_app, page, axe, mailbox
):
    # A phone's CPU, as Chromium's DevTools emulate it: four times slower.
    page.context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": 4})
    for n in range(2):  # the network's one email may have gone to an earlier test already
        address = f"office{n}-{page.viewport_name}@example.com"
        ask_for_a_link(page, crowded_app, address)
        if heading(page).inner_text() == "One more step":
            break
    expect(heading(page)).to_have_text("One more step")
    expect(page.get_by_label("Email address")).to_have_value(address)
    solved_in = eventually(lambda: widget_state(page) == "verified", 30, "the proof solved")
    expect(page.get_by_role("status")).to_have_text("Done. You can send the email now.")
    expect(page.get_by_role("button", name="Email me a sign-in link")).to_be_enabled()
    look_at(page, axe, "prove")
    page.get_by_role("button", name="Email me a sign-in link").click()

    expect(heading(page)).to_have_text("Check your inbox")
    assert mailbox.message_to(address)
    assert widget_state(page) == ""  # a new page: the proof went with the form
    print(f"proof of work solved in {solved_in:.2f} s at 4x CPU throttling ({page.viewport_name})")


# --- The person's own language and time, and the rough edges of #15 -----------------------------


@pytest.fixture(scope="module")
def app_with_short_links(django_db_setup, certificate):
    # Links and codes that expire in two seconds: the expired page, reached without a clock
    # trick on the server.
    # A database of its own: its worker must not send the other app's mail with these settings.
    database = database_of_its_own("short_links")
    yield from https_app(certificate, DATABASE_URL=database, LOGIN_LINK_MAX_AGE="2")


def test_after_the_deadline_only_a_new_email_is_offered(app_with_short_links, page, axe, mailbox):
    app = app_with_short_links
    address = f"late-{page.viewport_name}@example.com"
    ask_for_a_link(page, app, address)
    mailbox.message_to(address)

    def expired() -> bool:
        page.reload()
        return heading(page).text_content() == "Your code and link have expired"

    eventually(expired, timeout=10, what="the expired page")
    expect(page.get_by_label("Code from the email")).to_have_count(0)
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)
    expect(page.get_by_role("button", name="Send a new email")).to_be_visible()
    look_at(page, axe, "check-inbox-expired")


def test_a_resend_too_soon_counts_down_to_when_it_works(app, page, axe, mailbox):
    page.clock.install()  # the page's own clock, so the countdown can be fast-forwarded
    address = f"soon-{page.viewport_name}@example.com"
    ask_for_a_link(page, app, address)
    mailbox.message_to(address)
    expect(page.get_by_label("Code from the email")).to_be_focused()

    page.get_by_role("button", name="Send a new email").click()

    expect(page.get_by_text("We sent an email moments ago")).to_be_visible()
    waiting = page.locator("#resend-wait")
    expect(waiting).to_contain_text(re.compile(r"You can send a new email in \d+ s\."))
    first = int(waiting.locator("[data-seconds]").text_content())
    assert 0 < first <= 30
    look_at(page, axe, "check-inbox-resend-wait")
    page.clock.fast_forward(2000)
    expect(waiting.locator("[data-seconds]")).not_to_have_text(str(first))
    page.clock.fast_forward(31_000)
    # Said once, by a polite live region: the ticking seconds are not read out.
    expect(page.locator("#resend-wait [aria-live]")).to_have_text("You can send a new email now.")
    look_at(page, axe, "check-inbox-resend-ready")


def test_a_browser_signed_out_from_another_is_named_and_told(app, page, axe, mailbox, chromium):
    other = chromium.new_context(ignore_https_errors=True).new_page()
    for browser in (other, page):
        ask_for_a_link(browser, app, "alice@example.com")
        browser.goto(link_in(mailbox.message_to("alice@example.com")))
        browser.get_by_role("button", name="Sign in").click()
        mailbox.clear()

    page.goto(app.origin + "/account/")
    rows = page.locator(".browsers li")
    expect(rows.first).to_contain_text("this browser")  # this one first, though not the newest
    sign_outs = page.get_by_role("button", name=re.compile(r"^Sign out: HeadlessChrome"))
    expect(sign_outs).to_have_count(1)
    name = sign_outs.get_attribute("aria-label")
    assert name.endswith("on Linux (2)")  # both are "HeadlessChrome … on Linux": told apart
    look_at(page, axe, "account-two-browsers")

    sign_outs.click()
    expect(page.get_by_role("status")).to_contain_text("on Linux is signed out.")
    other.goto(app.origin + "/account/")
    expect(other.get_by_role("status")).to_contain_text(
        "This browser was signed out from another browser signed in to your account."
    )
    other.context.close()


GERMAN_WORDS = ("Sign in", "Email address", "Check your inbox")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_german_reader_in_berlin_signs_in_in_german_and_local_time(
    app, chromium, axe, mailbox, viewport
):
    options = PHONE if viewport == "phone" else {"viewport": VIEWPORTS[viewport]}
    context = chromium.new_context(
        ignore_https_errors=True,
        locale="de-DE",
        timezone_id="Europe/Berlin",
        reduced_motion="reduce",  # no colour transition caught halfway as the theme switches
        **options,
    )
    page = context.new_page()
    page.viewport_name, page.problems = viewport, []
    page.on("pageerror", lambda error: page.problems.append(str(error)))

    with translation.override("de"):
        german = {text: translation.gettext(text) for text in GERMAN_WORDS}
    page.goto(app.origin + "/")
    expect(heading(page)).to_have_text(german["Sign in"])
    expect(page.locator("html")).to_have_attribute("lang", "de")
    look_at(page, axe, "sign-in-de")
    page.get_by_label(german["Email address"]).fill("berlin@example.com")
    page.locator("form").first.get_by_role("button").click()

    expect(heading(page)).to_have_text(german["Check your inbox"])
    until = page.locator("time").first
    instant = datetime.fromisoformat(until.get_attribute("datetime"))
    expect(until).to_have_text(instant.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M"))
    look_at(page, axe, "check-inbox-de")
    message = mailbox.message_to("berlin@example.com")
    assert message["Content-Language"] == "de"

    expect(page.get_by_role("button", name="Deutsch")).to_have_count(0)  # the current one
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(heading(page)).to_have_text("Check your inbox")
    context.close()

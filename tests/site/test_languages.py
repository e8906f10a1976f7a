"""The site in the reader's language: complete catalogues, no English left unmarked, emails too.

The unmarked-string check is a pseudo-locale run: a catalogue made from our own marked strings,
every letter turned into its full-width twin ("Ｓｉｇｎ ｉｎ"), served as language "xx". A page or
email read in it that still shows a plain ASCII word shows English no translator was ever given.
"""

import gettext
import html
import os
import re
import shutil
import subprocess
from datetime import timedelta
from email.utils import parseaddr
from html.parser import HTMLParser
from http import HTTPStatus
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.template.loader import render_to_string
from django.utils import timezone, translation

from accounts.mail.send import _written
from accounts.models import User
from harness.servers import ROOT
from tests.helpers import code_in, link_in, path_of

LOCALE = ROOT / "locale"
SHIPPED = ["de", "fr", "es"]
PSEUDO = "xx"
PSEUDO_SITE_NAME = "Ｌａｔｃｈｋｅｙ"


def msgfmt_statistics(po: Path) -> str:
    done = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(po)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stderr.strip()


# --- The catalogues -----------------------------------------------------------------------------


@pytest.mark.parametrize("language", SHIPPED)
def test_a_shipped_catalogue_has_no_untranslated_or_fuzzy_entry(language):
    statistics = msgfmt_statistics(LOCALE / language / "LC_MESSAGES" / "django.po")

    assert re.fullmatch(r"\d+ translated messages\.", statistics), statistics


@pytest.mark.parametrize("language", SHIPPED)
def test_the_compiled_catalogue_is_the_one_its_translators_wrote(language, tmp_path):
    folder = LOCALE / language / "LC_MESSAGES"
    subprocess.run(["msgfmt", "-o", tmp_path / "new.mo", folder / "django.po"], check=True)

    def catalogue(mo: Path) -> dict:
        with mo.open("rb") as file:
            return gettext.GNUTranslations(file)._catalog

    assert catalogue(folder / "django.mo") == catalogue(tmp_path / "new.mo"), (
        "locale/ is out of date: run scripts/messages"
    )


@pytest.fixture(scope="module")
def remade(tmp_path_factory) -> Path:
    """A copy of the code with its catalogues remade by scripts/messages, as a developer would."""
    copy = tmp_path_factory.mktemp("remade")
    for name in ("accounts", "config", "templates", "locale", "scripts"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", copy)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    subprocess.run(["bash", "scripts/messages"], cwd=copy, check=True, capture_output=True)
    return copy


def entries(po: Path) -> str:
    # Everything but the header's creation date, which each run stamps anew.
    return re.sub(r'"POT-Creation-Date: [^"]*"\n', "", po.read_text())


@pytest.mark.parametrize("language", SHIPPED)
def test_every_marked_string_is_in_the_catalogue(language, remade):
    po = Path("locale") / language / "LC_MESSAGES" / "django.po"

    assert entries(remade / po) == entries(ROOT / po), (
        f"{po} is not what scripts/messages makes of the marked strings: run it, translate "
        "what it leaves empty or fuzzy"
    )


# --- The pseudo-locale run ----------------------------------------------------------------------

# A placeholder, a tag, an entity or an escape: copied as it is. Anything else: every letter wide.
KEEP = re.compile(r"%\([^)]*\)[sd]|%[sd]|<[^>]*>|&[a-z]+;|\\.")


def wide(text: str) -> str:
    out, at = [], 0
    for kept in KEEP.finditer(text):
        out.append(_widen(text[at : kept.start()]))
        out.append(kept.group(0))
        at = kept.end()
    out.append(_widen(text[at:]))
    return "".join(out)


def _widen(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalpha() else c for c in text)


@pytest.fixture(scope="module")
def pseudo_locale(tmp_path_factory) -> Path:
    """Our marked strings as language "xx": made by makemessages in a copy, filled by msgen,
    widened here, compiled by msgfmt."""
    copy = tmp_path_factory.mktemp("pseudo")
    for name in ("accounts", "config", "templates"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", copy)
    (copy / "locale").mkdir()
    env = os.environ | {"DEBUG": "1", "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", "makemessages", "-l", PSEUDO, "--no-wrap"],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
    )
    po = copy / "locale" / PSEUDO / "LC_MESSAGES" / "django.po"
    filled = subprocess.run(["msgen", str(po)], capture_output=True, text=True, check=True).stdout
    header, _, body = filled.partition("\n\n")
    header = header.replace("nplurals=INTEGER; plural=EXPRESSION;", "nplurals=2; plural=(n != 1);")
    text = header + "\n\n" + "\n".join(widened(body.splitlines()))
    po.write_text(text + "\n")
    subprocess.run(["msgfmt", "-o", po.with_suffix(".mo"), po], check=True)
    return copy / "locale"


def widened(lines: list[str]):
    """Each msgstr's quoted text widened: its first line and the quoted lines that follow."""
    in_msgstr = False
    for line in lines:
        if line.startswith("msgstr"):
            in_msgstr = True
            head, _, quoted = line.partition(' "')
            yield f'{head} "{wide(quoted[:-1])}"'
        elif in_msgstr and line.startswith('"'):
            yield f'"{wide(line[1:-1])}"'
        else:
            in_msgstr = False
            yield line


@pytest.fixture
def pseudo(settings, pseudo_locale):
    settings.LANGUAGES = [*django_settings.LANGUAGES, (PSEUDO, _widen("Pseudo"))]
    settings.LOCALE_PATHS = [pseudo_locale, *django_settings.LOCALE_PATHS]
    # Dates in digits only, so a month's English name is not taken for ours.
    settings.DATE_FORMAT, settings.TIME_FORMAT = "Y-m-d", "H:i"
    settings.DATETIME_FORMAT = "Y-m-d H:i"
    settings.SITE_NAME = PSEUDO_SITE_NAME
    return PSEUDO


class VisibleText(HTMLParser):
    """What a reader sees or hears: text nodes and the attributes read aloud, leaving out
    scripts, styles and what is marked as another language (the chooser's language names)."""

    READ_ALOUD = ("aria-label", "title", "placeholder", "alt")

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.skipping: list[str] = []
        self.language: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "html":
            self.language = attributes.get("lang")
            return
        if self.skipping or tag in {"script", "style"} or attributes.get("lang", PSEUDO) != PSEUDO:
            if tag not in {"input", "meta", "link", "br", "img"}:
                self.skipping.append(tag)
            return
        self.texts += [attributes[name] for name in self.READ_ALOUD if attributes.get(name)]
        if tag == "input" and attributes.get("type") in {"submit", "button"}:
            self.texts.append(attributes.get("value") or "")

    def handle_endtag(self, tag):
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data):
        if not self.skipping:
            self.texts.append(data)


# Data, not words of ours: addresses, links, a zone's name, the digits of a code or a time.
DATA = re.compile(r"\S+@\S+|https?://\S+|\bUTC\b|\b[A-Z]{3,4}\b(?=\s*$)")


def english_in(texts: list[str]) -> list[str]:
    left = []
    for text in texts:
        text = DATA.sub("", html.unescape(text)).replace(PSEUDO_SITE_NAME, "")
        # The sender's name, as the mail client will show it: what DEFAULT_FROM_EMAIL says.
        text = text.replace(parseaddr(django_settings.DEFAULT_FROM_EMAIL)[0], "")
        if re.search(r"[A-Za-z]{2,}", text):
            left.append(text.strip())
    return left


def read(html_text: str) -> VisibleText:
    """The visible text of a page or email, which must be in the pseudo-locale: said so by its
    <html lang>, and with words of ours in it (a run in English would find no English)."""
    reader = VisibleText()
    reader.feed(html_text)
    assert reader.language == PSEUDO, reader.language
    assert any(re.search("[Ａ-Ｚａ-ｚ]{2}", text) for text in reader.texts), reader.texts
    return reader


def english_on(response) -> list[str]:
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    return english_in(read(response.content.decode()).texts)


def test_no_page_shows_english_nobody_can_translate(pseudo, mailbox, alice):
    from django.test import Client

    browser = Client(headers={"X-Forwarded-Proto": "https", "Accept-Language": pseudo})
    seen = {}

    def read(name: str, response) -> None:
        seen[name] = english_on(response)

    read("sign-in", browser.get("/"))
    read("sign-in, empty", browser.post("/", {"email": ""}))
    read("sign-in, not an address", browser.post("/", {"email": "alice@"}))
    read("did you mean", browser.post("/", {"email": "alice@gmial.com"}))
    browser.post("/", {"email": "alice@example.com"})
    message = mailbox.message_to("alice@example.com")
    read("check inbox", browser.get("/check-inbox/"))
    read("a wrong code", browser.post("/check-inbox/", {"code": "000000"}))
    link = link_in(message)
    browser.get(path_of(link))
    read("confirm", browser.get("/link/"))
    read("link problem", browser.post("/link/", {"sesame": "nonsense"}))
    assert browser.post("/check-inbox/", {"code": code_in(message)}).status_code == HTTPStatus.FOUND
    read("dashboard", browser.get("/dashboard/"))
    read("account", browser.get("/account/"))
    read("change address", browser.get("/account/email/"))
    read("delete account", browser.get("/account/delete/"))
    read("404", browser.get("/no-such-page/"))

    assert {page: words for page, words in seen.items() if words} == {}


def email_context() -> dict:
    now = timezone.now()
    return {
        "address": "alice@example.com",
        "new_address": "alice@example.org",
        "code": "123 456",
        "link": "https://example.com/link/?sesame=x",
        "undo_link": "https://example.com/u",
        "restore_link": "https://example.com/r",
        "refuse_link": "https://example.com/n",
        "account_url": "https://example.com/account/",
        "when": now - timedelta(minutes=3),
        "minutes": 10,
        "days": 7,
        "undo_days": 7,
        "device": _widen("Firefox on Linux"),
        "network": "192.0.2.0",
        "name": _widen("Laptop"),
    }


EMAILS = sorted(
    path.name.removesuffix("_subject.txt")
    for path in (ROOT / "templates/emails").glob("*_subject.txt")
)


@pytest.mark.parametrize("name", EMAILS)
def test_no_email_says_english_nobody_can_translate(name, pseudo):
    message = _written(f"emails/{name}", "alice@example.com", email_context(), pseudo, "")
    reader = read(message.alternatives[0].content)

    assert message.extra_headers["Content-Language"] == pseudo
    assert re.search("[Ａ-Ｚａ-ｚ]{2}", message.subject) and re.search(
        "[Ａ-Ｚａ-ｚ]{2}", message.body
    )
    assert english_in([message.subject, message.body]) == []
    assert english_in(reader.texts) == []


# --- Each language, end to end ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["fr", "es"])
def test_a_browser_in_another_language_gets_its_pages_and_its_email(language, mailbox, alice):
    from django.test import Client

    browser = Client(
        headers={"X-Forwarded-Proto": "https", "Accept-Language": f"{language},en;q=0.5"}
    )

    sign_in_page = browser.get("/")
    assert f'<html lang="{language}" dir="ltr">' in sign_in_page.content.decode()
    browser.post("/", {"email": "alice@example.com"})
    message = mailbox.message_to("alice@example.com")
    with translation.override("en"):
        english = render_to_string(
            "emails/login_link_subject.txt",
            {"code": code_in(message), "site_name": django_settings.SITE_NAME},
        ).strip()
    with translation.override(language):
        subject = render_to_string(
            "emails/login_link_subject.txt",
            {"code": code_in(message), "site_name": django_settings.SITE_NAME},
        ).strip()
        asked = translation.gettext("Check your inbox")

    assert message["Content-Language"] == language
    assert message["Subject"] == subject != english  # translated, by our catalogue
    assert asked != "Check your inbox"
    assert asked in browser.get("/check-inbox/").content.decode()


def signed_in(mailbox, language: str, browser=None):
    """A browser (this one, or a new one) that asked in `language` and typed the code."""
    from tests.helpers import behind_the_proxy

    browser = browser or behind_the_proxy()
    browser.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    mailbox.clear()
    browser.post("/", {"email": "alice@example.com"})
    code = code_in(mailbox.message_to("alice@example.com"))
    assert browser.post("/check-inbox/", {"code": code})["Location"] == "/dashboard/"
    return browser


@pytest.mark.django_db
def test_one_phished_code_cannot_choose_the_words_the_owner_is_warned_in(mailbox, alice):
    signed_in(mailbox, "en")  # the owner's first sign-in: the account's language
    mailbox.clear()

    intruder = signed_in(mailbox, "es")
    notice = mailbox.message_to("alice@example.com", subject="A new sign-in")
    intruder.post("/language/", {"language": "de", "next": "/account/"})

    alice.refresh_from_db()
    assert alice.language == "en"
    assert notice["Content-Language"] == "en"
    assert '<html lang="de"' in intruder.get("/account/").content.decode()  # its own pages


@pytest.mark.django_db
def test_a_browser_known_beyond_the_undo_week_may_change_the_accounts_language(mailbox, alice):
    laptop = signed_in(mailbox, "de")
    alice.refresh_from_db()
    assert alice.language == "de"  # the first sign-in's

    with time_machine.travel(timezone.now() + timedelta(days=8)):
        signed_in(mailbox, "fr", browser=laptop)
        alice.refresh_from_db()
        assert alice.language == "fr"
        chosen = laptop.post("/language/", {"language": "es", "next": "/account/"})
        alice.refresh_from_db()

    assert chosen["Location"] == "/account/"
    assert alice.language == "es"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("posted", "lands"),
    [
        ({"language": "fr", "next": "https://evil.example/"}, "/"),
        ({"language": "fr", "next": "/link/?sesame=x"}, "/link/"),  # the page, not the token
        ({"language": "fr", "next": "/?next=/account/"}, "/?next=%2Faccount%2F"),
        ({"language": "fr", "next": "/?next=//evil.example/"}, "/"),
        ({"language": "fr", "next": "/?next=/link/?sesame=x"}, "/"),
        # Back to a page that spends a link when posted: by GET it spends nothing.
        ({"language": "fr", "next": "/link/"}, "/link/"),
        ({"language": "fr", "next": "/account/email/undo/"}, "/account/email/undo/"),
        ({"language": "fr", "next": "//evil.example/"}, "/"),
        ({"language": "fr", "next": "/\\evil.example/"}, "/"),
        ({"language": "tlh", "next": "/account/"}, "/account/"),
    ],
)
def test_the_chooser_goes_nowhere_unsafe_and_ignores_a_language_we_do_not_offer(posted, lands):
    from django.test import Client

    browser = Client(headers={"X-Forwarded-Proto": "https"})
    answer = browser.post("/language/", posted)

    assert answer.status_code == HTTPStatus.FOUND and answer["Location"] == lands
    expected = posted["language"] if posted["language"] != "tlh" else "en"
    assert f'<html lang="{expected}"' in browser.get("/").content.decode()


def test_the_chooser_works_without_javascript_and_names_each_language_in_itself(client):
    page = client.get("/", headers={"Accept-Language": "fr"}).content.decode()
    chooser = page.split('class="languages"')[1].split("</form>")[0]

    assert '<li lang="fr"><span aria-current="true">Français</span>' in chooser
    for code, name in [("en", "English"), ("de", "Deutsch"), ("es", "Español")]:
        button = f'name="language" value="{code}">{name}</button>'
        assert f'<li lang="{code}"><button class="link-button" type="submit" {button}' in chooser


def test_the_stylesheet_uses_logical_properties_only():
    css = (ROOT / "static/css/site.css").read_text()
    rules = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)

    physical = re.findall(r"[\w-]*(?:left|right|top|bottom)[\w-]*\s*:", rules)
    assert physical == [], "use margin-inline-start, inset-block-start, … (right-to-left)"


@pytest.mark.django_db
def test_an_address_already_taken_is_told_so_in_its_owners_language(mailbox, alice):
    User.objects.create_user("bob@example.com", language="de")
    laptop = signed_in(mailbox, "en")
    mailbox.clear()

    laptop.post("/account/email/", {"email": "bob@example.com"})

    told = mailbox.message_to("bob@example.com")
    assert told["Content-Language"] == "de"  # Bob's, not the English of the person asking

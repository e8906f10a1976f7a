"""One spelling per mailbox: the address we store, compare, rate-limit and send to.

A mailbox can be typed many ways: `ALICE@Example.com`, a fullwidth `ｅｘａｍｐｌｅ.com`, a
circled `ⓔxample.com`, an ideographic full stop, an RFC 2047 word that Django's mail layer
decodes into another address. Each spelling that reached one inbox used to count as another
address: another account, another allowance of emails. Here every spelling becomes one ASCII
string, or is refused before anything is stored or sent.

- Unicode NFKC folds compatibility forms (fullwidth, circled, ligatures) into plain letters.
- email-validator checks the syntax and converts the domain with IDNA 2008 and UTS #46, so
  `faß.de` stays `xn--fa-hia.de`. Python's own IDNA 2003 codec, which Django's mail backend
  uses on non-ASCII domains, would have mailed it to `fass.de`: we only ever hand it ASCII.
- Local parts must be ASCII. Sending to `жанна@…` needs SMTPUTF8 from every server on the way,
  Django's backend encodes such a local part as an RFC 2047 word that no server delivers, and
  non-Latin local parts are where look-alikes of ASCII names (a Cyrillic `а`) hide.
- Local parts are lower-cased, as before: servers may treat case as significant, but no
  mainstream provider does, and one account per inbox matters more here.
"""

import unicodedata
from email.headerregistry import AddressHeader

import idna
from django.utils.translation import gettext_lazy as _
from email_validator import EmailNotValidError, validate_email

MAX_LENGTH = 254  # RFC 5321's limit on a forward path


class InvalidAddress(ValueError):
    """An address we cannot store or mail, with a sentence a person can act on."""


def canonical_address(value: str) -> str:
    """The one ASCII spelling of `value`; raise InvalidAddress if it has none."""
    text = unicodedata.normalize("NFKC", value.strip())
    try:
        checked = validate_email(
            text,
            check_deliverability=False,
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
        )
    except EmailNotValidError as error:
        raise InvalidAddress(reason_in_words(str(error))) from None
    address = f"{checked.local_part.lower()}@{checked.ascii_domain.lower()}"
    if len(address) > MAX_LENGTH:
        raise InvalidAddress(
            _("This address is too long: an email address has at most %(n)s characters.")
            % {"n": MAX_LENGTH}
        )
    if not _mailed_as_is(address):
        raise InvalidAddress(_("This address would be delivered to a different mailbox."))
    return address


# email-validator explains in English only. Its explanations people meet, in words we translate;
# the rarer ones (its messages start with these) get the general advice.
REASONS = {
    "There must be something after the @-sign": _("There must be something after the @."),
    "There must be something before the @-sign": _("There must be something before the @."),
    "An email address cannot have two periods in a row": _(
        "An email address cannot have two dots in a row."
    ),
    "An email address cannot have a period and a hyphen": _(
        "An email address cannot have a dot and a hyphen next to each other."
    ),
    "The part after the @-sign is not valid. It should have a period": _(
        "The part after the @ needs a dot, as in example.com."
    ),
    "The part after the @-sign is a special-use or reserved name": _(
        "The part after the @ is a name kept for tests and private networks, not for email."
    ),
    "The email address is too long": _("This address is too long."),
    "After the @-sign, periods cannot be separated by so many characters": _(
        "A part of the domain is too long: at most 63 characters between dots."
    ),
    "Internationalized characters before the @-sign are not supported": _(
        "Letters with accents, or from other alphabets, before the @ are not supported here."
    ),
    "Quoting the part before the @-sign": _("Quotes are not allowed in the address."),
    "A display name and angle brackets": _("Type the address alone, without a name or < >."),
    "A bracketed IP address after the @-sign": _(
        "The part after the @ must be a domain, not a bracketed IP address."
    ),
}


def reason_in_words(explanation: str) -> str:
    for start, reason in REASONS.items():
        if explanation.startswith(start):
            return reason
    if "too long" in explanation:  # "… is invalid (Label too long)", and its kin
        return REASONS["The email address is too long"]
    if "invalid character" in explanation or "unsafe character" in explanation:
        return _("The address has a character an email address cannot have.")
    return _("Check it for a typing mistake.")


def _mailed_as_is(address: str) -> bool:
    """Whether Django's mail layer would send to exactly this address.

    It parses recipients with the standard library's header parser, which decodes RFC 2047
    words: "=?us-ascii?q?alice?=@example.com" becomes alice@example.com in the To header, and
    makes the SMTP backend raise (a 500) when it builds the envelope.
    """
    parsed = AddressHeader.value_parser(address)
    mailboxes = parsed.all_mailboxes
    return not parsed.all_defects and len(mailboxes) == 1 and mailboxes[0].addr_spec == address


def display_address(address: str) -> str:
    """An address as a person should read it: a non-ASCII domain shown with its ASCII form.

    `alice@xn--exmple-4nf.com` reads as `alice@exаmple.com (xn--exmple-4nf.com)`: the
    U-label alone would hide that the `а` is Cyrillic.
    """
    local, _, domain = address.rpartition("@")
    if not any(label.startswith("xn--") for label in domain.split(".")):
        return address
    try:
        readable = idna.decode(domain)
    except idna.IDNAError:
        return address
    return f"{local}@{readable} ({domain})"

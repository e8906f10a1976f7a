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
        raise InvalidAddress(str(error)) from None
    address = f"{checked.local_part.lower()}@{checked.ascii_domain.lower()}"
    if len(address) > MAX_LENGTH:
        raise InvalidAddress(f"An email address has at most {MAX_LENGTH} characters.")
    if not _mailed_as_is(address):
        raise InvalidAddress("This address would be delivered to a different mailbox.")
    return address


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

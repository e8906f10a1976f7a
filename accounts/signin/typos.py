"""Did you mean gmail.com? Common slips after the @, caught before an email goes astray.

GOV.UK's pattern: suggest, never correct silently, and let the person keep what they typed. The
lists are short on purpose: the big mailbox providers' most common misspellings, and endings
that are no top-level domain at all (".con"). Real domains that merely look odd are left alone.
"""

PROVIDERS = {
    "gmail.com": ["gmial.com", "gmai.com", "gamil.com", "gnail.com", "gmaill.com", "gmail.co"],
    "googlemail.com": ["googlemail.co", "googlemial.com"],
    "hotmail.com": ["hotmial.com", "hotmai.com", "hotmal.com", "hotmail.co"],
    "outlook.com": ["outlok.com", "outllok.com", "outlook.co"],
    "yahoo.com": ["yaho.com", "yahooo.com", "yahoo.co"],
    "icloud.com": ["iclod.com", "icloud.co", "icoud.com"],
}
MISSPELLED = {typo: right for right, typos in PROVIDERS.items() for typo in typos}
# Endings no registry issues, with the one people meant.
ENDINGS = {"con": "com", "cmo": "com", "ocm": "com", "comm": "com", "vom": "com", "nett": "net"}


def suggestion(address: str) -> str | None:
    """The address the person probably meant, or None if it looks as intended."""
    local, _, domain = address.rpartition("@")
    if domain in MISSPELLED:
        return f"{local}@{MISSPELLED[domain]}"
    stem, _, ending = domain.rpartition(".")
    if stem and ending in ENDINGS:
        return f"{local}@{stem}.{ENDINGS[ending]}"
    return None

"""One log line per thing that happened, in logfmt, with addresses masked and never a token."""

import logging

logger = logging.getLogger("accounts")


def mask_address(address: str) -> str:
    """alice@example.com becomes a***@example.com: enough to follow a case, not to harvest."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else "***"


def log_event(event: str, *, level: int = logging.INFO, **fields: object) -> None:
    pairs = " ".join(f"{key}={_quote(value)}" for key, value in fields.items())
    logger.log(level, f"event={event} {pairs}".rstrip())


def _quote(value: object) -> str:
    text = str(value)
    if not text or any(char in text for char in ' "=\\') or not text.isprintable():
        return '"' + text.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
    return text

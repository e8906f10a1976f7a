"""One log line per thing that happened, in logfmt, with addresses masked and never a token;
and the operator's counters (accounts/metrics.py) moved by the same events, so that what the
logs say and what the dashboards show cannot drift apart."""

import logging

from accounts import metrics

logger = logging.getLogger("accounts")


def mask_address(address: str) -> str:
    """alice@example.com becomes a***@example.com: enough to follow a case, not to harvest."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else "***"


def log_event(event: str, *, level: int = logging.INFO, **fields: object) -> None:
    pairs = " ".join(f"{key}={_quote(value)}" for key, value in fields.items())
    logger.log(level, f"event={event} {pairs}".rstrip())
    if counted := COUNTED.get(event):
        counted(fields)


# Events that move a series, and how. Only fixed words become labels: a scope, a reason, a
# method, a kind; never the address, the IP or anything a person typed.
COUNTED = {
    "email_requested": lambda f: (
        metrics.SIGN_IN_REQUESTS.labels("sent").inc(),
        metrics.EMAILS.labels("sign_in", "queued").inc(),
    ),
    "proof_asked": lambda f: metrics.SIGN_IN_REQUESTS.labels("challenged").inc(),
    "rate_limited": lambda f: metrics.SIGN_IN_REQUESTS.labels(_limited(f)).inc(),
    "sending_unavailable": lambda f: (
        metrics.SIGN_IN_REQUESTS.labels("unavailable").inc(),
        metrics.BACKEND_ERRORS.labels("redis").inc(),
    ),
    "email_sent": lambda f: metrics.EMAILS.labels("sign_in", "sent").inc(),
    "email_retrying": lambda f: metrics.EMAILS.labels("sign_in", "retried").inc(),
    "email_failed": lambda f: metrics.EMAILS.labels("sign_in", "failed").inc(),
    "email_not_sent": lambda f: metrics.EMAILS.labels("sign_in", "not_sent").inc(),
    "account_email_sent": lambda f: _account_email(f, "sent"),
    "account_email_retrying": lambda f: _account_email(f, "retried"),
    "account_email_failed": lambda f: _account_email(f, "failed"),
    "address_suppressed": lambda f: metrics.EMAILS.labels("any", _suppressed(f)).inc(),
    "signed_in": lambda f: metrics.SIGN_INS.labels(f["method"]).inc(),
    "code_rejected": lambda f: metrics.REFUSALS.labels("code", f["reason"]).inc(),
    "link_rejected": lambda f: metrics.REFUSALS.labels("link", f["reason"]).inc(),
    "passkey_refused": lambda f: metrics.REFUSALS.labels("passkey", f["reason"]).inc(),
    "courier_waiting_for_database": lambda f: metrics.BACKEND_ERRORS.labels("database").inc(),
}


def _limited(fields: dict) -> str:
    # A scope is one of a few fixed words ("address", "network", "passkey options", …).
    return "limited_" + str(fields.get("scope", "unknown")).replace(" ", "_")


def _account_email(fields: dict, outcome: str) -> None:
    metrics.EMAILS.labels(metrics.email_kind(str(fields.get("kind", ""))), outcome).inc()


def _suppressed(fields: dict) -> str:
    # The provider's word for it (anymail's event types), kept to the two an operator acts on.
    reason = str(fields.get("reason"))
    return reason if reason in {"bounced", "complained"} else "refused"


def _quote(value: object) -> str:
    text = str(value)
    if not text or any(char in text for char in ' "=\\') or not text.isprintable():
        return '"' + text.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
    return text

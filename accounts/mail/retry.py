"""When an email that could not be sent is worth trying again, and after how long.

One rule for every email, sign-in mail (accounts/mail/sign_in_email.py) and account mail
(accounts/mail/owed.py) alike: the mail server or provider says whether it was "later" or "no".
"""

import smtplib
from datetime import timedelta

from anymail.exceptions import AnymailAPIError

# Seconds to wait before the 2nd, 3rd, … attempt; the last delay repeats until the email's
# deadline (account mail, tried for days, waits longer and longer past these).
RETRY_DELAYS = (2, 10, 30, 60, 120)
# A claim this old was left by a process that stopped or died mid-send: a sweep takes the email
# over. Far past any email's EMAIL_TIMEOUTs (connect, each command, the data), and past fly's
# kill_timeout.
STALE_AFTER = timedelta(minutes=5)


def is_transient(error: Exception) -> bool:
    """Whether the same email may go through later.

    SMTP says so itself: 4xx is "try again later", 5xx is "no". Timeouts, refused and dropped
    connections are transient. A provider's HTTP API is the other way round: 429 and 5xx are
    its own trouble, other 4xx are a request it will never accept.
    """
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return any(400 <= code < 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    if isinstance(error, AnymailAPIError):
        status = getattr(error, "status_code", None)
        return status is None or status == 429 or status >= 500
    return isinstance(error, smtplib.SMTPException | OSError)


# What describe() calls a mail server out of reach (refused, dropped, silent, not found): not a
# reply about one email, so once another email gets through, the ones it held may go too.
UNREACHABLE = (
    "ConnectionRefusedError",
    "ConnectionResetError",
    "ConnectionAbortedError",
    "BrokenPipeError",
    "TimeoutError",
    "gaierror",
    "OSError",
    "SMTPServerDisconnected",
)


def describe(error: Exception) -> str:
    # A reply code and a class name tell an operator enough; reply texts may quote the address.
    code = getattr(error, "smtp_code", None) or getattr(error, "status_code", None)
    return f"{type(error).__name__} {code}" if code else type(error).__name__


def delay_after(attempts: int) -> int:
    return RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]

"""Why a link, a code, a passkey answer or a change is refused: one word each, one status each.

Every refusal raised in accounts/ carries one of these reasons, and every view that answers one
takes its status from STATUS and its sentence from SENTENCES: a reason means the same thing, and
answers the same way, wherever it is met. (Pages that explain a refused link at length, such as
accounts/link_problem.html, are templates given the reason.)
"""

from datetime import timedelta
from enum import StrEnum
from http import HTTPStatus

from django.core import signing
from django.utils.translation import gettext_lazy, ngettext


class Reason(StrEnum):
    INVALID = "invalid"  # not something we made, or cut short
    MISSING = "missing"  # a page that needs a link's token opened without one
    EXPIRED = "expired"
    USED = "used"  # spent, or replaced by a newer one
    WRONG = "wrong"  # a code that is not this email's
    EXHAUSTED = "exhausted"  # too many wrong codes
    NONE = "none"  # no code was asked for in this browser
    TAKEN = "taken"  # another account has the address
    CLOSED = "closed"  # the account was erased, or closed by staff
    CANCELLED = "cancelled"  # another change landed first
    NO_CHALLENGE = "no_challenge"  # a passkey answer to a request never made, or answered
    UNKNOWN = "unknown"  # a passkey this site does not know (removed, or its account closed)
    DUPLICATE = "duplicate"  # a passkey already on the account
    FRAMED = "framed"  # a passkey ceremony run in a frame on another site


STATUS = {
    Reason.INVALID: HTTPStatus.BAD_REQUEST,
    Reason.MISSING: HTTPStatus.BAD_REQUEST,
    Reason.EXPIRED: HTTPStatus.GONE,
    Reason.USED: HTTPStatus.GONE,
    Reason.WRONG: HTTPStatus.BAD_REQUEST,
    Reason.EXHAUSTED: HTTPStatus.TOO_MANY_REQUESTS,
    Reason.NONE: HTTPStatus.BAD_REQUEST,
    Reason.TAKEN: HTTPStatus.BAD_REQUEST,
    Reason.CLOSED: HTTPStatus.GONE,
    Reason.CANCELLED: HTTPStatus.GONE,
    Reason.NO_CHALLENGE: HTTPStatus.BAD_REQUEST,
    Reason.UNKNOWN: HTTPStatus.BAD_REQUEST,
    Reason.DUPLICATE: HTTPStatus.BAD_REQUEST,
    Reason.FRAMED: HTTPStatus.BAD_REQUEST,
}


class What(StrEnum):
    """What was refused, where a sentence must say more than the reason."""

    CODE = "code"
    ADDRESS_CODE = "address code"
    PASSKEY_SIGN_IN = "passkey sign-in"
    PASSKEY_ADD = "passkey add"


_TRY_AGAIN_LATER = gettext_lazy(
    "That passkey request was already used or never started. Try again."
)
SENTENCES = {
    (What.CODE, Reason.EXHAUSTED): gettext_lazy("Too many wrong codes. Ask for a new email below."),
    (What.CODE, Reason.EXPIRED): gettext_lazy("This code has expired. Ask for a new email below."),
    (What.CODE, Reason.USED): gettext_lazy(
        "This code was already used, or a newer sign-in replaced it. Ask for a new email."
    ),
    (What.ADDRESS_CODE, Reason.TAKEN): gettext_lazy(
        "Another account has that address now. Nothing changed."
    ),
    (What.ADDRESS_CODE, Reason.CANCELLED): gettext_lazy(
        "Another change of your address, made in another browser, was confirmed first, "
        "so this one was cancelled. Your address is the one shown below."
    ),
    (What.PASSKEY_SIGN_IN, Reason.NO_CHALLENGE): _TRY_AGAIN_LATER,
    (What.PASSKEY_SIGN_IN, Reason.EXPIRED): gettext_lazy(
        "That passkey request took too long. Try again."
    ),
    (What.PASSKEY_SIGN_IN, Reason.INVALID): gettext_lazy(
        "That passkey could not be checked. Try again, or sign in with your email."
    ),
    (What.PASSKEY_SIGN_IN, Reason.UNKNOWN): gettext_lazy(
        "This passkey is not known here: it may have been removed from your account. "
        "Sign in with your email instead."
    ),
    (What.PASSKEY_ADD, Reason.NO_CHALLENGE): _TRY_AGAIN_LATER,
    (What.PASSKEY_ADD, Reason.EXPIRED): gettext_lazy(
        "Adding the passkey took too long. Try again."
    ),
    (What.PASSKEY_ADD, Reason.INVALID): gettext_lazy(
        "The passkey could not be checked, so it was not added. Try again."
    ),
    (What.PASSKEY_ADD, Reason.DUPLICATE): gettext_lazy("This passkey is already on your account."),
}
# Where a reason has no sentence of its own for this kind of thing, it reads as this one.
FALLBACK = {
    What.CODE: Reason.USED,
    What.ADDRESS_CODE: Reason.USED,
    What.PASSKEY_SIGN_IN: Reason.INVALID,
    What.PASSKEY_ADD: Reason.INVALID,
}


class Refused(Exception):
    """Why something emailed (a restore link, a "not me" link) does nothing: a Reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def open_signed(
    signer: signing.TimestampSigner, token: str, max_age: timedelta | int, refused: type
) -> dict:
    """What an emailed link's signed token holds; raise `refused` (an exception taking a
    reason) as missing, expired or invalid when it holds nothing we can use."""
    if not token:
        raise refused(Reason.MISSING)  # the page opened again after its link was used
    try:
        signed = signer.unsign_object(token, max_age=max_age)
    except signing.SignatureExpired:
        raise refused(Reason.EXPIRED) from None
    except (signing.BadSignature, TypeError, ValueError):
        raise refused(Reason.INVALID) from None
    if not isinstance(signed, dict):
        raise refused(Reason.INVALID)
    return signed


def status_of(reason: str) -> HTTPStatus:
    return STATUS[Reason(reason)]


def sentence(what: What, reason: str, tries_left: int = 0) -> str:
    """What the person reads about this refusal."""
    if reason == Reason.WRONG and tries_left:
        return ngettext(
            "That code is not right. Check the most recent email: %(left)s try left.",
            "That code is not right. Check the most recent email: %(left)s tries left.",
            tries_left,
        ) % {"left": tries_left}
    if reason == Reason.WRONG:
        reason = Reason.EXHAUSTED  # the last try is spent
    if what == What.ADDRESS_CODE and (What.ADDRESS_CODE, reason) not in SENTENCES:
        what = What.CODE  # an address's code is a code
    found = SENTENCES.get((what, Reason(reason)))
    return str(found or SENTENCES[(what, FALLBACK[what])])

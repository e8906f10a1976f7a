"""Why a link, a code, a passkey answer or a change is refused: one word each, one status each.

Every view that refuses one answers with the status and the sentence this table gives, so a
reason means the same everywhere.
"""

from http import HTTPStatus

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.signin.codes import CodeProblem

LINK_PROBLEM_STATUS = {
    "invalid": HTTPStatus.BAD_REQUEST,
    "expired": HTTPStatus.GONE,
    "used": HTTPStatus.GONE,
}
CODE_PROBLEM_STATUS = {
    "wrong": HTTPStatus.BAD_REQUEST,
    "expired": HTTPStatus.GONE,
    "used": HTTPStatus.GONE,
    "exhausted": HTTPStatus.TOO_MANY_REQUESTS,
}


def code_problem_message(problem: CodeProblem) -> str:
    if problem.reason == "wrong" and problem.tries_left:
        return ngettext(
            "That code is not right. Check the most recent email: %(left)s try left.",
            "That code is not right. Check the most recent email: %(left)s tries left.",
            problem.tries_left,
        ) % {"left": problem.tries_left}
    if problem.reason in ("wrong", "exhausted"):
        return _("Too many wrong codes. Ask for a new email below.")
    if problem.reason == "expired":
        return _("This code has expired. Ask for a new email below.")
    return _("This code was already used, or a newer sign-in replaced it. Ask for a new email.")

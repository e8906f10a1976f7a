"""An error report, mailed to the admins by Django's AdminEmailHandler, holds no sign-in secret."""

import logging
import sys

import pytest
from django.test import RequestFactory
from django.utils.log import AdminEmailHandler
from sesame.utils import get_token

from accounts.signin.links import LOGIN_SCOPE

pytestmark = pytest.mark.django_db


def claim_login_link(token: str) -> None:
    """Fails the way a view holding a token might: the token is a local variable of this frame."""
    raise RuntimeError("the database went away")


def test_an_error_report_mailed_to_the_admins_holds_no_token_code_or_cookie(
    mailbox, alice, settings
):
    settings.ADMINS = ["ops@example.com"]
    token = get_token(alice, scope=LOGIN_SCOPE)
    change = "eyJhY2NvdW50IjoxfQ.an-address-change-token"
    restore = "eyJhY2NvdW50IjoxfQ.a-restore-token"
    refuse = "eyJwYXNza2V5IjoxfQ.a-not-me-token"
    request = RequestFactory().post(
        f"/link/?sesame={token}&change={change}&restore={restore}&refuse={refuse}",
        {"sesame": token, "code": "381604", "change": change, "restore": restore},
        headers={"X-Forwarded-Proto": "https"},
    )
    request.COOKIES[settings.LOGIN_LINK_COOKIE_NAME] = token
    request.COOKIES[settings.SESSION_COOKIE_NAME] = "a-session-key-that-signs-someone-in"
    try:
        claim_login_link(token)
    except RuntimeError:
        failure = sys.exc_info()
    record = logging.LogRecord(
        "django.request",
        logging.ERROR,
        __file__,
        1,
        "Internal Server Error: %s",
        ("/link/",),
        failure,
    )
    record.request = request

    AdminEmailHandler(include_html=True).emit(record)

    (message,) = mailbox.wait_for(1)
    parts = [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
    assert len(parts) == 2  # the text report and the HTML one, both really there
    for report in parts:
        assert "the database went away" in report
        assert "claim_login_link" in report
        assert token not in report
        assert "381604" not in report
        assert change not in report
        assert restore not in report and refuse not in report
        assert "a-session-key-that-signs-someone-in" not in report
    assert token not in message["Subject"]

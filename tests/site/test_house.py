"""The house: accounts/ laid out by capability, small modules and functions, and tasks queued
before the move still run. (The import direction is scripts/lint's: import-linter's contracts in
pyproject.toml.)"""

import ast
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path

import pytest
import time_machine
from django.tasks import Task
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from accounts.apps import OLD_TASK_MODULES
from accounts.mail.courier import TASK, Courier
from accounts.models import SignInEmail
from accounts.passkeys.challenges import open_challenges as _open_challenges
from accounts.refusals import STATUS, Reason
from accounts.signin.codes import code_for
from accounts.signin.links import _signup_signer
from harness.servers import ROOT
from tests.helpers import behind_the_proxy, code_in

ACCOUNTS = ROOT / "accounts"
LONGEST_MODULE = 300
LONGEST_FUNCTION = 40


def our_modules() -> list[Path]:
    return [p for p in ACCOUNTS.rglob("*.py") if "migrations" not in p.parts]


def test_no_module_is_longer_than_a_sitting():
    long = {
        str(p.relative_to(ACCOUNTS)): n
        for p in our_modules()
        if (n := len(p.read_text().splitlines())) > LONGEST_MODULE
    }

    assert long == {}


def test_no_function_is_longer_than_a_screen():
    long = {}
    for path in our_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > LONGEST_FUNCTION:
                    long[f"{path.relative_to(ACCOUNTS)}:{node.name}"] = length

    assert long == {}


@pytest.mark.parametrize("old", sorted(OLD_TASK_MODULES))
def test_every_task_keeps_its_old_path_for_one_release(old):
    new = import_string(OLD_TASK_MODULES[old])
    tasks = [name for name, value in vars(new).items() if isinstance(value, Task)]

    assert tasks
    for name in tasks:
        assert import_string(f"{old}.{name}") is getattr(new, name)


@pytest.mark.django_db(transaction=True)
def test_a_sign_in_email_queued_under_its_old_path_is_still_sent(settings, mailbox, alice):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    browser = behind_the_proxy()
    browser.post("/", {"email": "alice@example.com"})
    # As a release before the move queued it (and before the row was its own queue).
    email = SignInEmail.objects.get()
    queued = DBTaskResult.objects.create(
        task_path="accounts.delivery.deliver",
        args_kwargs={"args": [email.id], "kwargs": {}},
        backend_name="default",
    )

    Courier().send_handed(TASK, str(queued.id))  # the task alone, no sweep of the rows
    typed = browser.post(
        "/check-inbox/", {"code": code_in(mailbox.message_to("alice@example.com"))}
    )

    assert typed.status_code == HTTPStatus.FOUND and typed["Location"] == "/dashboard/"


# Made by the code before the move (b173f65), at this moment, with this key: a move must not
# change what was signed before it (it once rewrote three salts along with the module paths).
BEFORE_THE_MOVE = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
PINNED_KEY = "pinned-secret-key-for-the-house-test-0123456789"


def test_codes_links_and_challenges_signed_before_the_move_still_check_out(settings):
    settings.SECRET_KEY = PINNED_KEY
    signup = "eyJlbWFpbCI6ImFAZXhhbXBsZS5jb20ifQ.1xYKeW.FmZXv6d6ok00AskoCxaAKJT-yFhfLa1VM19HozZLfHg"
    challenges = (
        "W1siV1o4d3ZmY2x0SjkwbWVXd2dZdGtjaGpwbU1OQVlfUnVVTjIyOURNSHlzZyIsMTc5NjExOTIwMF1d"
        ":1xYKeW:AOG7Y7-ODUv4v27vW6QKk0s1FIh7uowOThDFikXfyzg"
    )

    with time_machine.travel(BEFORE_THE_MOVE, tick=False):
        signed_up = _signup_signer().unsign_object(signup)
        kept = _open_challenges(challenges)

    assert code_for("a-request-id") == "713953"
    assert signed_up == {"email": "a@example.com"}
    assert len(kept) == 1


def test_every_refusal_raised_has_one_word_status_and_sentence():
    """Each `…Problem("reason")` raised in accounts/ is a word of accounts/refusals.py."""
    raised = set()
    for path in our_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id.endswith("Problem")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                raised.add(node.args[0].value)

    assert raised  # the walk found the raises
    assert raised <= {reason.value for reason in Reason}
    assert set(STATUS) == set(Reason)

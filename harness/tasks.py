"""Every email that is due, sent in this process, then stop: the courier's own sweep
(accounts/mail/courier.py), as a web process makes it, without its thread.

Shared by tests and bench; Django must be set up before it is called.
"""


def run_due_tasks() -> None:
    from accounts.mail.courier import Courier

    Courier().sweep()


def due_emails() -> list[tuple[str, str]]:
    """What a web process's COMMITs would have handed its courier: every due sign-in email and
    ready task, as (kind, id). Looked up here, where production knows them without a query."""
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from accounts.mail.courier import SIGN_IN, TASK
    from accounts.mail.sign_in_email import owed
    from accounts.models import SignInEmail

    emails = SignInEmail.objects.filter(owed(timezone.now())).values_list("pk", flat=True)
    tasks = DBTaskResult.objects.ready().values_list("pk", flat=True)
    return [(SIGN_IN, email_id) for email_id in emails] + [(TASK, str(pk)) for pk in tasks]


def hand_due_tasks(handed: list[tuple[str, str]]) -> None:
    """Each of `handed` (due_emails()), to this process's courier one by one as a request's
    COMMIT hands it in a web process: the path an email takes when nothing went wrong, not a
    sweep."""
    from accounts.mail.courier import courier  # this process's, as a web process has one

    for kind, item_id in handed:
        courier.send_handed(kind, item_id)

"""Every email that is due, sent in this process, then stop: the courier's own sweep
(accounts/mail/courier.py), as a web process makes it, without its thread.

Shared by tests and bench; Django must be set up before it is called.
"""


def run_due_tasks() -> None:
    from accounts.mail.courier import Courier

    Courier().sweep()


def hand_due_tasks() -> None:
    """Every due sign-in email and ready task, handed to a courier one by one as a request's
    COMMIT hands it in a web process (the path an email takes when nothing went wrong), not
    swept."""
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from accounts.mail.courier import SIGN_IN, TASK, courier  # this process's, as a web one's
    from accounts.mail.sign_in_email import owed
    from accounts.models import SignInEmail

    for email_id in SignInEmail.objects.filter(owed(timezone.now())).values_list("pk", flat=True):
        courier.send_handed(SIGN_IN, email_id)
    for task_id in DBTaskResult.objects.ready().values_list("pk", flat=True):
        courier.send_handed(TASK, str(task_id))

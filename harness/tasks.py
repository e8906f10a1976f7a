"""Every mail task that is due, sent in this process, then stop: the courier's own sweep
(accounts/mail/courier.py), as a web process makes it, without its thread.

Shared by tests and bench; Django must be set up before it is called.
"""


def run_due_tasks() -> None:
    from accounts.mail.courier import Courier

    Courier().sweep()

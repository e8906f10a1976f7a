"""django-tasks-db's worker loop, in this process: every task that is due, then stop.

Shared by tests and bench; Django must be set up before it is called.
"""


def run_due_tasks(worker_id: str = "in-process") -> None:
    from django_tasks_db.management.commands.db_worker import Worker

    Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
    ).run()

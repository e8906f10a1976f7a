import pytest


@pytest.fixture
def queue(settings, transactional_db):
    """Production's queue without its courier: nothing is sent until a sweep runs
    (harness/tasks.py's run_due_tasks, as a web process's courier makes it)."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

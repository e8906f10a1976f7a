"""`manage.py prune_events`: delete sign-in events older than EVENT_RETENTION_DAYS now.

The app also does it by itself, with the first sign-in of each hour (accounts/sessions/pruning.py).
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.records.audit import prune_events


class Command(BaseCommand):
    help = "Delete sign-in events older than EVENT_RETENTION_DAYS."

    def handle(self, *args, **options) -> None:
        deleted = prune_events()
        days = settings.EVENT_RETENTION_DAYS
        self.stdout.write(f"Deleted {deleted} sign-in events older than {days} days.")

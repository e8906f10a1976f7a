"""manage.py delete_unused_accounts: accounts that never signed in.

Before accounts waited for a confirmed link, asking for one created an account, so tables hold
addresses nobody ever proved. Accounts an administrator made for people who have not signed in
yet look the same: hence the age limit, the dry run, and staff being left alone.

It also erases accounts whose person deleted them more than ACCOUNT_UNDO_DAYS ago (their restore
week is over), as the hourly pruning does (accounts/account/deletion.py).
"""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from accounts.account.deletion import erase_due
from accounts.models import User


class Command(BaseCommand):
    help = "Delete accounts that never signed in and are older than --days (staff are kept)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=7, help="minimum age, in days (7)")
        parser.add_argument("--dry-run", action="store_true", help="count them, delete nothing")

    def handle(self, *args, days: int, dry_run: bool, **options) -> None:
        unused = User.objects.filter(
            last_login__isnull=True,
            date_joined__lt=timezone.now() - timedelta(days=days),
            is_staff=False,
            is_superuser=False,
        )
        count = unused.count()
        if dry_run:
            self.stdout.write(f"{count} accounts never signed in (nothing deleted).")
            return
        unused.delete()
        self.stdout.write(f"Deleted {count} accounts that never signed in.")
        erased = erase_due()
        self.stdout.write(f"Erased {erased} accounts deleted more than their restore week ago.")

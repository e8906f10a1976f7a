"""What has served its purpose is deleted from the database now and then, by the app itself.

Django leaves expired sessions until someone runs `clearsessions`, and sign-in emails, their
finished tasks and old sign-in events would pile up the same way. A cron job would be one more
thing to deploy on fly.io; here the first sign-in of each hour, on any machine, deletes them
(indexed DELETEs).
With no sign-ins, nothing new is written either.
"""

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from redis.exceptions import RedisError

from accounts.account.deletion import erase_due
from accounts.mail.owed import give_up_overdue
from accounts.models import SignInEmail, SuppressedAddress
from accounts.records.audit import prune_events
from accounts.sessions.store import SessionStore

PRUNED_KEY = "accounts:sessions-pruned"

# A day after it was asked for, a sign-in email has answered "did my email go out?": its row
# forgets the address, the account, the network and the browser, and keeps for the operator's
# funnel only its domain, outcome and times (accounts/records/funnel.py), as long as it looks.
SIGN_IN_EMAILS_KEPT = timedelta(days=1)
SIGN_IN_EMAILS_COUNTED = timedelta(days=8)


def prune_now_and_then() -> None:
    try:
        due = cache.add(PRUNED_KEY, True, timeout=settings.SESSION_PRUNE_INTERVAL)
    except RedisError:
        return  # The next sign-in will try again.
    if due:
        SessionStore.clear_expired()
        now = timezone.now()
        before = now - SIGN_IN_EMAILS_KEPT
        SignInEmail.objects.filter(requested_at__lt=now - SIGN_IN_EMAILS_COUNTED).delete()
        SignInEmail.objects.filter(requested_at__lt=before).exclude(address="").update(
            address="", next_url="", network="", user_agent="", user=None, user_last_login=None
        )
        DBTaskResult.objects.finished().filter(finished_at__lt=before).delete()
        SuppressedAddress.objects.filter(until__lt=timezone.now()).delete()  # pauses that ended
        prune_events()
        erase_due()  # accounts closed more than ACCOUNT_UNDO_DAYS ago
        give_up_overdue()  # account emails no task came back to by their deadline

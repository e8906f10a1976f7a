"""Deleting an account: the account, its sessions and its personal data go at once.

What stays is what cannot name the person: the record of sign-in events keeps its lines for
operators (what happened, when), without the account, network or browser, plus one line saying
an account was deleted. A suppression entry for the address stays too: it protects the sender's
reputation, and it is about mail to an address, not about an account.

The address then gets one last email saying so: the person learns of a deletion they did not
make (someone at an unlocked computer who also had their inbox, or a phished code). Its task
holds the address until finished tasks are pruned, a day later (accounts/pruning.py).
"""

from datetime import datetime

from django.db import transaction
from django.tasks import task
from django.utils import timezone

from accounts.account_mail import NOTICES_TRIED_FOR, send_or_try_later
from accounts.addresses import display_address
from accounts.browsers import end_all
from accounts.models import SignInEmail, SignInEvent, User


def delete_account(user: User) -> None:
    with transaction.atomic():
        end_all(user)
        SignInEmail.objects.filter(address=user.email).delete()
        user.events.update(user=None, network="", user_agent="")
        SignInEvent.objects.create(kind=SignInEvent.Kind.ACCOUNT_DELETED)
        user.delete()
        send_notice.enqueue(user.email, timezone.now().isoformat())


@task()
def send_notice(address: str, when: str, attempt: int = 1) -> str:
    moment = datetime.fromisoformat(when)
    return send_or_try_later(
        "emails/account_deleted",
        address,
        {"address": display_address(address), "when": moment},
        deadline=moment + NOTICES_TRIED_FOR,
        again=(send_notice, (address, when)),
        attempt=attempt,
    )

"""Deleting an account: the account, its sessions and its personal data go at once.

What stays is what cannot name the person: the record of sign-in events keeps its lines for
operators (what happened, when), without the account, network or browser, plus one line saying
an account was deleted. A suppression entry for the address stays too: it protects the sender's
reputation, and it is about mail to an address, not about an account.
"""

from django.contrib.sessions.models import Session
from django.db import transaction

from accounts.models import SignedInBrowser, SignInEmail, SignInEvent, User


def delete_account(user: User) -> None:
    with transaction.atomic():
        sessions = SignedInBrowser.objects.filter(user=user).values_list("session_id", flat=True)
        Session.objects.filter(pk__in=list(sessions)).delete()
        SignInEmail.objects.filter(address=user.email).delete()
        user.events.update(user=None, network="", user_agent="")
        SignInEvent.objects.create(kind=SignInEvent.Kind.ACCOUNT_DELETED)
        user.delete()

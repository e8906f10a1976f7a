"""Who may have an account, and making one once its address is proven."""

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction

from accounts.models import User


def signup_allowed(address: str) -> bool:
    if settings.SIGNUP_POLICY == "closed":
        return False
    if settings.SIGNUP_EMAIL_DOMAINS:
        return address.rpartition("@")[2] in settings.SIGNUP_EMAIL_DOMAINS
    return True


def create_account(address: str) -> User | None:
    """The account for an address just proven by link or code; None if it exists already.

    The unique index on the address decides between racing confirmations: one creates the
    account, the others find it made and are told the link or code was used.
    """
    # Imported here: the account's modules import sign-in's, not the other way round.
    from accounts.account.changes import reserved_for_undo

    if reserved_for_undo(address):
        # Its old account may still undo a move away from it: a new account here would take
        # the address that undo needs (accounts/account/way_back.py mails the undo instead).
        return None
    try:
        with transaction.atomic():
            return User.objects.create(email=address, password=make_password(None))
    except IntegrityError:
        return None

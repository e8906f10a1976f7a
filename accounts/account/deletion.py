"""Deleting an account: closed at once, erased ACCOUNT_UNDO_DAYS later, restorable until then.

Deleting was immediate, so one phished code and the address typed in erased an account for
good. As the big providers do (Google and GitHub keep a deleted account for a grace period), the
person's "Delete" closes the account at once: every session ends, every sign-in link and code
dies (a closed account is inactive, and becoming inactive gives it a new unusable password, over
which django-sesame signs its tokens), its passkeys are refused, and nobody can sign in. The
address gets one last email with a link that restores it; asking to sign in at the address that
week mails a fresh one (accounts/account/way_back.py), never a new account: the closed account still
holds the address.

What is kept for that week, and why (the privacy wording in README.md and docs/security.md): the
account as it was (address, passkeys, its browsers' list, its activity), so that a restore gives
back the same account. Nothing of it is used meanwhile. After the week, `erase_due()` (run by the
hourly pruning and by `manage.py delete_unused_accounts`) erases it: the record of sign-in events
keeps its lines for operators (what happened, when), without the account, network or browser,
plus one line saying an account was erased. A suppression entry for the address stays too: it is
about mail to an address, not about an account.
"""

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.tasks import task
from django.urls import reverse
from django.utils import timezone

from accounts.mail.owed import drop, legacy_key, owe, send_or_try_later
from accounts.models import AddressChange, SignInEmail, SignInEvent, User
from accounts.records.log import log_event
from accounts.refusals import Refused, open_signed
from accounts.sessions.browsers import Why, end_all
from accounts.signin.addresses import display_address

RESTORE_SALT = "accounts.restore"


class RestoreProblem(Refused):
    """A restore link that restores nothing, and why: missing, invalid, expired, or used."""


def close_account(user: User) -> None:
    """Close the account now; owe its address the email that can restore it."""
    now = timezone.now()
    with transaction.atomic():
        end_all(user, why=Why.DELETED)
        # Their codes would sign in again after a restore (links die with the password).
        SignInEmail.objects.filter(address=user.email).delete()
        user.is_active = False  # save() also ends every link (accounts/models.py)
        user.closed_at = now
        user.save(update_fields=["is_active", "closed_at"])
        AddressChange.objects.filter(user=user, state=AddressChange.State.PENDING).update(
            state=AddressChange.State.CANCELLED
        )
        SignInEvent.objects.create(kind=SignInEvent.Kind.ACCOUNT_DELETED, user=user)
        owe(
            send_notice,
            (user.pk,),
            key=f"account_closed:{user.pk}:{int(now.timestamp())}",
            to=user.email,
            user=user,
            deadline=now + timedelta(days=settings.ACCOUNT_UNDO_DAYS),
        )
    log_event("account_closed", user=user.pk)


def closed_account(address: str) -> User | None:
    """The account at `address` closed within the week, which its inbox may restore."""
    return User.objects.filter(email=address, closed_at__gt=_week_start()).first()


def restore_link(user: User) -> str:
    token = _signer().sign_object({"account": user.pk, "closed_at": user.closed_at.isoformat()})
    return settings.SITE_URL + reverse("restore_account") + "?" + urlencode({"restore": token})


def check_restore(token: str) -> User:
    """The closed account a restore link gives back; raise RestoreProblem if none."""
    max_age = timedelta(days=settings.ACCOUNT_UNDO_DAYS)
    signed = open_signed(_signer(), token, max_age, RestoreProblem)
    user = User.objects.filter(pk=signed.get("account")).first()
    if user is None:
        raise RestoreProblem("expired")  # erased: its week is over
    if user.closed_at is None or user.closed_at.isoformat() != signed.get("closed_at"):
        raise RestoreProblem("used")  # restored already (and perhaps closed again since)
    if user.closed_at <= _week_start():
        raise RestoreProblem("expired")
    return user


def restore(user: User) -> None:
    """Open the closed account again, as it was; its sessions and links stay ended."""
    reopened = User.objects.filter(pk=user.pk, closed_at=user.closed_at).update(
        is_active=True, closed_at=None
    )
    if not reopened:
        raise RestoreProblem("used")  # a second press meanwhile
    log_event("account_restored", user=user.pk)


def erase_due() -> int:
    """Erase every account closed more than ACCOUNT_UNDO_DAYS ago; how many."""
    due = list(User.objects.filter(closed_at__lte=_week_start()))
    for user in due:
        with transaction.atomic():
            SignInEmail.objects.filter(address=user.email).delete()
            user.events.update(user=None, network="", user_agent="", domain="")
            SignInEvent.objects.create(kind=SignInEvent.Kind.ACCOUNT_DELETED, detail="erased")
            user.delete()  # its passkeys, browsers, devices, changes and emails with it
        log_event("account_erased", user=user.pk)
    return len(due)


def _week_start() -> datetime:
    return timezone.now() - timedelta(days=settings.ACCOUNT_UNDO_DAYS)


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=RESTORE_SALT, sep=".")


@task()
def send_notice(user_id_or_address: int | str, *legacy, attempt: int = 1, key: str = "") -> str:
    """The farewell: the account is closed, and the link that restores it for a week.

    A task queued before closing existed (until 2026-12-13) names the address and a time: its
    account is erased already, so its email has no link.
    """
    if legacy:
        address, when = str(user_id_or_address), legacy[0]
        context = {"address": display_address(address), "when": datetime.fromisoformat(when)}
        return send_or_try_later(
            "emails/account_deleted",
            address,
            context,
            key=key or legacy_key("account_deleted", address, when),
            deadline=datetime.fromisoformat(when) + timedelta(days=1),
            again=(send_notice, (address, when)),
            attempt=attempt,
        )
    user = User.objects.filter(pk=user_id_or_address, closed_at__isnull=False).first()
    if user is None:
        return drop(key, "restored or erased")
    context = {
        "address": display_address(user.email),
        "when": user.closed_at,
        "restore_link": restore_link(user),
        "days": settings.ACCOUNT_UNDO_DAYS,
    }
    return send_or_try_later(
        "emails/account_deleted",
        user.email,
        context,
        key=key,
        deadline=user.closed_at + timedelta(days=settings.ACCOUNT_UNDO_DAYS),
        again=(send_notice, (user.pk,)),
        attempt=attempt,
    )

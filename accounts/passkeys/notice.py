"""A passkey added to an account is announced by email, as a sign-in from a new browser is.

A passkey outlives the session that added it and every "sign out other browsers": whoever adds
one from a stolen session, or with a code talked out of the person, keeps a way in. The notice
tells the person at once, with the passkey's name and where it was added, and the page that
removes it. (ASVS 5.0 V6.3.7: notify people after their authentication details change.)
Queued like every email; it carries no sign-in token.

It also carries the inbox's way to take the passkey back, for ACCOUNT_UNDO_DAYS: a link that
removes it and signs every browser out, with no session needed. Removing it from /account/ needs
a sign-in, and whoever holds the passkey signs straight back in with it and signs the owner out
again: a race the owner loses (found 2026-12-06). The notice is owed to the account even while
it is closed, so a restore never hands back a passkey its owner was never told of.
"""

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.http import HttpRequest
from django.tasks import task
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlsafe_base64_encode

from accounts.account.new_browsers import notice_context
from accounts.mail.owed import drop, legacy_key, owe, send_or_try_later
from accounts.models import Passkey, User
from accounts.records.audit import device_in_owners_words, origin_of
from accounts.records.log import log_event
from accounts.refusals import Refused, open_signed
from accounts.sessions.browsers import Why, end_all


def announce(request: HttpRequest, passkey: Passkey) -> None:
    origin = origin_of(request)
    now = timezone.now()
    owe(
        send_notice,
        (
            passkey.user_id,
            passkey.name,
            now.isoformat(),
            device_in_owners_words(passkey.user, origin["user_agent"]),
            origin["network"],
            passkey.pk,
        ),
        key=f"passkey_added:{passkey.pk}",
        to=User.objects.values_list("email", flat=True).get(pk=passkey.user_id),
        user=passkey.user,
        # As long as the inbox can undo what the session that added it did.
        deadline=now + timedelta(days=settings.ACCOUNT_UNDO_DAYS),
    )


@task()
def send_notice(
    user_id: int,
    name: str,
    when: str,
    device: str,
    network: str,
    passkey_id: int | None = None,
    attempt: int = 1,
    key: str = "",
) -> str:
    key = key or legacy_key("passkey_added", user_id, name, when)
    user = User.objects.filter(pk=user_id).first()  # closed or not: the owner must hear of it
    if user is None:
        return drop(key, "account erased")
    context = {"name": name, **notice_context(user, when, device, network)}
    passkey = Passkey.objects.filter(pk=passkey_id, user=user).first() if passkey_id else None
    if passkey is not None:
        context["refuse_link"] = refusal_link(passkey)
        context["undo_days"] = settings.ACCOUNT_UNDO_DAYS
    return send_or_try_later(
        "emails/passkey_added",
        user.email,
        context,
        key=key,
        deadline=datetime.fromisoformat(when) + timedelta(days=settings.ACCOUNT_UNDO_DAYS),
        again=(send_notice, (user_id, name, when, device, network, passkey_id)),
        attempt=attempt,
    )


class RefusalProblem(Refused):
    """A "not me" link that removes nothing, and why: missing, invalid, expired, or used."""


def refusal_link(passkey: Passkey) -> str:
    token = _signer().sign_object(
        {"passkey": passkey.pk, "account": passkey.user_id, "credential": _credential(passkey)}
    )
    query = urlencode({"refuse": token})
    return settings.SITE_URL + reverse("refuse_passkey") + "?" + query


def check_refusal(token: str) -> Passkey:
    """The passkey a "not me" link removes; raise RefusalProblem if none."""
    max_age = timedelta(days=settings.ACCOUNT_UNDO_DAYS)
    signed = open_signed(_signer(), token, max_age, RefusalProblem)
    passkey = (
        Passkey.objects.select_related("user")
        .filter(pk=signed.get("passkey"), user_id=signed.get("account"))
        .first()
    )
    if passkey is None or _credential(passkey) != signed.get("credential"):
        raise RefusalProblem("used")  # removed already
    return passkey


def refuse(passkey: Passkey) -> None:
    """Remove the passkey and sign every browser of its account out, in one transaction."""
    with transaction.atomic():
        if not Passkey.objects.filter(pk=passkey.pk).delete()[0]:
            raise RefusalProblem("used")  # a second press meanwhile
        end_all(passkey.user, why=Why.PASSKEY_REFUSED)
    log_event("passkey_refused_by_inbox", user=passkey.user_id)


def _credential(passkey: Passkey) -> str:
    return urlsafe_base64_encode(bytes(passkey.credential_id))


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt="accounts.passkey-refusal", sep=".")

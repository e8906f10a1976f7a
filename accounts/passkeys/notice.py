"""A passkey added to an account is announced by email, as a sign-in from a new browser is.

A passkey outlives the session that added it and every "sign out other browsers": whoever adds
one from a stolen session, or with a code talked out of the person, keeps a way in. The notice
tells the person at once, with the passkey's name and where it was added, and the page that
removes it. (ASVS 5.0 V6.3.7: notify people after their authentication details change.)
Queued like every email; it carries no sign-in token.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.http import HttpRequest
from django.tasks import task
from django.utils import timezone

from accounts.account.new_browsers import notice_context
from accounts.mail.owed import drop, legacy_key, owe, send_or_try_later
from accounts.models import Passkey, User
from accounts.records.audit import device_of, origin_of


def announce(request: HttpRequest, passkey: Passkey) -> None:
    origin = origin_of(request)
    now = timezone.now()
    owe(
        send_notice,
        (
            passkey.user_id,
            passkey.name,
            now.isoformat(),
            device_of(origin["user_agent"]),
            origin["network"],
        ),
        key=f"passkey_added:{passkey.pk}",
        to=passkey.user.email,
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
    attempt: int = 1,
    key: str = "",
) -> str:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return drop(key or legacy_key("passkey_added", user_id, name, when), "no account")
    return send_or_try_later(
        "emails/passkey_added",
        user.email,
        {"name": name, **notice_context(user, when, device, network)},
        key=key or legacy_key("passkey_added", user_id, name, when),
        deadline=datetime.fromisoformat(when) + timedelta(days=settings.ACCOUNT_UNDO_DAYS),
        again=(send_notice, (user_id, name, when, device, network)),
        attempt=attempt,
    )

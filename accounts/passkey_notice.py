"""A passkey added to an account is announced by email, as a sign-in from a new browser is.

A passkey outlives the session that added it and every "sign out other browsers": whoever adds
one from a stolen session, or with a code talked out of the person, keeps a way in. The notice
tells the person at once, with the passkey's name and where it was added, and the page that
removes it. (ASVS 5.0 V6.3.7: notify people after their authentication details change.)
Queued like every email; it carries no sign-in token.
"""

from datetime import datetime

from django.http import HttpRequest
from django.tasks import task
from django.utils import timezone

from accounts.account_mail import NOTICES_TRIED_FOR, send_or_try_later
from accounts.audit import device_of, origin_of
from accounts.models import Passkey, User
from accounts.new_browsers import notice_context


def announce(request: HttpRequest, passkey: Passkey) -> None:
    origin = origin_of(request)
    send_notice.enqueue(
        passkey.user_id,
        passkey.name,
        timezone.now().isoformat(),
        device_of(origin["user_agent"]),
        origin["network"],
    )


@task()
def send_notice(
    user_id: int, name: str, when: str, device: str, network: str, attempt: int = 1
) -> str:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return "no account"
    return send_or_try_later(
        "emails/passkey_added",
        user.email,
        {"name": name, **notice_context(user, when, device, network)},
        deadline=datetime.fromisoformat(when) + NOTICES_TRIED_FOR,
        again=(send_notice, (user_id, name, when, device, network)),
        attempt=attempt,
    )

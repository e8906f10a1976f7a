"""The emails of an address change: the proof to the new address, and the notice, with its
undo link, to the old one."""

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.tasks import task
from django.urls import reverse

from accounts.account.changes import UNDO_DAYS, UNDO_SALT, State, signer
from accounts.account.undo import undo_link
from accounts.mail.owed import drop, legacy_key, send_or_try_later
from accounts.models import AddressChange, User
from accounts.signin.addresses import display_address
from accounts.signin.codes import code_for, grouped


@task()
def send_proof(change_id: str, *before_rows, attempt: int = 1, key: str = "") -> str:
    """Mail the new address its link and code; or, if it has an account, say so to it alone."""
    if before_rows:
        return "queued before changes were rows: its code no longer exists"  # until 2026-12-13
    change = AddressChange.objects.filter(pk=change_id).select_related("user").first()
    if change is None or change.state != State.PENDING or not change.user.is_active:
        return drop(key or f"address_change_proof:{change_id}", "no longer pending")
    retries = {
        "key": key or f"address_change_proof:{change_id}",
        "deadline": change.asked_at + timedelta(seconds=settings.LOGIN_LINK_MAX_AGE),
        "again": (send_proof, (change_id,)),
        "attempt": attempt,
        "security": False,
    }
    new_address = change.to_address
    owner = User.objects.filter(email=new_address).first()
    if owner is not None:
        # Said only to the new address's owner, in their own language: the person asking
        # learns nothing from the page.
        context = {"address": display_address(new_address)}
        reader = {"language": owner.language, "zone": owner.time_zone}
        return send_or_try_later("emails/address_taken", new_address, context, **retries, **reader)
    token = signer().sign_object(
        {
            "change": change.pk,
            "account": change.user_id,
            "from": change.from_address,
            "to": new_address,
        }
    )
    link = (
        settings.SITE_URL + reverse("confirm_address_change") + "?" + urlencode({"change": token})
    )
    context = {
        "address": display_address(new_address),
        "link": link,
        "code": grouped(code_for(f"change:{change.pk}")),
        "minutes": max(1, settings.LOGIN_LINK_MAX_AGE // 60),
    }
    return send_or_try_later("emails/address_change", new_address, context, **retries)


@task()
def send_change_notice(change_id: str, attempt: int = 1, key: str = "") -> str:
    """Tell the old address its account moved, with the link that takes it back."""
    made = AddressChange.objects.filter(pk=change_id).first()
    if made is None:
        return "erased"  # the account was erased; its row with it
    context = {
        "address": display_address(made.from_address),
        "new_address": display_address(made.to_address),
        "when": made.done_at,
        "undo_days": UNDO_DAYS,
        # Always: built from the change itself, whatever the account has done since.
        "undo_link": undo_link(made),
    }
    return send_or_try_later(
        "emails/address_changed",
        made.from_address,
        context,
        key=key or f"address_changed:{change_id}",
        deadline=made.done_at + timedelta(days=UNDO_DAYS),
        again=(send_change_notice, (change_id,)),
        attempt=attempt,
    )


@task()
def send_notice_to_old_address(
    old_address: str, new_address: str, when: str, attempt: int = 1, key: str = ""
) -> str:
    """Queued before changes were rows (remove after 2026-12-13): the same notice, its undo
    link in the old form that check_undo still reads."""
    context = {
        "address": display_address(old_address),
        "new_address": display_address(new_address),
        "when": datetime.fromisoformat(when),
        "undo_days": UNDO_DAYS,
    }
    user = User.objects.filter(email=new_address, is_active=True).first()
    if user is not None:
        token = signer(UNDO_SALT).sign_object(
            {"account": user.pk, "from": old_address, "to": new_address}
        )
        query = urlencode({"change": token})
        context["undo_link"] = settings.SITE_URL + reverse("undo_address_change") + "?" + query
    return send_or_try_later(
        "emails/address_changed",
        old_address,
        context,
        key=key or legacy_key("address_changed", old_address, new_address, when),
        deadline=datetime.fromisoformat(when) + timedelta(days=UNDO_DAYS),
        again=(send_notice_to_old_address, (old_address, new_address, when)),
        attempt=attempt,
    )

"""What the sign-in page mails an address whose inbox has a way back instead of a sign-in.

Two cases, both from the rule that the inbox is the root of trust (docs/security.md):
- the address's account moved away from it within ACCOUNT_UNDO_DAYS: the email says where to
  (masked) and carries a fresh undo link. A notice lost, paused or deleted unread is then never
  the end: the owner's first reaction, asking to sign in, brings the way back, and can no longer
  open a new, empty account that would take the address the undo needs.
- the address's account was deleted within ACCOUNT_UNDO_DAYS: the email carries a restore link.

The sign-in page answers exactly as for any other address: nobody learns which case applies.
"""

from accounts.account.changes import UNDO_DAYS, reserved_for_undo
from accounts.account.deletion import closed_account, restore_link
from accounts.account.undo import deactivated_by_staff, undo_link
from accounts.records.log import mask_address


def way_back_offer(address: str, may_be_closed: bool = True) -> tuple[str, dict] | None:
    """The email template and context that give `address` its way back, if it has one.

    `may_be_closed`: False when the caller knows no account has the address (one read saved).
    """
    closed = closed_account(address) if may_be_closed else None
    if closed is not None:
        return "emails/restore_offer", {"restore_link": restore_link(closed), "days": UNDO_DAYS}
    made = reserved_for_undo(address)
    if made is not None and not deactivated_by_staff(made.user):
        context = {
            "undo_link": undo_link(made),
            "new_address": mask_address(made.to_address),
            "when": made.done_at,
            "days": UNDO_DAYS,
        }
        return "emails/undo_offer", context
    return None

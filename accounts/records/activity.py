"""A sign-in event in a person's words, for the activity on /account/.

The record keeps a kind and a short detail ("code", "link expired") for operators; people read
a sentence. An event the table does not know (a detail added later) reads as its kind alone.
"""

from django.utils.translation import gettext_lazy as _

from accounts.models import SignInEvent

Kind = SignInEvent.Kind

SENTENCES = {
    (Kind.REQUESTED, ""): _("A sign-in email was asked for"),
    (Kind.OPENED, ""): _("The emailed link was opened"),
    (Kind.SIGNED_IN, "link"): _("Signed in with the emailed link"),
    # The same browser pressing the link's button again, its first answer lost (links.py).
    (Kind.SIGNED_IN, "link again"): _("Signed in with the emailed link"),
    (Kind.SIGNED_IN, "code"): _("Signed in with the emailed code"),
    (Kind.SIGNED_IN, "passkey"): _("Signed in with a passkey"),
    (Kind.REJECTED, "code wrong"): _("A wrong code was typed"),
    (Kind.REJECTED, "code exhausted"): _("A code was typed after its last try"),
    (Kind.REJECTED, "code expired"): _("An expired code was typed"),
    (Kind.REJECTED, "code used"): _("A code that was already used was typed"),
    (Kind.REJECTED, "link expired"): _("An expired link was opened"),
    (Kind.REJECTED, "link used"): _("A link that was already used was opened"),
    (Kind.REJECTED, "link invalid"): _("A damaged link was opened"),
    (Kind.REJECTED, "passkey"): _("A passkey sign-in was refused"),
    (Kind.SIGNED_OUT, ""): _("Signed out"),
    (Kind.BROWSER_ENDED, ""): _("A browser was signed out from the account page"),
    (Kind.ADDRESS_CHANGED, ""): _("The address changed"),
    (Kind.ADDRESS_CHANGED, "undone"): _("The change of address was undone from the old inbox"),
    (Kind.ACCOUNT_DELETED, ""): _("The account was deleted"),
    (Kind.RESTORED, ""): _("The account was restored"),
    (Kind.PASSKEY_ADDED, ""): _("A passkey was added"),
    (Kind.PASSKEY_REMOVED, ""): _("A passkey was removed"),
    (Kind.PASSKEY_REMOVED, "by the inbox"): _("A passkey was removed from the emailed notice"),
}
REFUSED = _("A sign-in was refused")


def sentence(event: SignInEvent) -> str:
    found = SENTENCES.get((event.kind, event.detail)) or SENTENCES.get((event.kind, ""))
    if found is None and event.kind == Kind.REJECTED:
        return str(REFUSED)
    return str(found or event.get_kind_display())

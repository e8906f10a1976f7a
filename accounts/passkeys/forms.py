"""A passkey's name, as the person renames it."""

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.signin.forms import reject_control_characters


class PasskeyNameForm(forms.Form):
    """A name the person gives a passkey, to tell their passkeys apart on /account/."""

    name = forms.CharField(
        label=_("Name"),
        max_length=64,
        validators=[reject_control_characters],
        error_messages={
            "required": _("Give the passkey a name."),
            "max_length": _("A passkey's name can be at most 64 characters long."),
        },
    )

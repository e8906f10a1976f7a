import unicodedata

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.models import normalize_email_address


def reject_control_characters(value: str) -> None:
    # Line breaks and other control characters have no place in an address and are how mail
    # header injection starts; Django's validator lets some through inside quoted local parts.
    if any(unicodedata.category(char).startswith("C") for char in value):
        raise ValidationError(
            _("An email address cannot contain line breaks or control characters."),
            code="control_characters",
        )


class LoginLinkForm(forms.Form):
    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        validators=[reject_control_characters],
        error_messages={
            "required": _("Enter your email address."),
            "invalid": _("Enter an email address like name@example.com."),
            "max_length": _(
                "That address is too long: an email address has at most 254 characters."
            ),
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_email(self) -> str:
        return normalize_email_address(self.cleaned_data["email"])


class ConfirmLinkForm(forms.Form):
    """The token from the emailed link, and where to go afterwards."""

    sesame = forms.CharField(max_length=200, widget=forms.HiddenInput)
    next = forms.CharField(required=False, widget=forms.HiddenInput)

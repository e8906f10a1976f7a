"""What a person types on the account's pages: a new address and its code, the address that
confirms a deletion."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.signin.addresses import InvalidAddress, canonical_address
from accounts.signin.forms import LoginCodeForm, LoginLinkForm, reject_control_characters


class DeleteAccountForm(forms.Form):
    """Deleting is for good: the person types their own address to say they mean it."""

    email = forms.CharField(
        label=_("Type your email address to confirm"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": _("Type your email address to confirm.")},
    )

    def __init__(self, *args, account_address: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.account_address = account_address

    def clean_email(self) -> str:
        try:
            typed = canonical_address(self.cleaned_data["email"])
        except InvalidAddress:
            typed = ""
        if typed != self.account_address:
            raise ValidationError(
                _("That is not this account's address. Nothing was deleted."), code="mismatch"
            )
        return typed


class ChangeAddressForm(forms.Form):
    """The new address, judged exactly as a sign-in address is."""

    email = forms.CharField(
        label=_("New email address"),
        max_length=254,
        validators=[reject_control_characters],
        error_messages={"required": _("Enter the new email address.")},
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )

    clean_email = LoginLinkForm.clean_email


class ConfirmAddressForm(forms.Form):
    """Either the code from the email to the new address, or the link's token."""

    code = LoginCodeForm.base_fields["code"]
    clean_code = LoginCodeForm.clean_code

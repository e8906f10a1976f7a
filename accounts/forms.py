import unicodedata

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.addresses import InvalidAddress, canonical_address


def reject_control_characters(value: str) -> None:
    # Line breaks and other control characters have no place in an address and are how mail
    # header injection starts; Django's validator lets some through inside quoted local parts.
    if any(unicodedata.category(char).startswith("C") for char in value):
        raise ValidationError(
            _("An email address cannot contain line breaks or control characters."),
            code="control_characters",
        )


class LoginLinkForm(forms.Form):
    # A CharField: canonical_address() is the one judge of what an address is (it is stricter
    # than Django's EmailValidator and knows IDNA 2008); the widget is still type="email".
    email = forms.CharField(
        label=_("Email address"),
        max_length=254,
        validators=[reject_control_characters],
        error_messages={
            "required": _("Enter your email address."),
            "max_length": _(
                "That address is too long: an email address has at most 254 characters."
            ),
        },
        widget=forms.EmailInput(
            attrs={"autocomplete": "email", "autofocus": True, "spellcheck": "false"}
        ),
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)
    # Set by the one-press "Send a new email" buttons, which a cool-down applies to.
    resend = forms.BooleanField(required=False, widget=forms.HiddenInput)
    # Set by "Use what I typed" after a "Did you mean …?" (accounts/typos.py).
    as_typed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean_email(self) -> str:
        typed = self.cleaned_data["email"]
        try:
            return canonical_address(typed)
        except InvalidAddress as problem:
            if "@" not in typed:
                raise ValidationError(
                    _("Enter an email address like name@example.com."), code="invalid"
                ) from None
            raise ValidationError(
                _("We cannot send email to this address. %(reason)s"),
                code="invalid",
                params={"reason": problem},
            ) from None


class ConfirmLinkForm(forms.Form):
    """The token from the emailed link, and where to go afterwards."""

    # A django-sesame token, or a signup token (accounts/login_links.py), which holds the address.
    sesame = forms.CharField(max_length=600, widget=forms.HiddenInput)
    # Sealed to the token (accounts/redirects.py): opened, and checked again, after the claim.
    next = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)
    # "Keep me signed in on this device": a longer idle timeout for this browser only.
    keep = forms.BooleanField(required=False, label=_("Keep me signed in on this device"))


class LoginCodeForm(forms.Form):
    """The emailed code, typed where the person asked: "381 604", "381-604", "３８１６０４"."""

    code = forms.CharField(
        label=_("Code from the email"),
        max_length=40,
        error_messages={"required": _("Enter the 6-digit code from the email.")},
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "spellcheck": "false",
                "autocapitalize": "off",
            }
        ),
    )

    # "Keep me signed in on this device": a longer idle timeout for this browser only.
    keep = forms.BooleanField(required=False, label=_("Keep me signed in on this device"))

    def clean_code(self) -> str:
        typed = unicodedata.normalize("NFKC", self.cleaned_data["code"])
        digits = "".join(char for char in typed if char not in " -\u00a0")
        if len(digits) != 6 or not digits.isascii() or not digits.isdigit():
            raise ValidationError(_("Enter the 6-digit code from the email."), code="invalid")
        return digits


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

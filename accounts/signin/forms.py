"""What a person types to sign in: an address, a code, the confirm page's hidden token."""

import unicodedata

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.signin.addresses import InvalidAddress, canonical_address


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
    # Set by "Use what I typed" after a "Did you mean …?" (accounts/signin/typos.py).
    as_typed = forms.BooleanField(required=False, widget=forms.HiddenInput)
    # The proof of work, when the front door asked for one (accounts/signin/proof.py); the
    # widget writes this field itself.
    altcha = forms.CharField(required=False, max_length=4000)

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

    # A django-sesame token, or a signup token (accounts/signin/links.py), which holds the address.
    sesame = forms.CharField(max_length=600, widget=forms.HiddenInput)
    # Sealed to the token (accounts/signin/redirects.py): opened, and checked again, after the
    # claim.
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

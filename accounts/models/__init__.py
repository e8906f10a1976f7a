"""The accounts app's tables, one module per capability; all importable from here, as Django
and the migrations expect (accounts.models.User, accounts.models.UserManager)."""

from accounts.models.browsers import KnownDevice, SignedInBrowser
from accounts.models.changes import AddressChange
from accounts.models.mail import KIND_NAMES, AccountEmail, SignInEmail, SuppressedAddress
from accounts.models.passkeys import Passkey
from accounts.models.records import SignInEvent
from accounts.models.users import User, UserManager

__all__ = [
    "KIND_NAMES",
    "AccountEmail",
    "AddressChange",
    "KnownDevice",
    "Passkey",
    "SignInEmail",
    "SignInEvent",
    "SignedInBrowser",
    "SuppressedAddress",
    "User",
    "UserManager",
]

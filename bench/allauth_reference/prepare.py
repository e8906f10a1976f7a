"""Migrate the reference's database and give it N accounts (each address verified):
`python -m bench.allauth_reference.prepare N`."""

import sys

import django

django.setup()

from allauth.account.models import EmailAddress  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402

call_command("migrate", "--noinput", verbosity=0)
count = int(sys.argv[1])
users = User.objects.bulk_create(
    [User(username=f"r{n}", email=f"r{n}@bench.example.com") for n in range(count)]
)
EmailAddress.objects.bulk_create(
    [EmailAddress(user=user, email=user.email, primary=True, verified=True) for user in users]
)

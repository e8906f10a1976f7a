"""Store every address in its canonical spelling (accounts/addresses.py).

Before this, addresses were only stripped and lower-cased, so one mailbox could hold several
accounts (`alice@example.com`, `alice@ｅｘａｍｐｌｅ.com`, ...). Each account is rewritten to the
canonical spelling. Where two accounts share one, the account already spelled canonically keeps
it, else the one that signed in last; the others are deactivated and keep their old spelling,
so an operator can look at them. A new unusable password ends their links and sessions, as
User.save() does for every deactivation. An address that has no canonical spelling at all (it cannot be mailed)
is deactivated the same way.
"""

from django.contrib.auth.hashers import make_password
import django.db.models.functions.text
from django.db import migrations, models
from django.db.models import F

from accounts.signin.addresses import InvalidAddress, canonical_address


def canonicalise(apps, schema_editor) -> None:
    User = apps.get_model("accounts", "User")
    taken = set(User.objects.values_list("email", flat=True))
    retired = []
    # Most recent sign-in first: of several spellings of one mailbox, the one in use wins.
    for user in User.objects.order_by(F("last_login").desc(nulls_last=True), "pk"):
        try:
            address = canonical_address(user.email)
        except InvalidAddress:
            address = None
        if address == user.email:
            continue
        if address is None or address in taken:
            user.is_active = False
            user.password = make_password(None)
            user.save(update_fields=["is_active", "password"])
            retired.append(user.pk)
            continue
        taken.discard(user.email)
        taken.add(address)
        user.email = address
        user.save(update_fields=["email"])
    if retired:
        print(
            f"\n  Deactivated accounts whose address duplicates another or cannot be mailed: {retired}"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(canonicalise, migrations.RunPython.noop),
        # Stored spellings are canonical: the unique index on email is one account per mailbox.
        migrations.RemoveConstraint(
            model_name="user",
            name="user_email_case_insensitive_unique",
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.CheckConstraint(
                condition=models.Q(email=django.db.models.functions.text.Lower("email")),
                name="user_email_lower_case",
            ),
        ),
    ]

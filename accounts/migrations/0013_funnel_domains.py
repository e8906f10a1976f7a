"""The sign-in emails asked before 0012 (a day's at most) join the funnel: one UPDATE."""

from django.db import migrations
from django.db.models import F, Value
from django.db.models.functions import StrIndex, Substr


def domains_of_kept_emails(apps, schema_editor):
    SignInEmail = apps.get_model("accounts", "SignInEmail")
    SignInEmail.objects.filter(domain="").exclude(address="").update(
        domain=Substr(F("address"), StrIndex(F("address"), Value("@")) + 1)
    )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0012_funnel")]

    operations = [migrations.RunPython(domains_of_kept_emails, migrations.RunPython.noop)]

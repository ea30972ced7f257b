"""PagerDuty is in the application catalogue as soon as `migrate` has run."""

from django.db import migrations


def add_pagerduty(apps, schema_editor):
    ThirdPartyApplication = apps.get_model("integrations", "ThirdPartyApplication")
    ThirdPartyApplication.objects.update_or_create(key="pagerduty", defaults={"name": "PagerDuty"})


class Migration(migrations.Migration):
    dependencies = [("integrations", "0001_initial")]

    operations = [migrations.RunPython(add_pagerduty, migrations.RunPython.noop)]

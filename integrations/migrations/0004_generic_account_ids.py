"""The old configuration columns go (0003 copied them); `pagerduty_id` becomes `external_id` on
accounts, teams and licenses: ids are the application's, whichever it is."""

from django.db import migrations, models


def rename_external_id(model_name: str, constraint_name: str) -> list:
    return [
        migrations.RemoveConstraint(model_name=model_name, name=constraint_name),
        migrations.RenameField(model_name=model_name, old_name="pagerduty_id", new_name="external_id"),
        migrations.AddConstraint(
            model_name=model_name,
            constraint=models.UniqueConstraint(fields=("integration", "external_id"), name=constraint_name),
        ),
    ]


class Migration(migrations.Migration):
    dependencies = [("integrations", "0003_connector_configuration")]

    operations = [
        migrations.RemoveField(model_name="integration", name="access_token"),
        migrations.RemoveField(model_name="integration", name="token_hint"),
        migrations.RemoveField(model_name="integration", name="region"),
        *rename_external_id("syncedaccount", "unique_account_per_integration"),
        *rename_external_id("team", "unique_team_per_integration"),
        *rename_external_id("license", "unique_license_per_integration"),
        migrations.AlterField(
            model_name="syncedaccount",
            name="external_id",
            field=models.CharField(max_length=64, verbose_name="ID in the application"),
        ),
        migrations.AlterField(
            model_name="syncedaccount",
            name="html_url",
            field=models.URLField(blank=True, max_length=500, verbose_name="Link in the application"),
        ),
        migrations.AlterField(
            model_name="syncedaccount",
            name="removed_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Removed from the application"),
        ),
        migrations.AlterField(
            model_name="syncedaccount",
            name="role",
            field=models.CharField(help_text="The role as the application's API names it.", max_length=64),
        ),
    ]

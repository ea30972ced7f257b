"""Configuration belongs to the connector: PagerDuty's token and region are copied from their
own columns to `secrets` (each value encrypted on its own) and `configuration` (plain values),
which every connector shares. The token's ciphertext is copied as it is, so even a token the
current FIELD_ENCRYPTION_KEY cannot open is carried over unchanged. 0004 drops the old columns:
on PostgreSQL a table whose rows were just updated cannot be altered in the same transaction.
"""

import json

import cryptography.fernet
from django.db import migrations, models
from encrypted_model_fields.fields import decrypt_str

import integrations.fields


def _holds_a_token(ciphertext: str | None) -> bool:
    """Empty, or the encryption of an empty string (as a save through the plain field left it)."""
    if not ciphertext:
        return False
    try:
        return decrypt_str(ciphertext) != ""
    except cryptography.fernet.InvalidToken:
        return True  # sealed by another key: a token all the same


def move_configuration(apps, schema_editor):
    Integration = apps.get_model("integrations", "Integration")
    table = schema_editor.connection.ops.quote_name(Integration._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        # Raw: the old field would try to decrypt; the ciphertext moves as it is.
        cursor.execute(f"SELECT id, access_token, token_hint, region, updated_at FROM {table}")
        rows = cursor.fetchall()
    for pk, ciphertext, hint, region, updated_at in rows:
        configured = _holds_a_token(ciphertext)
        Integration.objects.filter(pk=pk).update(
            configuration={"region": region or "us"},
            secret_hints={"access_token": hint} if configured else {},
            configured_at=updated_at if configured else None,
        )
        if configured:
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET secrets = %s WHERE id = %s",
                    [json.dumps({"access_token": ciphertext}), pk],
                )


def restore_configuration(apps, schema_editor):
    Integration = apps.get_model("integrations", "Integration")
    table = schema_editor.connection.ops.quote_name(Integration._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT id, secrets FROM {table}")
        sealed = dict(cursor.fetchall())
    for integration in Integration.objects.all():
        ciphertext = json.loads(sealed[integration.pk] or "{}").get("access_token", "")
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET access_token = %s, token_hint = %s, region = %s WHERE id = %s",
                [
                    ciphertext,
                    integration.secret_hints.get("access_token", ""),
                    integration.configuration.get("region", "us"),
                    integration.pk,
                ],
            )


class Migration(migrations.Migration):
    # Each operation commits on its own: backwards, the copy back (an UPDATE) must be committed
    # before the new columns are dropped, or PostgreSQL refuses the ALTER TABLE.
    atomic = False
    dependencies = [("integrations", "0002_pagerduty_application")]

    operations = [
        migrations.AddField(
            model_name="integration",
            name="configuration",
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
        migrations.AddField(
            model_name="integration",
            name="secrets",
            field=integrations.fields.EncryptedSecretsField(blank=True, default=dict, editable=False),
        ),
        migrations.AddField(
            model_name="integration",
            name="secret_hints",
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
        migrations.AddField(
            model_name="integration",
            name="configured_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(move_configuration, restore_configuration),
    ]

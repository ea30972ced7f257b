"""Migration 0003 carries integrations configured on the old schema over, tokens included."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from encrypted_model_fields.fields import encrypt_str

from integrations.secrets import Secret, UndecryptableSecret

BEFORE = [("integrations", "0002_pagerduty_application")]
AFTER = [("integrations", "0004_generic_account_ids")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_tokens_regions_and_account_ids_survive_the_move_to_connector_configuration():
    old = migrate(BEFORE)
    Tenant = old.get_model("integrations", "Tenant")
    Application = old.get_model("integrations", "ThirdPartyApplication")
    Integration = old.get_model("integrations", "Integration")
    Account = old.get_model("integrations", "SyncedAccount")
    tenant = Tenant.objects.create(name="Acme", slug="acme")
    pagerduty, _ = Application.objects.get_or_create(key="pagerduty", defaults={"name": "PagerDuty"})
    readable = Integration.objects.create(tenant=tenant, application=pagerduty, token_hint="••••3f9a", region="eu")
    lost_key = Integration.objects.create(tenant=tenant, application=pagerduty, token_hint="••••beef", region="us")
    never = Integration.objects.create(tenant=tenant, application=pagerduty)
    table = Integration._meta.db_table
    with connection.cursor() as cursor:  # the old column's stored form: Fernet ciphertext
        cursor.execute(
            f"UPDATE {table} SET access_token = %s WHERE id = %s",
            [encrypt_str("u+PDtestTOKEN-3f9a").decode(), readable.pk],
        )
        cursor.execute(
            f"UPDATE {table} SET access_token = %s WHERE id = %s", ["gAAAAAB-sealed-by-another-key", lost_key.pk]
        )
    Account.objects.create(
        integration=readable, pagerduty_id="PABC123", name="Ann", email="ann@acme.test", role="admin",
        first_seen_at="2026-01-01T00:00:00Z",
    )

    new = migrate(AFTER)
    Integration = new.get_model("integrations", "Integration")
    moved = Integration.objects.get(pk=readable.pk)
    assert moved.secrets == {"access_token": Secret("u+PDtestTOKEN-3f9a")}
    assert (moved.configuration, moved.secret_hints) == ({"region": "eu"}, {"access_token": "••••3f9a"})
    assert moved.configured_at is not None
    sealed = Integration.objects.get(pk=lost_key.pk).secrets["access_token"]
    assert sealed == UndecryptableSecret("gAAAAAB-sealed-by-another-key")  # kept, never opened
    untouched = Integration.objects.get(pk=never.pk)
    assert (untouched.secrets, untouched.configured_at) == ({}, None)
    account = new.get_model("integrations", "SyncedAccount").objects.get()
    assert account.external_id == "PABC123"

    migrate(BEFORE)  # and back: the old columns get their values again
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT access_token, token_hint, region FROM {table} WHERE id = %s", [lost_key.pk])
        assert cursor.fetchone() == ("gAAAAAB-sealed-by-another-key", "••••beef", "us")
    call_command("migrate", "integrations", verbosity=0)  # the latest schema for the tests after

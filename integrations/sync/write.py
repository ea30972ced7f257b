"""A sync plan → the database, with bulk statements in batches of 1000.

The number of queries does not grow with the number of users below 1000 of anything. The
caller runs `apply_plan` inside one transaction: all or nothing. New accounts stay snapshot
entries until they are written, a batch at a time: a first sync of 50,000 users never holds
50,000 model objects (see `make bench`).
"""

from __future__ import annotations

import sqlite3

from django.db import connection
from django.db.models import DateTimeField, Value
from django.db.models.functions import Coalesce

from integrations.batching import chunked
from integrations.models import AccountChange, License, OnCall, SyncedAccount, SyncRun, Team, TeamMembership
from integrations.sync.plan import ACCOUNT_FIELDS, LICENSE_FIELDS, TEAM_FIELDS, Kind, SyncPlan

BATCH_SIZE = 1000
CHANGE_VALUE_MAX_LENGTH = AccountChange._meta.get_field("old_value").max_length


def use_sqlite_variable_limit() -> None:
    """Let Django batch 1000 rows on SQLite too.

    Django 5.2 assumes SQLite's old limit of 999 variables per statement (71 accounts per
    INSERT); SQLite 3.32+ allows 32766 by default. Asking this connection for its real limit
    keeps the number of queries the same on SQLite and PostgreSQL.
    """
    if connection.vendor != "sqlite":
        return
    connection.ensure_connection()
    limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    connection.features.max_query_params = max(limit, 999)


def insert_rows(model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """INSERT `rows` (values of `columns`, in order), as many rows per statement as the
    database takes (up to BATCH_SIZE).

    For the one-row-per-account inserts of a first sync. bulk_create sends every value
    through its model field in Python, about 3 µs each: with 250,000 values for 10,000 users
    that was a third of the whole sync. These rows hold only text, flags, ids and this
    sync's time, already as the database takes them.
    """
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in columns]
    names = ", ".join(quote(field.column) for field in fields)
    table = quote(model._meta.db_table)
    if connection.vendor == "postgresql":
        # One array per column, unnested into rows: PostgreSQL parses and plans a statement of
        # 1,000 rows × 15 placeholders in about 65 ms, the same rows as 15 arrays in about 18.
        arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
        with connection.cursor() as cursor:
            for chunk in chunked(rows, BATCH_SIZE):
                cursor.execute(
                    f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})",
                    [list(column) for column in zip(*chunk)],
                )
        return
    row = f"({', '.join(['%s'] * len(columns))})"
    limit = connection.features.max_query_params
    per_statement = max(1, min(BATCH_SIZE, limit // len(columns))) if limit else BATCH_SIZE
    with connection.cursor() as cursor:
        for chunk in chunked(rows, per_statement):
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {', '.join([row] * len(chunk))}",
                [value for values in chunk for value in values],
            )


NEW_ACCOUNT_COLUMNS = ("integration", "external_id", *ACCOUNT_FIELDS, "license", "first_seen_at")
CHANGE_COLUMNS = (
    "integration", "run", "account", "kind", "old_value", "new_value", "created_at",
    "actor_name", "actor_type", "actor_method", "acted_at",
)


def _actor_values(by) -> tuple:
    """The actor columns of a change: who made it and how, or empty when not recorded."""
    if by is None:
        return ("", "", "", None)
    return (by.actor_name, by.actor_type, by.method, by.at)


def _insert_new_accounts(plan: SyncPlan, run: SyncRun, account_pks: dict[str, int]) -> None:
    """New accounts and their "added" changes, made from the snapshot a batch at a time (so a
    first sync of 50,000 users never holds 50,000 model objects); their ids into account_pks."""
    if not plan.accounts_new:
        return
    integration, users = plan.integration, plan.snapshot.users
    now = connection.ops.adapt_datetimefield_value(plan.now)
    for chunk in chunked(plan.accounts_new, BATCH_SIZE):
        insert_rows(SyncedAccount, NEW_ACCOUNT_COLUMNS, [
            (
                integration.pk,
                external_id,
                *(users[external_id][name] for name in ACCOUNT_FIELDS),
                getattr(plan.new_account_license(external_id), "pk", None),
                now,
            )
            for external_id in chunk
        ])
    # Every account first seen now is new (the others were stored before this sync began).
    account_pks.update(
        SyncedAccount.objects.filter(integration=integration, first_seen_at=plan.now).values_list("external_id", "pk")
    )
    for chunk in chunked(plan.accounts_new, BATCH_SIZE):
        insert_rows(AccountChange, CHANGE_COLUMNS, [
            (
                integration.pk,
                run.pk,
                account_pks[external_id],
                Kind.ADDED.value,
                "",
                users[external_id]["role"][:CHANGE_VALUE_MAX_LENGTH],
                now,
                *_adapted(_actor_values(plan.attribution(external_id, Kind.ADDED))),
            )
            for external_id in chunk
        ])


def _adapted(values: tuple) -> tuple:
    name, actor_type, method, at = values
    return (name, actor_type, method, connection.ops.adapt_datetimefield_value(at) if at else None)


def _write_on_calls(plan: SyncPlan, account_pks: dict[str, int]) -> None:
    """Who is on call, as this snapshot says: the integration's rows replaced whole."""
    entries = plan.snapshot.on_calls
    if entries is None:
        return  # not read this time: keep what the last sync saw
    OnCall.objects.filter(integration=plan.integration).delete()
    rows = [
        OnCall(
            integration_id=plan.integration.pk,
            account_id=account_pks[entry.account_id],
            policy_id=entry.policy_id,
            policy_name=entry.policy_name,
            policy_url=entry.policy_url,
            level=entry.level,
            schedule_name=entry.schedule_name,
            on_call_now=entry.starts_at is None or entry.starts_at <= plan.now,
            starts_at=entry.starts_at,
            ends_at=entry.ends_at,
        )
        for entry in entries
        if entry.account_id in account_pks  # a user added after the user listing: next sync
    ]
    OnCall.objects.bulk_create(rows, batch_size=BATCH_SIZE)


def apply_plan(*, plan: SyncPlan, run: SyncRun) -> None:
    """Write `plan`; call inside a transaction."""
    use_sqlite_variable_limit()
    integration, now = plan.integration, plan.now

    License.objects.bulk_create(plan.licenses_new, batch_size=BATCH_SIZE)
    License.objects.bulk_update(plan.licenses_changed, LICENSE_FIELDS, batch_size=BATCH_SIZE)

    Team.objects.bulk_create(plan.teams_new, batch_size=BATCH_SIZE)
    Team.objects.bulk_update(plan.teams_changed, (*TEAM_FIELDS, "removed_at", "last_seen_at"), batch_size=BATCH_SIZE)
    for chunk in chunked([team.pk for team in plan.teams_removed], BATCH_SIZE):
        Team.objects.filter(pk__in=chunk).update(removed_at=now)
    if plan.teams_unchanged:
        # New and changed teams were written with it already; the rest are all active teams.
        Team.objects.filter(integration=integration, removed_at__isnull=True).update(last_seen_at=now)

    account_pks = plan.account_pks
    _insert_new_accounts(plan, run, account_pks)
    for account, lic in plan.account_licenses:
        account.license = lic
    SyncedAccount.objects.bulk_update(
        plan.accounts_changed, (*ACCOUNT_FIELDS, "license", "removed_at", "last_seen_at"), batch_size=BATCH_SIZE
    )
    # Until now an empty last_seen_at meant "seen by the last sync": out of view, it says when.
    last_sync = Value(integration.last_synced_at, output_field=DateTimeField())
    for chunk in chunked([account.pk for account in plan.accounts_removed], BATCH_SIZE):
        SyncedAccount.objects.filter(pk__in=chunk).update(
            removed_at=now, last_seen_at=Coalesce("last_seen_at", last_sync)
        )
    for chunk in chunked([account.pk for account in plan.accounts_out_of_view], BATCH_SIZE):
        SyncedAccount.objects.filter(pk__in=chunk).update(last_seen_at=last_sync)
    for chunk in chunked([account.pk for account in plan.accounts_back_in_view], BATCH_SIZE):
        SyncedAccount.objects.filter(pk__in=chunk).update(last_seen_at=None)

    TeamMembership.objects.bulk_create(
        [
            TeamMembership(team_id=team.pk, account_id=account_pks[user_id], role=role)
            for team, user_id, role in plan.memberships_new
        ],
        batch_size=BATCH_SIZE,
    )
    TeamMembership.objects.bulk_update(plan.memberships_changed, ("role",), batch_size=BATCH_SIZE)
    for chunk in chunked([m.pk for m in plan.memberships_deleted], BATCH_SIZE):
        TeamMembership.objects.filter(pk__in=chunk).delete()

    for chunk in chunked(plan.changes, BATCH_SIZE):
        AccountChange.objects.bulk_create(
            [
                AccountChange(
                    integration_id=integration.pk,
                    run_id=run.pk,
                    account_id=change.account.pk,
                    kind=change.kind,
                    team_id=change.team.pk if change.team else None,
                    old_value=change.old[:CHANGE_VALUE_MAX_LENGTH],
                    new_value=change.new[:CHANGE_VALUE_MAX_LENGTH],
                    created_at=now,
                    **_actor_fields(change.by),
                )
                for change in chunk
            ]
        )
    _write_on_calls(plan, account_pks)


def _actor_fields(by) -> dict:
    name, actor_type, method, at = _actor_values(by)
    return {"actor_name": name, "actor_type": actor_type, "actor_method": method, "acted_at": at}

"""Seed one tenant with many synced accounts, then measure the reviewers' pages against it.

    DATABASE_URL=sqlite:////tmp/scale.sqlite3 .venv/bin/python scripts/seed_accounts.py --accounts 100000 --measure
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/balkan_pd_scale .venv/bin/python scripts/seed_accounts.py --measure

Settings are balkan_pd.settings (so `.env` applies) unless DJANGO_SETTINGS_MODULE says
otherwise; the database is migrated first. Seeding is skipped when the tenant already has
the accounts (`--reset` starts again). `--measure` logs a reviewer in with Django's test
client and prints, for each page, the SQL query count and the median time of a few loads.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "balkan_pd.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--teams", type=int, default=200)
    parser.add_argument("--tenant", default="scale", help="slug of the seeded tenant (default: scale)")
    parser.add_argument("--reset", action="store_true", help="delete the tenant's data and seed again")
    parser.add_argument("--measure", action="store_true", help="time the reviewers' pages afterwards")
    parser.add_argument("--repeat", type=int, default=5, help="loads per page when measuring")
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    integration, reviewer = seed(args)
    if args.measure:
        measure(integration=integration, reviewer=reviewer, repeat=args.repeat)


def seed(args):
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from integrations.models import SyncedAccount, Tenant, TenantMembership
    from tests.factories import make_integration, make_synced_data

    tenant, _ = Tenant.objects.get_or_create(slug=args.tenant, defaults={"name": f"Scale ({args.tenant})"})
    if args.reset:
        tenant.integrations.all().delete()
    integration = tenant.integrations.first()
    if integration is None or SyncedAccount.objects.filter(integration=integration).count() != args.accounts:
        tenant.integrations.all().delete()
        started = time.perf_counter()
        with transaction.atomic():
            integration = make_integration(tenant=tenant, description=f"{args.accounts:,} accounts")
            data = make_synced_data(
                integration=integration,
                accounts=args.accounts,
                teams=args.teams,
                licenses=3,
                progress=lambda n: print(f"\r  {n:,} accounts", end="", flush=True),
            )
        print(
            f"\nSeeded {data.accounts:,} accounts, {data.memberships:,} team memberships, "
            f"{data.changes:,} changes in {time.perf_counter() - started:.1f} s"
        )
        analyze()
    else:
        print(f"Tenant {tenant.slug!r} already has {args.accounts:,} accounts (use --reset to seed again).")

    User = get_user_model()
    reviewer, created = User.objects.get_or_create(username=f"{args.tenant}-reviewer", defaults={"is_staff": True})
    if created:
        reviewer.set_unusable_password()
        reviewer.save()
    TenantMembership.objects.get_or_create(user=reviewer, tenant=tenant, defaults={"role": "reviewer"})
    return integration, reviewer


def analyze() -> None:
    """Fresh statistics, as the database would have them after autovacuum/`ANALYZE`."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def measure(*, integration, reviewer, repeat: int) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from integrations.models import SyncedAccount, Team

    team = Team.objects.filter(integration=integration).order_by("id").first()
    account = SyncedAccount.objects.filter(integration=integration, role="admin").order_by("id").first()
    accounts = "/admin/integrations/syncedaccount/"
    pages = [
        ("accounts, page 1", accounts),
        ("accounts, page 2", accounts + "?p=2"),
        ("accounts, page 500 (deep)", accounts + "?p=500"),
        ("accounts, sorted by email desc", accounts + "?o=-2"),
        ("accounts, role=admin", accounts + "?role=admin"),
        ("accounts, privileged=yes", accounts + "?privileged=yes"),
        ("accounts, team + manager", accounts + f"?team={team.pk}&team_role=manager"),
        ("accounts, invitation pending", accounts + "?invitation_pending__exact=1"),
        ("accounts, removed", accounts + "?status=removed"),
        ("accounts, license=none", accounts + "?license=none"),
        ("accounts, search name", accounts + "?q=User+04242"),
        ("accounts, search email part", accounts + "?q=user0999"),
        ("accounts, search PagerDuty id", accounts + "?q=PU0012345"),
        ("account detail", accounts + f"{account.pk}/change/"),
        ("changes, page 1", "/admin/integrations/accountchange/"),
        ("changes, grants privilege", "/admin/integrations/accountchange/?grants_privilege=yes"),
        ("teams", "/admin/integrations/team/"),
        ("team detail", f"/admin/integrations/team/{team.pk}/change/"),
        ("admin index (summary)", "/admin/"),
    ]
    client = Client(HTTP_HOST="localhost")
    client.force_login(reviewer)
    vendor = connection.vendor
    print(f"\n{vendor}: {SyncedAccount.objects.filter(integration=integration).count():,} accounts")
    print(f"{'page':40} {'status':>6} {'queries':>8} {'median ms':>10} {'max ms':>8}")
    for label, url in pages:
        client.get(url, secure=True)  # warm caches, as a reviewer clicking around would
        timings = []
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url, secure=True)
                timings.append((time.perf_counter() - started) * 1000)
        print(
            f"{label:40} {response.status_code:>6} {len(queries.captured_queries):>8} "
            f"{statistics.median(timings):>10.1f} {max(timings):>8.1f}"
        )

    # The export of every account, streamed: time, size, and how much the process grew.
    for fmt, action in (("csv", "export_csv"), ("json", "export_json")):
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        response = client.post(
            accounts,
            {"action": action, "select_across": "1", "index": "0", "_selected_action": [account.pk]},
            secure=True,
        )
        size = sum(len(piece) for piece in response.streaming_content)
        elapsed = time.perf_counter() - started
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            f"export {fmt} of every account: {elapsed:.1f} s, {size / 1e6:.1f} MB, "
            f"peak RSS grew {(rss_after - rss_before) / 1024:.0f} MB"
        )


if __name__ == "__main__":
    main()

"""`python manage.py exportaccounts [--integration ID] [--tenant SLUG] [--format csv|json]`."""

import os
import sys

from django.core.management.base import BaseCommand, CommandError

from integrations.exports import FORMATS, stream_export
from integrations.models import Integration, SyncedAccount, Tenant


class Command(BaseCommand):
    help = (
        "Write the synced accounts (every tenant, or one tenant or integration) to standard "
        "output as CSV or JSON, one account per row/object, with the keys listed in the README."
    )

    def add_arguments(self, parser):
        parser.add_argument("--integration", type=int, metavar="ID", help="Only this integration.")
        parser.add_argument("--tenant", metavar="SLUG", help="Only this tenant's integrations.")
        parser.add_argument("--format", choices=FORMATS, default="csv", help="csv (default) or json.")

    def handle(self, *args, integration=None, tenant=None, format="csv", **options):
        accounts = SyncedAccount.objects.order_by("integration_id", "name", "id")
        if tenant is not None:
            found = Tenant.objects.filter(slug=tenant).first()
            if found is None:
                raise CommandError(f"No tenant with slug {tenant!r}.")
            accounts = accounts.filter(integration__tenant=found)
        if integration is not None:
            found = Integration.objects.filter(pk=integration).select_related("tenant").first()
            if found is None:
                raise CommandError(f"No integration with id {integration}.")
            if tenant is not None and found.tenant.slug != tenant:
                raise CommandError(f"Integration {integration} does not belong to tenant {tenant!r}.")
            accounts = accounts.filter(integration=found)
        # Written piece by piece as the rows are read: memory stays flat for any size.
        try:
            for piece in stream_export(queryset=accounts, fmt=format):
                self.stdout.write(piece, ending="")
            self.stdout.flush()
        except BrokenPipeError:
            # The reader went away (`exportaccounts | head`): stop quietly, as Unix tools do.
            # Standard output goes to /dev/null so the interpreter's final flush cannot fail too.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

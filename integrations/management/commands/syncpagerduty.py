"""`python manage.py syncpagerduty`: sync configured PagerDuty integrations now."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db.models import QuerySet

from integrations.models import Integration, SyncRun, Tenant
from integrations.sync import AlreadySyncing, NotConfigured, integration_label, sync_integration
from integrations.tasks import queue_sync

TRIGGER = SyncRun.Trigger.COMMAND.value


def _selected(*, tenant_slug: str | None, integration_id: int | None) -> QuerySet[Integration]:
    integrations = (
        Integration.objects.filter(application__key="pagerduty")
        .select_related("tenant", "application")
        .order_by("tenant__name", "id")
    )
    if tenant_slug is not None:
        if not Tenant.objects.filter(slug=tenant_slug).exists():
            raise CommandError(f"No tenant with slug {tenant_slug!r}.")
        integrations = integrations.filter(tenant__slug=tenant_slug)
    if integration_id is not None:
        integration = integrations.filter(pk=integration_id).first()
        if integration is None:
            where = f" in tenant {tenant_slug!r}" if tenant_slug else ""
            raise CommandError(f"No PagerDuty integration with id {integration_id}{where}.")
        if not integration.is_configured:
            raise CommandError(
                f"{integration_label(integration)} is not configured: Configure and Integrate it first."
            )
        return integrations.filter(pk=integration_id)
    return integrations.configured()


class Command(BaseCommand):
    help = (
        "Sync every configured PagerDuty integration now, printing progress and one summary line "
        "each; exits non-zero if any failed. --tenant and --integration narrow the selection."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", metavar="SLUG", help="only this tenant's integrations")
        parser.add_argument("--integration", metavar="ID", type=int, help="only this integration")
        parser.add_argument(
            "--dry-run", action="store_true", help="fetch and print the changes, write nothing"
        )
        parser.add_argument(
            "--queue", action="store_true", help="queue the syncs for the django-q2 cluster instead"
        )

    def handle(self, *args, tenant=None, integration=None, dry_run=False, queue=False, **options):
        if dry_run and queue:
            raise CommandError("--dry-run runs here and now; it cannot be combined with --queue.")
        integrations = list(_selected(tenant_slug=tenant, integration_id=integration))
        if not integrations:
            self.stdout.write("No configured PagerDuty integrations to sync.")
            return

        if queue:
            for item in integrations:
                task_id = queue_sync(integration_id=item.pk, trigger=TRIGGER)
                self.stdout.write(f"{integration_label(item)}: queued (task {task_id})")
            return

        failed = []
        for item in integrations:
            if not self._sync(item, dry_run):
                failed.append(integration_label(item))
        if failed:
            raise CommandError(f"{len(failed)} of {len(integrations)} failed: {', '.join(failed)}")

    def _sync(self, integration: Integration, dry_run: bool) -> bool:
        """Sync one integration and print how it went; False when it failed."""
        label = integration_label(integration)
        self.stdout.write(f"{label}: {'dry run' if dry_run else 'syncing'}")
        try:
            result = sync_integration(
                integration_id=integration.pk,
                trigger=TRIGGER,
                dry_run=dry_run,
                progress=lambda line: self.stdout.write(f"  {line}"),
            )
        except AlreadySyncing:
            # Not a failure: another worker is syncing it right now.
            self.stdout.write(f"{label}: already syncing")
            return True
        except NotConfigured as error:  # its token was removed since the selection
            self.stdout.write(self.style.ERROR(str(error)))
            return False
        except Exception as error:  # a bug: logged with its traceback by the sync; go on with the others
            self.stdout.write(self.style.ERROR(f"{label}: failed: unexpected {type(error).__name__}; see the log"))
            return False
        for note in result.notes:
            self.stdout.write(f"  note: {note}")
        style = self.style.SUCCESS if result.ok else self.style.ERROR
        self.stdout.write(style(result.summary()))
        return result.ok

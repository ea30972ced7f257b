from zoneinfo import ZoneInfo

from django.apps import AppConfig
from django.conf import settings
from django.db import connections
from django.db.models.signals import post_migrate
from django.utils import timezone


def ensure_catalogue_after_migrate(sender, *, using="default", **kwargs):
    """Every application with a connector is in the catalogue after `migrate` (and after a
    test's flush, which empties what data migration 0002 put there)."""
    from integrations.connectors.registry import get_connector, registered_keys
    from integrations.models import ThirdPartyApplication

    for key in registered_keys():
        ThirdPartyApplication.objects.using(using).get_or_create(key=key, defaults={"name": get_connector(key).name})


def ensure_daily_schedule_after_migrate(sender, *, using="default", verbosity=1, **kwargs):
    """After `migrate`: create the daily sync schedule, or move it to SYNC_DAILY_AT."""
    from django_q.models import Schedule

    from integrations.schedule import ensure_daily_schedule

    # `migrate integrations` alone (or a partial migrate) may leave django_q's tables missing.
    if Schedule._meta.db_table not in connections[using].introspection.table_names():
        return
    schedule, changed = ensure_daily_schedule(using=using)
    from integrations.reviews.tasks import ensure_reminder_schedule

    ensure_reminder_schedule(using=using)
    if changed and verbosity >= 1:
        next_run = timezone.localtime(schedule.next_run, ZoneInfo(settings.TIME_ZONE))
        print(f"  Daily PagerDuty sync scheduled; next run {next_run:%Y-%m-%d %H:%M} {settings.TIME_ZONE}.")


class IntegrationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        # Database work happens in the handlers, after migrations, never here.
        post_migrate.connect(
            ensure_catalogue_after_migrate, sender=self, dispatch_uid="integrations.ensure_catalogue"
        )
        post_migrate.connect(
            ensure_daily_schedule_after_migrate,
            sender=self,
            dispatch_uid="integrations.ensure_daily_schedule",
        )

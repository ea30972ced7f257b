"""Demo data for `make demo`: a tenant, its admin and reviewer, and PagerDuty on the fake server.

The integration is added and configured through the services, exactly as the admin does it
(so the token check really runs against the fake), then synced once right here.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from integrations.models import Integration, SyncRun, Tenant, TenantMembership, ThirdPartyApplication
from integrations.services import add_integration, configure_integration
from integrations.sync import sync_integration

DEMO_TOKEN = "demo-token"  # the fake's token in scripts/demo.sh, never a real PagerDuty key
ACCOUNTS = (
    # username, password, tenant role
    ("demo", "demo-password", TenantMembership.Role.ADMIN),
    ("reviewer", "reviewer-password", TenantMembership.Role.REVIEWER),
)


class Command(BaseCommand):
    help = (
        "Create the demo tenant, users and PagerDuty integration against a fake PagerDuty "
        "(PAGERDUTY_API_BASE_URL) and sync it once. Used by `make demo`; DEBUG only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--token", default=DEMO_TOKEN, help="the fake PagerDuty's token")

    def handle(self, *args, token: str, **options):
        if not settings.DEBUG or not settings.PAGERDUTY_API_BASE_URL:
            raise CommandError(
                "The demo runs only with DJANGO_DEBUG=true and PAGERDUTY_API_BASE_URL pointing at a "
                "fake PagerDuty: use `make demo`."
            )
        # The fake's users are at acme.example; its contractors and private addresses are not.
        tenant, _ = Tenant.objects.get_or_create(
            slug="demo", defaults={"name": "Demo", "email_domains": "acme.example"}
        )
        users = [self._user(username, password, tenant, role) for username, password, role in ACCOUNTS]

        integration = Integration.objects.filter(tenant=tenant, application__key="pagerduty").first()
        if integration is None:
            integration = add_integration(
                tenant=tenant,
                application=ThirdPartyApplication.objects.get(key="pagerduty"),
                owner=users[0],
                description="Demo PagerDuty (fake, 300 users)",
            )
        # Validates the token against the fake; the first sync runs here, so none is queued.
        configure_integration(
            integration=integration, values={"access_token": token, "region": "us"}, queue_first_sync=False
        )
        result = sync_integration(
            integration_id=integration.pk,
            trigger=SyncRun.Trigger.CONFIGURE,
            progress=lambda line: self.stdout.write(f"  {line}"),
        )
        self.stdout.write(result.summary())

        address = os.environ.get("RUN_ADDR", "127.0.0.1:8000")
        self.stdout.write(self.style.SUCCESS(f"Demo ready: http://{address}/admin/"))
        for username, password, role in ACCOUNTS:
            self.stdout.write(f"  {role.label.lower():<9} log in as {username} / {password}")

    @staticmethod
    def _user(username: str, password: str, tenant: Tenant, role: str):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(username=username, password=password, is_staff=True)
        TenantMembership.objects.update_or_create(user=user, tenant=tenant, defaults={"role": role})
        return user

"""Add and configure an integration from the shell, exactly as the admin's two forms do.

    echo "$PAGERDUTY_TOKEN" | python manage.py addintegration --tenant acme \\
        --application pagerduty --description "Production" --owner alice --token-stdin

The token comes from standard input only (never argv, where `ps` and shell history see it).
It is checked with PagerDuty first; only an accepted token creates anything (tenant,
membership, integration, in one transaction). The new integration's id is the last line.
"""

from __future__ import annotations

import getpass
import sys

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction

from integrations.connectors.errors import IntegrationError
from integrations.connectors.registry import get_connector, registered_keys
from integrations.models import Tenant, TenantMembership, ThirdPartyApplication
from integrations.secrets import Secret
from integrations.services import add_integration, save_configuration, validate_configuration

SLUG_MAX_LENGTH = Tenant._meta.get_field("slug").max_length


class Command(BaseCommand):
    help = (
        "Add an integration to a tenant (created when it does not exist) and configure it with "
        "an access token read from standard input; prints the new integration's id last."
    )
    # Tests pass a stand-in for standard input.
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, metavar="SLUG", help="Tenant slug; created when missing.")
        parser.add_argument("--application", required=True, metavar="KEY", help="Application key, e.g. pagerduty.")
        parser.add_argument("--description", required=True, metavar="TEXT")
        parser.add_argument(
            "--tenant-name", metavar="NAME", help="Name of a new tenant (default: made from the slug)."
        )
        parser.add_argument(
            "--owner",
            metavar="USERNAME",
            help="Primary Application Owner: a member of the tenant; made its admin when the tenant is new.",
        )
        parser.add_argument("--region", default="us", type=str.lower, metavar="us|eu", help="Service region.")
        parser.add_argument(
            "--token-stdin",
            action="store_true",
            help="Read the access token from standard input (required; prompts when it is a terminal).",
        )

    def handle(self, *args, **options):
        if not options["token_stdin"]:
            raise CommandError(
                "--token-stdin is required: pipe the access token into this command "
                "(tokens are never taken from the command line)."
            )
        slug = options["tenant"].strip()
        application = self._application(options["application"].strip())
        connector = get_connector(application.key)
        region = self._region(connector, options["region"])
        self._validate_slug(slug)
        tenant = Tenant.objects.filter(slug=slug).first()
        owner = self._owner(options["owner"], tenant=tenant, slug=slug)
        token = Secret(self._read_token(options.get("stdin") or sys.stdin))
        secret_field = connector.secret_fields()[0].name
        values = {secret_field: token, "region": region}

        tenant_name = (options["tenant_name"] or "").strip() or name_from_slug(slug)
        self.stdout.write(f"Checking the access token with {application.name} ({region.upper()} region)...")
        try:
            # The one request to the application, before any write: a rejected token leaves
            # nothing behind, and no transaction is held open while the request runs.
            configuration = validate_configuration(application=application, values=values)
        except IntegrationError as error:
            raise CommandError(
                f"The token could not be validated, nothing was created: {error.message.rstrip('.')}."
            ) from None
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None

        created_tenant = tenant is None
        try:
            with transaction.atomic():
                if created_tenant:
                    tenant = Tenant.objects.create(slug=slug, name=tenant_name)
                    if owner is not None:
                        TenantMembership.objects.create(
                            tenant=tenant, user=owner, role=TenantMembership.Role.ADMIN
                        )
                integration = add_integration(
                    tenant=tenant, application=application, owner=owner, description=options["description"]
                )
                integration = save_configuration(integration=integration, configuration=configuration)
        except IntegrityError:
            # Someone created the same tenant slug while the token was being checked.
            raise CommandError(f"Tenant {slug!r} was created meanwhile; nothing was created, run again.") from None

        if created_tenant:
            self.stdout.write(f"Created tenant {tenant.name} ({tenant.slug}).")
            if owner is not None:
                self.stdout.write(f"Made {owner.get_username()} an admin of {tenant.slug}.")
        else:
            self.stdout.write(f"Using tenant {tenant.name} ({tenant.slug}).")
        self.stdout.write(
            f"Added {integration} to {tenant.slug}: token {integration.secret_hints[secret_field]} accepted, "
            f"status {integration.get_status_display()} ({integration.message}); first sync queued."
        )
        self.stdout.write(str(integration.pk))

    def _application(self, key: str) -> ThirdPartyApplication:
        application = ThirdPartyApplication.objects.filter(key=key, key__in=registered_keys()).first()
        if application is None:
            known = ThirdPartyApplication.objects.filter(key__in=registered_keys()).values_list("key", flat=True)
            raise CommandError(
                f"Unknown application {key!r}. Known applications: {', '.join(known) or 'none (run migrate)'}."
            )
        return application

    def _region(self, connector, region: str) -> str:
        choices = [value for field in connector.plain_fields() if field.name == "region" for value, _ in field.choices]
        if region not in choices:
            raise CommandError(f"Unknown service region {region!r}: use one of {', '.join(choices)}.")
        return region

    def _validate_slug(self, slug: str) -> None:
        try:
            validate_slug(slug)
        except ValidationError:
            raise CommandError(
                f"Invalid tenant slug {slug!r}: use letters, numbers, hyphens and underscores."
            ) from None
        if len(slug) > SLUG_MAX_LENGTH:
            raise CommandError(f"Invalid tenant slug: at most {SLUG_MAX_LENGTH} characters.")

    def _owner(self, username: str | None, *, tenant: Tenant | None, slug: str):
        """The Primary Application Owner: a member of an existing tenant, any active user for a new one."""
        if not username:
            return None
        owner = get_user_model()._default_manager.filter(username=username).first()
        if owner is None:
            raise CommandError(f"No user named {username!r}; create it first (manage.py createsuperuser or the admin).")
        if not owner.is_active:
            raise CommandError(f"User {username!r} is inactive.")
        if tenant is not None and not TenantMembership.objects.filter(tenant=tenant, user=owner).exists():
            raise CommandError(
                f"User {username!r} is not a member of tenant {slug!r}; the Primary Application Owner "
                "must belong to the tenant. Add the membership in the admin first."
            )
        return owner

    def _read_token(self, stdin) -> str:
        if stdin.isatty():
            token = getpass.getpass("Access token (not echoed): ")
        else:
            token = stdin.read()
            # One trailing newline, as `echo` and files add; nothing else is touched here.
            token = token.removesuffix("\n").removesuffix("\r")
        if not token.strip():
            raise CommandError("The access token read from standard input is empty.")
        return token


def name_from_slug(slug: str) -> str:
    """acme-corp → Acme Corp."""
    return " ".join(part.capitalize() for part in slug.replace("_", "-").split("-") if part) or slug

"""Admin forms for integrations: they collect and check input; the services do the writing."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from integrations.connectors.base import ConfigField
from integrations.connectors.registry import registered_keys
from integrations.models import Integration, Tenant, ThirdPartyApplication

OWNER_LABEL = "Primary Application Owner"


def members_of(tenants: QuerySet[Tenant] | list[Tenant]) -> QuerySet:
    """Users who belong to one of `tenants`: the only possible owners of their integrations."""
    return (
        get_user_model()
        .objects.filter(tenant_memberships__tenant__in=tenants, is_active=True)
        .distinct()
        .order_by("username")
    )


class OwnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user) -> str:
        full_name = user.get_full_name()
        return f"{full_name} ({user.get_username()})" if full_name else user.get_username()


class IntegrationAddForm(forms.Form):
    """Add Integration. With `tenant` given (tenant admins) there is no tenant field;
    otherwise (superusers) the tenant is chosen among `tenants`."""

    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none(), label="Tenant")
    application = forms.ModelChoiceField(
        queryset=ThirdPartyApplication.objects.none(), label="Application", empty_label=None
    )
    owner = OwnerChoiceField(
        queryset=get_user_model().objects.none(),
        label=OWNER_LABEL,
        required=False,
        help_text="A member of the tenant who answers for this application in access reviews.",
    )
    description = forms.CharField(
        label="Description",
        max_length=Integration._meta.get_field("description").max_length,
        required=False,
        help_text="Optional, to tell this integration apart, e.g. “Production PagerDuty”.",
    )

    def __init__(self, *args, user, tenant: Tenant | None, tenants: QuerySet[Tenant], **kwargs):
        super().__init__(*args, **kwargs)
        self.fixed_tenant = tenant
        self.fields["application"].queryset = ThirdPartyApplication.objects.filter(
            key__in=registered_keys()
        )
        if tenant is not None:
            del self.fields["tenant"]
            self.fields["owner"].queryset = members_of([tenant])
            if self.fields["owner"].queryset.filter(pk=user.pk).exists():
                self.fields["owner"].initial = user.pk
        else:
            self.fields["tenant"].queryset = tenants
            if len(tenants) == 1:
                self.fields["tenant"].initial = tenants[0].pk
            # Without the tenant chosen yet, offer members of every tenant in view;
            # add_integration refuses an owner from another tenant than the one chosen.
            self.fields["owner"].queryset = members_of(tenants)
            self.fields["owner"].help_text += " Must be a member of the tenant chosen above."

    @property
    def target_tenant(self) -> Tenant:
        return self.fixed_tenant or self.cleaned_data["tenant"]


class IntegrationChangeForm(forms.ModelForm):
    """The change page edits only the owner and the description; the rest is read-only."""

    class Meta:
        model = Integration
        fields = ["owner", "description"]
        field_classes = {"owner": OwnerChoiceField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "owner" in self.fields:
            self.fields["owner"].queryset = members_of([self.instance.tenant])


class ConfigureIntegrationForm(forms.Form):
    """Configure and Integrate, built from the connector's configuration fields.

    Secret fields are write-only: never rendered back, only their saved hint is named.
    Leaving a saved secret empty keeps it (it is checked again with the other values).
    """

    def __init__(self, *args, integration: Integration, **kwargs):
        super().__init__(*args, **kwargs)
        self.integration = integration
        for config_field in integration.connector.configuration_fields:
            self.fields[config_field.name] = self._form_field(config_field)

    def _form_field(self, config_field: ConfigField) -> forms.Field:
        if config_field.choices:
            return forms.ChoiceField(
                label=config_field.label,
                choices=config_field.choices,
                initial=self.integration.configuration.get(config_field.name, config_field.default),
                help_text=config_field.help_text,
            )
        if not config_field.secret:
            return forms.CharField(
                label=config_field.label,
                max_length=config_field.max_length,
                initial=self.integration.configuration.get(config_field.name, config_field.default),
                help_text=config_field.help_text,
            )
        hint = self.integration.secret_hints.get(config_field.name)
        help_text = config_field.help_text
        if hint:
            help_text = f"A token is saved ({hint}); enter a new one to replace it. {help_text}"
        return forms.CharField(
            label=config_field.label,
            strip=True,
            max_length=config_field.max_length,
            required=not hint,
            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
            help_text=help_text,
        )

"""Admin forms for integrations: they collect and check input; the services do the writing."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from integrations.connectors.registry import CONNECTORS
from integrations.models import Integration, Tenant, ThirdPartyApplication

OWNER_LABEL = "Primary Application Owner"

ACCESS_TOKEN_HELP = (
    "A read-only API key is required. In PagerDuty, log in as an admin or owner, go to "
    "Integrations > Developer Tools > API Access Keys, click Create New API Key, enter a "
    "description and check Read-only API Key. Preferably create it for a dedicated service "
    "account rather than a person's account."
)
REGION_HELP = "Where your PagerDuty account is hosted: EU if you sign in at your-subdomain.eu.pagerduty.com."


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
            key__in=list(CONNECTORS)
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
    """Configure and Integrate: the token is write-only, only its hint is ever shown back."""

    access_token = forms.CharField(
        label="Access Token",
        strip=True,
        max_length=255,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=ACCESS_TOKEN_HELP,
    )
    region = forms.ChoiceField(
        label="Service Region", choices=Integration.Region.choices, help_text=REGION_HELP
    )

    def __init__(self, *args, integration: Integration, **kwargs):
        super().__init__(*args, initial={"region": integration.region}, **kwargs)
        self.integration = integration
        if integration.token_hint:
            # Leaving it empty keeps the saved token; it is checked again with the region chosen.
            self.fields["access_token"].required = False
            self.fields["access_token"].help_text = (
                f"A token is saved ({integration.token_hint}); enter a new one to replace it. "
                f"{ACCESS_TOKEN_HELP}"
            )

    def token_to_validate(self) -> str:
        return self.cleaned_data["access_token"] or self.integration.access_token

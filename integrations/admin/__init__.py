"""The Django admin of balkan_pd, one module per area; every list is scoped to the active tenant."""

from integrations.admin import accounts, integrations, sync_runs, tenancy  # noqa: F401  (registers)

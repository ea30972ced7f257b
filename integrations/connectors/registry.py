"""Application key (ThirdPartyApplication.key) → connector class.

Dotted paths keep this module free of imports, so models can use it without a cycle; a
second application is one more line here (or in the CONNECTORS setting) and a package
beside pagerduty.
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

CONNECTORS: dict[str, str] = {
    "pagerduty": "integrations.connectors.pagerduty.connector.PagerDutyConnector",
}


def connector_paths() -> dict[str, str]:
    """The built-in connectors and those a deployment (or the test suite) adds in settings."""
    return {**CONNECTORS, **getattr(settings, "EXTRA_CONNECTORS", {})}


def registered_keys() -> list[str]:
    return list(connector_paths())


@cache
def _load(path: str):
    return import_string(path)()


def get_connector(key: str):
    """The connector of an application key; LookupError for a key no connector serves."""
    try:
        path = connector_paths()[key]
    except KeyError:
        known = ", ".join(sorted(connector_paths()))
        raise LookupError(f"unknown application {key!r} (known: {known})") from None
    return _load(path)


def all_connectors() -> list:
    return [get_connector(key) for key in connector_paths()]

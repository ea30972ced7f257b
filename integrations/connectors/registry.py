"""Application key (ThirdPartyApplication.key) → connector class.

Dotted paths keep this module free of imports, so models can import connector constants
without a cycle; a second application is one more line here and a package beside pagerduty.
"""

from django.utils.module_loading import import_string

CONNECTORS: dict[str, str] = {
    "pagerduty": "integrations.connectors.pagerduty.connector.PagerDutyConnector",
}


class UnknownApplication(LookupError):
    pass


def get_connector(key: str):
    try:
        path = CONNECTORS[key]
    except KeyError:
        known = ", ".join(sorted(CONNECTORS))
        raise UnknownApplication(f"unknown application {key!r} (known: {known})") from None
    return import_string(path)()

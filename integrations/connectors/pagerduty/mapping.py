"""PagerDuty JSON → the field values of our models, checked shape by shape.

Whatever PagerDuty (or anything in between) sends, a wrong shape or type becomes an
`UnexpectedResponse` with a plain message, never a KeyError or TypeError half-way through.
Text longer than our columns is cut to fit, and NUL characters (which PostgreSQL cannot
store in text) are dropped: one odd name must not stop a whole sync.
"""

from __future__ import annotations

from typing import Any

from integrations.connectors.errors import UnexpectedResponse
from integrations.models import License, SyncedAccount, Team, TeamMembership

ID_MAX_LENGTH = SyncedAccount._meta.get_field("external_id").max_length
TEAM_ROLE_MAX_LENGTH = TeamMembership._meta.get_field("role").max_length
# Far beyond any PagerDuty account (10,000 SCIM pages), yet a bound: a corrupt totalResults
# must not queue billions of page requests.
MAX_SCIM_USERS = 1_000_000


def _fail(what: str, where: str) -> UnexpectedResponse:
    return UnexpectedResponse(f"unexpected response: PagerDuty sent {what} in {where}")


def _object(value: Any, what: str, where: str) -> dict:
    if not isinstance(value, dict):
        raise _fail(f"{what} that is not an object", where)
    return value


def _id(obj: dict, what: str, where: str) -> str:
    value = obj.get("id")
    if not isinstance(value, str) or not value or len(value) > ID_MAX_LENGTH or "\x00" in value:
        raise _fail(f"{what} without a valid id", where)
    return value


def _text(obj: dict, key: str, where: str, *, model, field: str | None = None, required: bool = False) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise _fail(f"an '{key}' field that is not text", where)
    return _storable(value, model._meta.get_field(field or key).max_length)


def _storable(value: str, max_length: int | None) -> str:
    """Text as a column can hold it: without NUL, cut to the column's length."""
    return value.replace("\x00", "")[:max_length]


def _flag(obj: dict, key: str, where: str) -> bool:
    value = obj.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _fail(f"an '{key}' field that is not true or false", where)
    return value


def page_items(body: dict, key: str, where: str) -> list:
    items = body.get(key)
    if not isinstance(items, list):
        raise _fail(f"no list of {key}", where)
    return items


def page_more(body: dict, where: str) -> bool:
    more = body.get("more", False)
    if not isinstance(more, bool):
        raise _fail("a 'more' that is not true or false", where)
    return more


def page_total(body: dict, where: str) -> int | None:
    total = body.get("total")
    if total is None:
        return None
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise _fail("a 'total' that is not a count", where)
    return total


def user_fields(raw: Any, where: str) -> dict[str, Any]:
    """A /users entry → SyncedAccount fields, keyed by model field name."""
    user = _object(raw, "a user", where)
    return {
        "external_id": _id(user, "a user", where),
        "name": _text(user, "name", where, model=SyncedAccount, required=True),
        "email": _text(user, "email", where, model=SyncedAccount, required=True),
        "role": _text(user, "role", where, model=SyncedAccount, required=True),
        "job_title": _text(user, "job_title", where, model=SyncedAccount),
        "time_zone": _text(user, "time_zone", where, model=SyncedAccount),
        "invitation_pending": _flag(user, "invitation_sent", where),
        "created_via_sso": _flag(user, "created_via_sso", where),
        "html_url": _text(user, "html_url", where, model=SyncedAccount),
    }


def team_fields(raw: Any, where: str) -> dict[str, Any]:
    team = _object(raw, "a team", where)
    return {
        "external_id": _id(team, "a team", where),
        "name": _text(team, "name", where, model=Team, required=True),
        "description": _text(team, "description", where, model=Team),
        "html_url": _text(team, "html_url", where, model=Team),
    }


def member_role(raw: Any, where: str) -> tuple[str, str]:
    """A /teams/{id}/members entry → (user id, team role as PagerDuty names it)."""
    member = _object(raw, "a team member", where)
    user = _object(member.get("user"), "a team member's user", where)
    role = member.get("role")
    if not isinstance(role, str):
        raise _fail("a team role that is not text", where)
    return _id(user, "a team member", where), _storable(role, TEAM_ROLE_MAX_LENGTH)


def license_fields(raw: Any, where: str) -> dict[str, Any]:
    lic = _object(raw, "a license", where)
    return {
        "external_id": _id(lic, "a license", where),
        "name": _text(lic, "name", where, model=License, required=True),
        "description": _text(lic, "description", where, model=License),
        "role_group": _text(lic, "role_group", where, model=License),
    }


def allocation(raw: Any, where: str) -> tuple[str, str]:
    """A /license_allocations entry → (user id, license id)."""
    entry = _object(raw, "a license allocation", where)
    user = _object(entry.get("user"), "an allocation's user", where)
    lic = _object(entry.get("license"), "an allocation's license", where)
    return _id(user, "an allocation's user", where), _id(lic, "an allocation's license", where)


def scim_total(body: dict, where: str) -> int:
    """SCIM's user count, which decides how many pages are fetched: an absurd one is refused."""
    total = body.get("totalResults")
    if isinstance(total, bool) or not isinstance(total, int) or not 0 <= total <= MAX_SCIM_USERS:
        raise _fail("a 'totalResults' that is not a count", where)
    return total


def scim_user(raw: Any, where: str) -> tuple[str, str | None]:
    """A SCIM user → (userName, which PagerDuty sets to the email; license id, if any).

    PagerDuty gives each SCIM user one entitlement of type "license" holding its license id.
    """
    resource = _object(raw, "a SCIM user", where)
    name = resource.get("userName")
    if not isinstance(name, str) or not name:
        raise _fail("a SCIM user without a userName", where)
    entitlements = resource.get("entitlements") or []
    if not isinstance(entitlements, list):
        raise _fail("SCIM entitlements that are not a list", where)
    license_id = None
    for entitlement in entitlements:
        entitlement = _object(entitlement, "a SCIM entitlement", where)
        if entitlement.get("type") == "license":
            license_id = entitlement.get("value")
            if not isinstance(license_id, str) or not license_id:
                raise _fail("a SCIM license entitlement without a value", where)
    return name, license_id

"""PagerDuty JSON → the field values of our models, checked shape by shape.

Whatever PagerDuty (or anything in between) sends, a wrong shape or type becomes an
`UnexpectedResponse` with a plain message, never a KeyError or TypeError half-way through.
Text is kept whole. What no database can store is made storable instead of failing the
sync: NUL characters (which PostgreSQL refuses in text) are dropped, lone surrogates (which
no UTF-8 database takes) become U+FFFD. One odd name must not stop a whole sync.
"""

from __future__ import annotations

import re
from typing import Any

from integrations.connectors.errors import UnexpectedResponse
from integrations.models import SyncedAccount

ID_MAX_LENGTH = SyncedAccount._meta.get_field("external_id").max_length
# PostgreSQL refuses a btree index entry above about 2,700 bytes, and name, email and roles
# are indexed (lists filter and sort on them). PagerDuty caps them at 100 characters, so only
# a broken answer gets here: such a value is kept as far as the index takes it, and says so.
INDEXED_TEXT_MAX_BYTES = 2000
# json decodes an escaped pair into one character, so a surrogate left in a str is alone.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
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
    if (
        not isinstance(value, str) or not value or len(value) > ID_MAX_LENGTH
        or "\x00" in value or LONE_SURROGATE.search(value)
    ):
        raise _fail(f"{what} without a valid id", where)
    return value


def _text(obj: dict, key: str, where: str, *, indexed: bool = False, required: bool = False) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise _fail(f"an '{key}' field that is not text", where)
    return _storable(value, indexed=indexed)


def _storable(value: str, *, indexed: bool = False) -> str:
    """Text whole, as every database can store it: without NUL, lone surrogates as U+FFFD."""
    value = value.replace("\x00", "")
    try:
        encoded = value.encode()
    except UnicodeEncodeError:  # a lone surrogate, from a \ud800 escape in the JSON
        value = LONE_SURROGATE.sub("\ufffd", value)
        encoded = value.encode()
    if indexed and len(encoded) > INDEXED_TEXT_MAX_BYTES:
        return _marked_short(value, encoded)
    return value


def _marked_short(value: str, encoded: bytes) -> str:
    mark = f"… [shortened: {len(value):,} characters from PagerDuty, more than an index holds]"
    keep = encoded[: INDEXED_TEXT_MAX_BYTES - len(mark.encode())].decode("utf-8", "ignore")
    return keep + mark


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
        "name": _text(user, "name", where, indexed=True, required=True),
        "email": _text(user, "email", where, indexed=True, required=True),
        "role": _text(user, "role", where, indexed=True, required=True),
        "job_title": _text(user, "job_title", where),
        "time_zone": _text(user, "time_zone", where),
        "invitation_pending": _flag(user, "invitation_sent", where),
        "created_via_sso": _flag(user, "created_via_sso", where),
        "html_url": _text(user, "html_url", where),
    }


def team_fields(raw: Any, where: str) -> dict[str, Any]:
    team = _object(raw, "a team", where)
    return {
        "external_id": _id(team, "a team", where),
        "name": _text(team, "name", where, required=True),
        "description": _text(team, "description", where),
        "html_url": _text(team, "html_url", where),
    }


def member_role(raw: Any, where: str) -> tuple[str, str]:
    """A /teams/{id}/members entry → (user id, team role as PagerDuty names it)."""
    member = _object(raw, "a team member", where)
    user = _object(member.get("user"), "a team member's user", where)
    role = member.get("role")
    if not isinstance(role, str):
        raise _fail("a team role that is not text", where)
    return _id(user, "a team member", where), _storable(role, indexed=True)


def license_fields(raw: Any, where: str) -> dict[str, Any]:
    lic = _object(raw, "a license", where)
    return {
        "external_id": _id(lic, "a license", where),
        "name": _text(lic, "name", where, required=True),
        "description": _text(lic, "description", where),
        "role_group": _text(lic, "role_group", where),
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


def scim_active(raw: Any, where: str) -> bool:
    """Whether a SCIM user is active. SCIM also lists deactivated users, which /users no
    longer has: they are not users to reach. Absent means active (SCIM's default)."""
    resource = _object(raw, "a SCIM user", where)
    active = resource.get("active", True)
    if not isinstance(active, bool):
        raise _fail("a SCIM 'active' that is not true or false", where)
    return active

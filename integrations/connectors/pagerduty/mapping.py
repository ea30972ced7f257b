"""PagerDuty JSON → the field values of our models, checked shape by shape.

Whatever PagerDuty (or anything in between) sends, a wrong shape or type becomes an
`UnexpectedResponse` with a plain message, never a KeyError or TypeError half-way through.
Text is kept whole. What no database can store is made storable instead of failing the
sync: NUL characters (which PostgreSQL refuses in text) are dropped, lone surrogates (which
no UTF-8 database takes) become U+FFFD. One odd name must not stop a whole sync.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from integrations.connectors.base import Attribution, OnCallEntry
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
        "valid_roles": license_valid_roles(lic, where),
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


def license_valid_roles(raw: Any, where: str) -> list[str]:
    """A license's `valid_roles`: the roles its holder may have (absent: none listed)."""
    lic = _object(raw, "a license", where)
    roles = lic.get("valid_roles")
    if roles is None:
        return []
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise _fail("'valid_roles' that are not a list of text", where)
    return [_storable(role) for role in roles]


# --- The audit trail (/audit/records) -----------------------------------------------------

# PagerDuty's actor and method types → models.ActorType / models.ActorMethod values.
ACTOR_TYPES = {"user_reference": "user", "api_key_reference": "api_token", "app_reference": "app"}
METHODS = {
    "browser": "web",
    "api_token": "api_token",
    "oauth": "oauth",
    "identity_provider": "identity_provider",
    "other": "other",
}
# Fields of a user record whose change the engine records, and as what.
USER_FIELD_KINDS = {"role": "role_changed", "email": "email_changed"}


def _when(obj: dict, key: str, where: str, *, required: bool = False) -> datetime | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise _fail(f"a '{key}' that is not a time", where)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(f"a '{key}' that is not a time", where) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def audit_cursor(body: dict, where: str) -> str | None:
    cursor = body.get("next_cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise _fail("a 'next_cursor' that is not text", where)
    return cursor or None


def _references(value: Any, what: str, where: str) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(f"{what} that are not a list", where)
    return [_object(item, what, where) for item in value]


def audit_attributions(raw: Any, where: str) -> list[Attribution]:
    """One audit record → the account changes it explains (none for other changes).

    A user record explains the user's creation (added), deletion (removed) and role or email
    updates; a team record explains the team roles of the users it names: in its members
    references (joined, left) or as the changed resource.
    """
    record = _object(raw, "an audit record", where)
    at = _when(record, "execution_time", where, required=True)
    root = _object(record.get("root_resource"), "an audit record's root resource", where)
    root_id = _id(root, "an audit record's root resource", where)
    action = record.get("action")
    method = _object(record.get("method"), "an audit record's method", where)
    method_type = METHODS.get(method.get("type"), "other")
    actors = _references(record.get("actors"), "audit record actors", where)
    actor = actors[0] if actors else {}
    actor_type = ACTOR_TYPES.get(actor.get("type"), "")
    if method_type == "identity_provider":
        # Provisioned by the identity provider: SCIM when it says so, else SSO (JIT).
        name = f"{actor.get('summary') or ''}".lower()
        actor_type = "scim" if "scim" in name else "sso"
    elif not actor_type:
        actor_type = "api_token" if method_type == "api_token" else "other"
    who = dict(
        at=at,
        actor_name=_storable(actor["summary"]) if isinstance(actor.get("summary"), str) else "",
        actor_type=actor_type,
        method=method_type,
    )
    details = record.get("details")
    details = _object(details, "an audit record's details", where) if details is not None else {}
    fields = _references(details.get("fields"), "audit record fields", where)
    kind_of_root = root.get("type")
    if kind_of_root == "user_reference":
        if action == "create":
            return [Attribution(root_id, "added", **who)]
        if action == "delete":
            return [Attribution(root_id, "removed", **who)]
        kinds = dict.fromkeys(USER_FIELD_KINDS[f.get("name")] for f in fields if f.get("name") in USER_FIELD_KINDS)
        return [Attribution(root_id, kind, **who) for kind in kinds]
    if kind_of_root == "team_reference":
        users: dict[str, None] = {}
        for reference in _references(details.get("references"), "audit record references", where):
            for side in ("added", "removed"):
                for ref in _references(reference.get(side), "audit record references", where):
                    if ref.get("type") == "user_reference":
                        users[_id(ref, "a referenced user", where)] = None
        resource = details.get("resource")
        if isinstance(resource, dict) and resource.get("type") == "user_reference":
            users[_id(resource, "an audit record's resource", where)] = None
        return [Attribution(user_id, "team_role_changed", team_id=root_id, **who) for user_id in users]
    return []


# --- Who is on call (/oncalls) -------------------------------------------------------------


def on_call_entry(raw: Any, where: str) -> OnCallEntry:
    entry = _object(raw, "an on-call entry", where)
    user = _object(entry.get("user"), "an on-call entry's user", where)
    policy = _object(entry.get("escalation_policy"), "an on-call entry's escalation policy", where)
    level = entry.get("escalation_level")
    if isinstance(level, bool) or not isinstance(level, int) or level < 0:
        raise _fail("an 'escalation_level' that is not a level", where)
    schedule = entry.get("schedule")
    schedule = _object(schedule, "an on-call entry's schedule", where) if schedule is not None else {}
    return OnCallEntry(
        account_id=_id(user, "an on-call entry's user", where),
        policy_id=_id(policy, "an on-call entry's escalation policy", where),
        policy_name=_text(policy, "summary", where) or policy["id"],
        level=level,
        policy_url=_text(policy, "html_url", where),
        schedule_name=_text(schedule, "summary", where) if schedule else "",
        starts_at=_when(entry, "start", where),
        ends_at=_when(entry, "end", where),
    )

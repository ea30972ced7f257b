"""Deterministic, mutable PagerDuty account data for the fake server.

Every object is a plain dict shaped like the PagerDuty REST API v2 object of the same
kind, so the server can serialise them as they are and tests can compare against them.
"""

from __future__ import annotations

import bisect
import functools
import math
import random
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

API_URL = "https://api.pagerduty.com"
WEB_URL = "https://acme.pagerduty.com"
AVATAR_URL = "https://pd-static-assets.pagerduty.com/users/blank-avatar.png"

# Base roles, owner first.
ROLES: tuple[str, ...] = (
    "owner",
    "admin",
    "read_only_user",
    "read_only_limited_user",
    "user",
    "limited_user",
    "observer",
    "restricted_access",
)
# A role value PagerDuty no longer documents; consumers must keep it as it came.
LEGACY_ROLE = "legacy_stakeholder"
STAKEHOLDER_ROLES = frozenset({"read_only_user", "read_only_limited_user", LEGACY_ROLE})
FULL_USER_ROLES = ("owner", "admin", "user", "limited_user", "observer", "restricted_access")
TEAM_ROLES: tuple[str, ...] = ("manager", "responder", "observer")

# Names that exercise escaping, encoding and CSV export; placed at the start of the list.
SPECIAL_NAMES: tuple[str, ...] = (
    "Zoë Ångström",
    "Đorđe Petrović",
    "李雷",
    "<script>alert(1)</script> Mallory",
    "<b>Bold</b> Bob",
    '=HYPERLINK("https://evil.example","Eve")',
    "Siobhán O'Brien-Núñez",
    "Ünal Çelik",
)
SPECIAL_TEAM_NAME = '<img src=x onerror=alert(1)> SRE "Night" & Day'

_FIRST = (
    "Ana", "Marko", "Jelena", "Nikola", "Ivana", "Stefan", "Milica", "Luka", "Sara", "Filip",
    "Emma", "Liam", "Olivia", "Noah", "Ava", "Elijah", "Sophia", "James", "Mia", "Lucas",
    "Zoë", "Đorđe", "Mirela", "Dušan", "Željka", "Søren", "Chloé", "José", "Aiko", "Hiroshi",
    "Priya", "Arjun", "Fatima", "Omar", "Ngozi", "Kwame", "Ingrid", "Björn", "Łukasz", "Ágnes",
)
_LAST = (
    "Petrović", "Jovanović", "Nikolić", "Marković", "Đorđević", "Stojanović", "Ilić", "Popović",
    "Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Martinez",
    "Ångström", "Müller", "Schäfer", "Dubois", "Kowalski", "Novák", "Horváth", "Yılmaz",
    "Tanaka", "Suzuki", "Patel", "Sharma", "Okafor", "Mensah", "Larsen", "O'Connor",
)
_JOB_TITLES = (
    "Site Reliability Engineer", "Software Engineer", "Engineering Manager", "Director of Engineering",
    "Support Engineer", "Security Analyst", "Product Manager", "Incident Commander", "CTO",
    "Database Administrator", "Network Engineer", "Customer Success Lead",
)
_TIME_ZONES = (
    "Europe/Belgrade", "Europe/Zagreb", "Europe/Sarajevo", "Europe/London", "America/New_York",
    "America/Los_Angeles", "America/Lima", "Asia/Tokyo", "Asia/Kolkata", "Australia/Sydney", "UTC",
)
_COLORS = ("green", "red", "purple", "teal", "orange", "brown", "turquoise", "dark-slate-blue")
_DESCRIPTIONS = ("", "On call for the payments stack.", "Escalation contact.", None)
_TEAM_WORDS = (
    "Platform", "Payments", "Search", "Mobile", "Data", "Identity", "Networking", "Storage",
    "Billing", "Checkout", "Edge", "Observability", "Security", "Core API", "Frontend", "Support",
)
_TEAM_KINDS = ("Ops", "SRE", "Engineering", "On-call", "Infrastructure", "Response")

_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_SCIM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # base32, like PagerDuty's SCIM ids
_EPOCH = datetime(2022, 1, 3, 9, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class LicenseSpec:
    name: str
    description: str
    role_group: str  # "FullUser" or "Stakeholder"
    valid_roles: tuple[str, ...]
    headroom: int | None  # seats left unallocated; None = unlimited


_LICENSES = (
    LicenseSpec("Business (Full User)", "Business", "FullUser", FULL_USER_ROLES, 25),
    LicenseSpec("Business (Stakeholder)", "", "Stakeholder",
                ("read_only_user", "read_only_limited_user"), None),
    LicenseSpec("Digital Operations (Full User)", "Digital Operations with AIOps", "FullUser",
                FULL_USER_ROLES, 5),
)


def user_reference(user: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": user["id"],
        "type": "user_reference",
        "summary": user["name"],
        "self": user["self"],
        "html_url": user["html_url"],
    }


def _team_reference(team: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": team["id"],
        "type": "team_reference",
        "summary": team["name"],
        "self": team["self"],
        "html_url": team["html_url"],
    }


def _license_reference(lic: dict[str, Any]) -> dict[str, Any]:
    """The license as embedded in an allocation: no counts."""
    return {k: lic[k] for k in ("id", "type", "name", "summary", "description", "role_group", "valid_roles")}


AUDIT_MAX_DAYS = 31
SEARCH_CACHE_SIZE = 64  # queries; a sync pages each query right after probing it


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def web_actor(user: dict[str, Any]) -> dict[str, Any]:
    """A person in the web app, as an audit record names them."""
    return {"actors": [user_reference(user)], "method": {"type": "browser", "truncated_token": None}}


def api_token_actor(name: str = "Terraform Cloud", token: str = "3xyz") -> dict[str, Any]:
    """An API key, as an audit record names it."""
    key_id = "PKEY" + "".join(c for c in name.upper() if c.isalnum())[:3].ljust(3, "X")
    return {
        "actors": [{"id": key_id, "type": "api_key_reference", "summary": name, "self": None, "html_url": None}],
        "method": {"type": "api_token", "truncated_token": token},
    }


def scim_actor(name: str = "Okta SCIM provisioning") -> dict[str, Any]:
    """The identity provider's SCIM provisioning."""
    return {
        "actors": [{"id": "PAPPSCM", "type": "app_reference", "summary": name, "self": None, "html_url": None}],
        "method": {"type": "identity_provider", "truncated_token": None},
    }


def sso_actor() -> dict[str, Any]:
    """Just-in-time provisioning at an SSO login: no actor of its own."""
    return {"actors": [], "method": {"type": "identity_provider", "truncated_token": None}}


@functools.lru_cache(maxsize=4096)
def _email_local_part(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name.replace("Đ", "D").replace("đ", "d").replace("ł", "l")
                                       .replace("Ł", "L").replace("ø", "o"))
    ascii_name = ascii_name.encode("ascii", "ignore").decode().lower()
    words = "".join(c if c.isalnum() else " " for c in ascii_name).split()
    return ".".join(words[:3]) or "user"


@dataclass
class Dataset:
    """A PagerDuty account: users, teams, memberships, licenses and allocations.

    ``users`` and ``teams`` map ids to API objects and keep insertion order, which is the
    order the server lists them in. ``members`` maps a team id to {user id: team role}.
    ``allocations`` maps a user id to its license allocation. Change them through the
    helper methods so that the cross references (user.teams, license counts) stay right.
    """

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, dict[str, str]] = field(default_factory=dict)
    licenses: list[dict[str, Any]] = field(default_factory=list)
    allocations: dict[str, dict[str, Any]] = field(default_factory=dict)
    scim_ids: dict[str, str] = field(default_factory=dict)
    # The audit trail, oldest first (served newest first); mutation helpers add to it as
    # `actor` (who makes the changes: see web_actor, api_token_actor, scim_actor, sso_actor).
    audit_records: list[dict[str, Any]] = field(default_factory=list)
    actor: dict[str, Any] = field(default_factory=lambda: api_token_actor("Fake automation", "fake"))
    # Escalation policies: {"id", "name", "levels": [[(user id, schedule name or None), ...], ...]}.
    escalation_policies: list[dict[str, Any]] = field(default_factory=list)
    # Stakeholders still holding a full-user license (made stakeholders, license kept).
    full_license_stakeholders: set[str] = field(default_factory=set)
    seed: int = 0
    # The server reads under this lock, so tests may mutate while it serves.
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)
    _used_ids: set[str] = field(default_factory=set, repr=False, compare=False)
    _user_list: list[dict[str, Any]] | None = field(default=None, repr=False, compare=False)
    _team_list: list[dict[str, Any]] | None = field(default=None, repr=False, compare=False)
    _scim_index: dict[str, str] | None = field(default=None, repr=False, compare=False)
    _allocation_list: list[dict[str, Any]] | None = field(default=None, repr=False, compare=False)
    # /users?query= answers of the last few queries: at 100,000 users one scan took 0.1 s of
    # the server's time, and a sync past the offset cap asks thousands. Users change their
    # name or email only through update_user and set_email, which clear it.
    _search_cache: OrderedDict[str, list[dict[str, Any]]] = field(
        default_factory=OrderedDict, repr=False, compare=False)
    # Every user's "name\nemail" in lower case, joined by NUL, and where each one starts:
    # str.find over one string scans in C what a loop over 100,000 users did in Python.
    _search_text: tuple[str, list[int]] | None = field(default=None, repr=False, compare=False)
    _serial: int = field(default=0, repr=False, compare=False)
    # One embedded license object per license, shared by its allocations (saves memory).
    _license_refs: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)

    # -- read helpers -------------------------------------------------------------------
    def user_list(self) -> list[dict[str, Any]]:
        """Users in listing order (cached until the next change)."""
        with self.lock:
            if self._user_list is None:
                self._user_list = list(self.users.values())
            return self._user_list

    def users_matching(self, query: str) -> list[dict[str, Any]]:
        """Users whose name or email holds `query` (lower case), in listing order, as
        /users?query= finds them."""
        with self.lock:
            found = self._search_cache.get(query)
            if found is None:
                found = self._scan(query)
                self._search_cache[query] = found
                if len(self._search_cache) > SEARCH_CACHE_SIZE:
                    self._search_cache.popitem(last=False)
            else:
                self._search_cache.move_to_end(query)
            return found

    def _scan(self, query: str) -> list[dict[str, Any]]:
        users = self.user_list()
        if self._search_text is None:
            texts = [f"{u['name']}\n{u['email']}".lower() for u in users]
            starts, position = [], 0
            for text in texts:
                starts.append(position)
                position += len(text) + 1
            self._search_text = ("\0".join(texts), starts)
        text, starts = self._search_text
        found, position = [], text.find(query)
        while position >= 0:
            index = bisect.bisect_right(starts, position) - 1
            found.append(users[index])
            if index + 1 == len(starts):
                break
            position = text.find(query, starts[index + 1])
        return found

    def allocation_list(self) -> list[dict[str, Any]]:
        """License allocations in listing order (cached until the next change)."""
        with self.lock:
            if self._allocation_list is None:
                self._allocation_list = list(self.allocations.values())
            return self._allocation_list

    def team_list(self) -> list[dict[str, Any]]:
        with self.lock:
            if self._team_list is None:
                self._team_list = list(self.teams.values())
            return self._team_list

    def minimum_requests(self, *, page_size: int = 100, audit_since: datetime | None = None,
                         offset_cap: int | None = 10_000) -> int:
        """The fewest requests a full sync of this account needs (the formula of
        integrations/connectors/pagerduty/fetch.py): users, teams and allocation pages, at
        least one members page per team, one /licenses request, the pages of the audit trail
        since `audit_since` (a first sync: the last 31 days) and of who is on call.

        Past PagerDuty's offset cap (`offset_cap`, None: none) /users and
        /license_allocations list only their first offset_cap / page_size pages; every user
        is then named by SCIM's user list (one page per page_size users), and the users not
        listed yet can be reached at best page_size per /users?query page. That is a lower
        bound: which queries reach them without overlap depends on the emails, and a sync
        spends some requests more on probing them.
        """

        def pages(n: int) -> int:
            return max(1, math.ceil(n / page_size))

        with self.lock:
            users, allocations = len(self.users), len(self.allocations)
            beyond_cap = 0
            if offset_cap is not None and users > offset_cap:
                listed = offset_cap // page_size * page_size
                beyond_cap = pages(users) + math.ceil((users - listed) / page_size)  # SCIM, then the search
                users = listed
            if offset_cap is not None and allocations > offset_cap:
                allocations = offset_cap // page_size * page_size  # the rest: SCIM told them
            return (
                pages(users)
                + beyond_cap
                + pages(len(self.teams))
                + sum(pages(len(roster)) for roster in self.members.values())
                + 1
                + pages(allocations)
                + pages(len(self.audit_records_between(since=audit_since, until=None)))
                + pages(len(self.on_call_entries()))
            )

    def audit_records_between(self, *, since: datetime | None, until: datetime | None,
                              root_types: frozenset[str] = frozenset({"users", "teams"})) -> list[dict[str, Any]]:
        """Records of `root_types` from `since` (default: 31 days ago) to `until`, newest first."""
        now = datetime.now(timezone.utc)
        since = since or now - timedelta(days=AUDIT_MAX_DAYS) + timedelta(minutes=5)
        until = until or now
        types = {f"{kind[:-1]}_reference" for kind in root_types}
        with self.lock:
            chosen = [
                record for record in self.audit_records
                if since <= datetime.fromisoformat(record["execution_time"]) <= until
                and record["root_resource"]["type"] in types
            ]
        return chosen[::-1]

    def on_call_entries(self) -> list[dict[str, Any]]:
        """Who is on call now, every policy and level, as /oncalls lists them."""
        now = datetime.now(timezone.utc)
        start, end = _iso(now - timedelta(days=2)), _iso(now + timedelta(days=5))
        entries = []
        with self.lock:
            for policy in self.escalation_policies:
                reference = {
                    "id": policy["id"], "type": "escalation_policy_reference", "summary": policy["name"],
                    "self": f"{API_URL}/escalation_policies/{policy['id']}",
                    "html_url": f"{WEB_URL}/escalation_policies/{policy['id']}",
                }
                for level, targets in enumerate(policy["levels"], start=1):
                    for user_id, schedule in targets:
                        user = self.users.get(user_id)
                        if user is None:
                            continue
                        entry: dict[str, Any] = {
                            "escalation_policy": reference, "escalation_level": level,
                            "user": user_reference(user),
                        }  # a direct target has no schedule (the spec's schedule is not nullable)
                        if schedule is not None:
                            schedule_id = "PS" + policy["id"][2:] + str(level)
                            entry["schedule"] = {
                                "id": schedule_id, "type": "schedule_reference", "summary": schedule,
                                "self": f"{API_URL}/schedules/{schedule_id}",
                                "html_url": f"{WEB_URL}/schedules/{schedule_id}",
                            }
                            entry["start"], entry["end"] = start, end
                        entries.append(entry)
        return entries

    def record(self, root: dict[str, Any], action: str, *, fields: list[dict[str, Any]] | None = None,
               references: list[dict[str, Any]] | None = None, resource: dict[str, Any] | None = None,
               by: dict[str, Any] | None = None, at: datetime | None = None) -> dict[str, Any]:
        """Add an audit record of `action` on `root` (a user or team reference) made `by` an actor."""
        with self.lock:
            number = len(self.audit_records) + 1
            by = by or self.actor
            record = {
                "id": f"R{number:06d}{self.seed:04d}",
                "self": None,
                "execution_time": _iso(at or datetime.now(timezone.utc)),
                "execution_context": {"request_id": f"req-{number}", "remote_address": "192.0.2.10"},
                "actors": by["actors"],
                "method": by["method"],
                "root_resource": root,
                "action": action,
                "details": {"resource": resource or root, "fields": fields, "references": references},
            }
            bisect.insort(self.audit_records, record, key=lambda r: r["execution_time"])
            return record

    def team_members(self, team_id: str) -> list[tuple[str, str]]:
        """[(user id, team role)] of a team, in listing order."""
        with self.lock:
            return list(self.members[team_id].items())

    def user_by_scim_id(self, scim_id: str) -> dict[str, Any] | None:
        with self.lock:
            if self._scim_index is None:
                self._scim_index = {s: u for u, s in self.scim_ids.items()}
            user_id = self._scim_index.get(scim_id)
            return self.users.get(user_id) if user_id else None

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        email = email.lower()
        with self.lock:
            return next((u for u in self.users.values() if u["email"].lower() == email), None)

    def users_with_role(self, role: str) -> list[dict[str, Any]]:
        with self.lock:
            return [u for u in self.users.values() if u["role"] == role]

    def license_for_user(self, user_id: str) -> dict[str, Any] | None:
        with self.lock:
            allocation = self.allocations.get(user_id)
            if allocation is None:
                return None
            return self._license_by_id(allocation["license"]["id"])

    # -- mutation helpers ---------------------------------------------------------------
    def add_user(self, **fields: Any) -> dict[str, Any]:
        """Add a user; any API field may be given, the rest get plausible defaults."""
        with self.lock:
            self._serial += 1
            name = fields.get("name") or f"New User {self._serial}"
            user_id = fields.pop("id", None) or self._new_id()
            self._used_ids.add(user_id)
            user = self._make_user(
                user_id,
                name=name,
                email=fields.pop("email", None) or f"{_email_local_part(name)}.new{self._serial}@acme.example",
                role=fields.pop("role", "user"),
                job_title=fields.pop("job_title", None),
                time_zone=fields.pop("time_zone", "Europe/Belgrade"),
                color=fields.pop("color", "green"),
                description=fields.pop("description", None),
                invitation_sent=fields.pop("invitation_sent", False),
                created_via_sso=fields.pop("created_via_sso", False),
            )
            user.update(fields)
            user["summary"] = user["name"]
            self.users[user_id] = user
            self.scim_ids[user_id] = self._new_scim_id()
            self._allocate(user)
            self._changed()
            self.record(user_reference(user), "create")
            return user

    def remove_user(self, user_id: str) -> dict[str, Any]:
        with self.lock:
            user = self.users.pop(user_id)
            self.record(user_reference(user), "delete")
            for team_ref in user["teams"]:
                self.members[team_ref["id"]].pop(user_id, None)
            self._deallocate(user_id)
            self.scim_ids.pop(user_id, None)
            self._changed()
            return user

    def update_user(self, user_id: str, **fields: Any) -> dict[str, Any]:
        """Change API fields of a user (a ``job_title`` of None removes the title)."""
        with self.lock:
            user = self.users[user_id]
            if "role" in fields:
                self.set_role(user_id, fields.pop("role"))
            for key, value in fields.items():
                if key == "job_title" and value is None:
                    user.pop("job_title", None)
                else:
                    user[key] = value
            user["summary"] = user["name"]
            self._forget_searches()
            allocation = self.allocations.get(user_id)
            if allocation is not None:
                allocation["user"]["summary"] = user["name"]
            return user

    def set_role(self, user_id: str, role: str) -> None:
        with self.lock:
            user = self.users[user_id]
            if user["role"] != role:
                self.record(user_reference(user), "update",
                            fields=[{"name": "role", "value": role, "before_value": user["role"]}])
            user["role"] = role
            current = self.license_for_user(user_id)
            if current is not None and role not in current["valid_roles"]:
                self._deallocate(user_id)
                self._allocate(user)

    def set_email(self, user_id: str, email: str) -> None:
        with self.lock:
            user = self.users[user_id]
            if user["email"] != email:
                self.record(user_reference(user), "update",
                            fields=[{"name": "email", "value": email, "before_value": user["email"]}])
            user["email"] = email
            self._forget_searches()

    def set_team_role(self, team_id: str, user_id: str, role: str | None) -> None:
        """Put a user on a team with ``role``, change the role, or (None) take them off."""
        with self.lock:
            team = self.teams[team_id]
            user = self.users[user_id]
            roster = self.members[team_id]
            before = roster.get(user_id)
            if before != role:
                reference = user_reference(user)
                self.record(_team_reference(team), "update", resource=reference,
                            fields=[{"name": "role", "value": role, "before_value": before}],
                            references=[{"name": "members", "added": [reference] if before is None else [],
                                         "removed": [reference] if role is None else []}])
            if role is None:
                if roster.pop(user_id, None) is not None:
                    user["teams"] = [t for t in user["teams"] if t["id"] != team_id]
                return
            if user_id not in roster:
                user["teams"].append(_team_reference(team))
            roster[user_id] = role

    # -- internals ----------------------------------------------------------------------
    def _changed(self) -> None:
        self._user_list = None
        self._forget_searches()
        self._team_list = None
        self._scim_index = None

    def _forget_searches(self) -> None:
        self._search_cache.clear()
        self._search_text = None

    def _new_id(self) -> str:
        while True:
            candidate = "P" + "".join(self._rng.choices(_ID_ALPHABET, k=6))
            if candidate not in self._used_ids:
                self._used_ids.add(candidate)
                return candidate

    def _new_scim_id(self) -> str:
        return "".join(self._rng.choices(_SCIM_ALPHABET, k=26))

    def _make_user(self, user_id: str, *, name: str, email: str, role: str, job_title: str | None,
                   time_zone: str, color: str, description: str | None, invitation_sent: bool,
                   created_via_sso: bool) -> dict[str, Any]:
        user: dict[str, Any] = {
            "id": user_id,
            "type": "user",
            "summary": name,
            "self": f"{API_URL}/users/{user_id}",
            "html_url": f"{WEB_URL}/users/{user_id}",
            "name": name,
            "email": email,
            "time_zone": time_zone,
            "color": color,
            "role": role,
            "avatar_url": AVATAR_URL,
            "description": description,
            "invitation_sent": invitation_sent,
            "created_via_sso": created_via_sso,
            "teams": [],
            "contact_methods": [],
            "notification_rules": [],
            "coordinated_incidents": [],
        }
        # PagerDuty's schema has no null job title; a user without one simply lacks the key.
        if job_title is not None:
            user["job_title"] = job_title
        return user

    def _license_by_id(self, license_id: str) -> dict[str, Any]:
        return next(lic for lic in self.licenses if lic["id"] == license_id)

    def _pick_license(self, user: dict[str, Any]) -> dict[str, Any] | None:
        if not self.licenses:
            return None
        group = "Stakeholder" if user["role"] in STAKEHOLDER_ROLES else "FullUser"
        candidates = [lic for lic in self.licenses if lic["role_group"] == group] or self.licenses
        # About one full user in ten holds the add-on license; keyed on the id so it is stable.
        if len(candidates) > 1 and sum(map(ord, user["id"])) % 10 == 0:
            return candidates[1]
        return candidates[0]

    def _allocate(self, user: dict[str, Any], allocated_at: str | None = None,
                  lic: dict[str, Any] | None = None) -> None:
        lic = lic or self._pick_license(user)
        if lic is None:
            return
        self.allocations[user["id"]] = {
            "user": {"id": user["id"], "type": "user_reference", "summary": user["name"],
                     "self": user["self"], "html_url": user["html_url"]},
            "license": self._license_refs.setdefault(lic["id"], _license_reference(lic)),
            "allocated_at": allocated_at or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self._allocation_list = None
        lic["current_value"] += 1
        if lic["allocations_available"] is not None:
            lic["allocations_available"] = max(0, lic["allocations_available"] - 1)

    def _deallocate(self, user_id: str) -> None:
        allocation = self.allocations.pop(user_id, None)
        if allocation is None:
            return
        self._allocation_list = None
        lic = self._license_by_id(allocation["license"]["id"])
        lic["current_value"] -= 1
        if lic["allocations_available"] is not None:
            lic["allocations_available"] += 1


def _role_for(index: int, users: int, rng: random.Random) -> str:
    if index < len(ROLES):
        return ROLES[index]  # every role present, the owner exactly once (index 0)
    if users >= 20 and index == users // 2:
        return LEGACY_ROLE
    return rng.choices(ROLES[1:], weights=(5, 8, 5, 45, 20, 5, 4))[0]


def _team_sizes(teams: int, users: int, rng: random.Random) -> list[int]:
    sizes = []
    for index in range(teams):
        if index == 1 or (index > 1 and index % 25 == 0):
            sizes.append(0)  # empty teams exist
        elif index == 0:
            # One big team: more than one page of members (limit 100) when users allow.
            sizes.append(min(users, 150) if users > 100 else users // 2)
        else:
            sizes.append(min(users, int(rng.paretovariate(1.3) * 4)))
    return sizes


def generate_dataset(*, users: int, teams: int, seed: int = 0, with_licenses: bool = True) -> Dataset:
    """Build a deterministic account of ``users`` users and ``teams`` teams."""
    rng = random.Random(seed)
    ds = Dataset(seed=seed)
    ds._rng = random.Random(f"{seed}-mutations")

    if with_licenses:
        for spec in _LICENSES:
            ds.licenses.append({
                "id": ds._new_id(), "type": "license", "name": spec.name, "summary": spec.name,
                "description": spec.description, "role_group": spec.role_group,
                "valid_roles": list(spec.valid_roles), "current_value": 0,
                "allocations_available": spec.headroom,
            })

    user_list: list[dict[str, Any]] = []
    for index in range(users):
        if 1 <= index <= len(SPECIAL_NAMES):
            name = SPECIAL_NAMES[index - 1]
        else:
            name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        user_id = ds._new_id()
        user = ds._make_user(
            user_id,
            name=name,
            email=f"{_email_local_part(name)}.{index}@{_email_domain(index)}",
            role=_role_for(index, users, rng),
            # Index 2 and about one in seven others have no job title.
            job_title=None if index == 2 or rng.random() < 0.15 else rng.choice(_JOB_TITLES),
            time_zone=rng.choice(_TIME_ZONES),
            color=rng.choice(_COLORS),
            description=rng.choice(_DESCRIPTIONS),
            invitation_sent=index == 3 or (index > 0 and rng.random() < 0.07),
            created_via_sso=index == 4 or rng.random() < 0.4,
        )
        ds.users[user_id] = user
        ds.scim_ids[user_id] = ds._new_scim_id()
        user_list.append(user)
        allocated_at = (_EPOCH + timedelta(hours=index)).strftime("%Y-%m-%dT%H:%M:%SZ")
        full = next((lic for lic in ds.licenses if lic["role_group"] == "FullUser"), None)
        if full is not None and user["role"] in STAKEHOLDER_ROLES and index % 6 == 1:
            ds._allocate(user, allocated_at, full)  # a stakeholder that still holds a full seat
            ds.full_license_stakeholders.add(user_id)
        else:
            ds._allocate(user, allocated_at)

    # Seats left over once everyone holds one (None: unlimited).
    for lic, spec in zip(ds.licenses, _LICENSES):
        lic["allocations_available"] = spec.headroom

    for index, size in enumerate(_team_sizes(teams, users, rng)):
        team_id = ds._new_id()
        name = SPECIAL_TEAM_NAME if index == 2 else f"{_TEAM_WORDS[index % len(_TEAM_WORDS)]} " \
            f"{_TEAM_KINDS[(index // len(_TEAM_WORDS)) % len(_TEAM_KINDS)]} {index + 1}"
        team = {
            "id": team_id, "type": "team", "summary": name,
            "self": f"{API_URL}/teams/{team_id}", "html_url": f"{WEB_URL}/teams/{team_id}",
            "name": name, "description": f"Team {index + 1} of the acme account",
            "default_role": "none" if index % 7 == 3 else "manager",
            "parent": None,
        }
        ds.teams[team_id] = team
        roster: dict[str, str] = {}
        ds.members[team_id] = roster
        reference = _team_reference(team)
        for position, member_index in enumerate(sorted(rng.sample(range(users), size))):
            member = user_list[member_index]
            roster[member["id"]] = _team_role_for(member, position, rng)
            # One shared reference object per team keeps 50k-user datasets small.
            member["teams"].append(reference)
    _generate_on_call(ds, user_list, teams)
    _generate_audit_trail(ds, user_list)
    return ds


class LazyAccounts(Mapping[str, Dataset]):
    """Many accounts by token, for FakePagerDuty(accounts=...): `build(token)` makes a token's
    Dataset the first time a request asks for it (None: the token opens no account), and it
    is kept. A fleet of a thousand accounts costs nothing before its syncs start, and each
    account is built once, by whichever request comes first."""

    def __init__(self, build: Callable[[str], Dataset | None]) -> None:
        self._build = build
        self._built: dict[str, Dataset] = {}
        self._lock = threading.Lock()

    def __getitem__(self, token: str) -> Dataset:
        dataset = self._built.get(token)
        if dataset is None:
            with self._lock:  # the first requests of a sync arrive together: build once
                dataset = self._built.get(token)
                if dataset is None:
                    dataset = self._build(token)
                    if dataset is None:
                        raise KeyError(token)
                    self._built[token] = dataset
        return dataset

    def __iter__(self) -> Iterator[str]:
        """The accounts built so far."""
        return iter(list(self._built))

    def __len__(self) -> int:
        return len(self._built)


def _email_domain(index: int) -> str:
    """Most users at the company's domain; a contractor now and then, one private address."""
    if index == 9:
        return "gmail.com"
    return "contractor.example" if index % 40 == 13 else "acme.example"


def _generate_on_call(ds: Dataset, users: list[dict[str, Any]], teams: int) -> None:
    """Escalation policies of two or three levels over responders: a schedule's person at
    level 1, direct targets above; some levels rest on one person alone. Own random stream,
    so the rest of the dataset is as it was."""
    rng = random.Random(f"{ds.seed}-oncall")
    responders = [u["id"] for u in users if u["role"] in ("owner", "admin", "user", "limited_user")]
    if not responders:
        return
    for index in range(max(1, teams // 2) if users else 0):
        policy_id = "PE" + "".join(rng.choices(_ID_ALPHABET, k=5))
        word = _TEAM_WORDS[index % len(_TEAM_WORDS)]
        levels = [[(rng.choice(responders), f"{word} primary rotation")]]
        levels.append([(user_id, None) for user_id in dict.fromkeys(rng.choices(responders, k=rng.choice((1, 2))))])
        if rng.random() < 0.5:
            levels.append([(rng.choice(responders), None)])
        ds.escalation_policies.append({"id": policy_id, "name": f"{word} escalation", "levels": levels})


def _generate_audit_trail(ds: Dataset, users: list[dict[str, Any]]) -> None:
    """Recent role changes and new users, made in the web app, by API tokens and by SCIM.

    The first Global Admin (index 1) was made one three days ago by an API token: the kind
    of change a reviewer should see first. Times are relative to now (the trail covers the
    last 20 days), content depends on the seed alone."""
    if len(users) < 2:
        return
    rng = random.Random(f"{ds.seed}-audit")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    owner = users[0]
    actors = (web_actor(owner), api_token_actor(), scim_actor(), web_actor(owner), sso_actor())
    ds.record(user_reference(users[1]), "update", by=api_token_actor(),
              fields=[{"name": "role", "value": users[1]["role"], "before_value": "user"}],
              at=now - timedelta(days=3, hours=2))
    for user in users[2:]:
        draw = rng.random()
        at = now - timedelta(hours=rng.randint(1, 20 * 24))
        if draw < 0.06:
            before = rng.choice([role for role in ROLES[1:] if role != user["role"]])
            ds.record(user_reference(user), "update", by=rng.choice(actors), at=at,
                      fields=[{"name": "role", "value": user["role"], "before_value": before}])
        elif draw < 0.09:
            ds.record(user_reference(user), "create", by=rng.choice(actors), at=at)


def _team_role_for(user: dict[str, Any], position: int, rng: random.Random) -> str:
    if user["role"] in STAKEHOLDER_ROLES or user["role"] == "observer":
        return "observer"
    if position == 0:
        return "manager"  # every non-empty team has a manager unless its first member is a stakeholder
    return "manager" if rng.random() < 0.12 else "responder"


__all__ = [
    "web_actor", "api_token_actor", "scim_actor", "sso_actor",
    "Dataset", "LazyAccounts", "generate_dataset", "ROLES", "LEGACY_ROLE", "TEAM_ROLES", "SPECIAL_NAMES",
    "SPECIAL_TEAM_NAME", "user_reference", "API_URL", "WEB_URL",
]

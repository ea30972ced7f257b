"""PagerDuty's role names: the API value is stored, the display name is shown (SPEC §4).

This is the one table in the code; a value not in it is kept and shown as it came.
"""

ROLE_DISPLAY_NAMES: dict[str, str] = {
    "owner": "Account Owner",
    "admin": "Global Admin",
    "read_only_user": "Full Stakeholder",
    "read_only_limited_user": "Limited Stakeholder",
    "user": "Manager/User",
    "limited_user": "Responder",
    "observer": "Observer",
    "restricted_access": "Restricted Access",
}

PRIVILEGED_ROLES: frozenset[str] = frozenset({"owner", "admin"})

TEAM_ROLES: tuple[str, ...] = ("manager", "responder", "observer")
PRIVILEGED_TEAM_ROLES: frozenset[str] = frozenset({"manager"})


def role_display_name(role: str) -> str:
    return ROLE_DISPLAY_NAMES.get(role, role)

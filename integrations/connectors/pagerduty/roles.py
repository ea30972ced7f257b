"""PagerDuty's roles: the API value is stored, the display name (from the setup page) is shown."""

from integrations.connectors.base import RoleCatalogue

ROLES = RoleCatalogue(
    display_names={
        "owner": "Account Owner",
        "admin": "Global Admin",
        "read_only_user": "Full Stakeholder",
        "read_only_limited_user": "Limited Stakeholder",
        "user": "Manager/User",
        "limited_user": "Responder",
        "observer": "Observer",
        "restricted_access": "Restricted Access",
    },
    privileged=frozenset({"owner", "admin"}),
    team_roles=("manager", "responder", "observer"),
    privileged_team_roles=frozenset({"manager"}),
)

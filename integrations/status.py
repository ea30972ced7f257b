"""The Status/Message pairs an integration shows, in one place, and what to do after an Error."""

NOT_CONFIGURED = "Configure and Integrate to start syncing"
AWAITING_FIRST_SYNC = "Awaiting first sync"
QUEUED = "Queued: the sync starts as soon as a worker is free"
SYNC_IN_PROGRESS = "Sync in progress"
DATA_AVAILABLE = "Data available"
NO_DATA_AVAILABLE = "No data available"

# A failure that is no application's refusal: a bug, recorded by the sync runner.
UNEXPECTED = "unexpected"

# The next step after an Error message, by the kind of failure (IntegrationError.kind).
# "{application}" is the application's name.
NEXT_STEPS = {
    "token_rejected": (
        "Next: check the access token (a read-only API key of this {application} account) "
        "and save it again with Configure and Integrate."
    ),
    "token_undecryptable": (
        "Next: save the access token again with Configure and Integrate, or ask the operator to "
        "restore the previous FIELD_ENCRYPTION_KEY."
    ),
    "permission_missing": (
        "Next: create the key as an admin or owner of {application} (a read-only API key), "
        "then save it with Configure and Integrate."
    ),
    "rate_limited": (
        "Next: wait a few minutes for {application}'s rate limit to reset (other tools using "
        "the same key share it), then Sync now."
    ),
    "unreachable": (
        "Next: check the service region with Configure and Integrate and {application}'s status "
        "page, then Sync now."
    ),
    "unexpected_response": (
        "Next: Sync now to try again; if it fails again, check {application}'s status page or "
        "ask the operator (the server log has the details)."
    ),
    UNEXPECTED: "Next: Sync now to try again; if it fails again, ask the operator (the server log has the details).",
}
DEFAULT_NEXT_STEP = "Next: Sync now to try again; if it fails again, check {application}'s status page."


def next_step(*, kind: str, application: str) -> str:
    """What the admin can do about a failed sync of this kind, in one sentence."""
    return NEXT_STEPS.get(kind, DEFAULT_NEXT_STEP).format(application=application)

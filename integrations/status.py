"""The Status/Message pairs an integration shows, in one place."""

NOT_CONFIGURED = "Configure and Integrate to start syncing"
AWAITING_FIRST_SYNC = "Awaiting first sync"
SYNC_IN_PROGRESS = "Sync in progress"
DATA_AVAILABLE = "Data available"
NO_DATA_AVAILABLE = "No data available"

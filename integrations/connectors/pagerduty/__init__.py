"""The PagerDuty connector: its API client, role table and sync, and nothing generic."""

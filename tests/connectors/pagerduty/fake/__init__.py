"""A fake PagerDuty REST API (and SCIM list) server for tests, the demo and the benchmark.

Standard library only, so it runs without Django: ``python -m tests.connectors.pagerduty.fake``.
"""

from .data import LEGACY_ROLE, ROLES, TEAM_ROLES, Dataset, LazyAccounts, generate_dataset
from .server import Fault, FakePagerDuty, RecordedRequest

__all__ = [
    "Dataset", "FakePagerDuty", "Fault", "LazyAccounts", "LEGACY_ROLE", "ROLES", "RecordedRequest", "TEAM_ROLES",
    "generate_dataset",
]

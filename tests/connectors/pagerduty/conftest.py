"""A fake PagerDuty whose offset cap is small, so that paths past the cap run in a moment."""

from __future__ import annotations

import pytest

from integrations.connectors.pagerduty import fetch
from tests.conftest import TOKEN
from tests.connectors.pagerduty.fake import FakePagerDuty, generate_dataset

SMALL_CAP = 300


@pytest.fixture
def small_cap(monkeypatch):
    """PagerDuty's offset cap, 10,000, as 300 for the fetcher (the fake is started with it)."""
    monkeypatch.setattr(fetch, "OFFSET_CAP", SMALL_CAP)
    return SMALL_CAP


@pytest.fixture
def start_fake(settings):
    """start_fake(users=, teams=, **switches): a fake PagerDuty of that size for this test."""
    fakes = []

    def start(*, users: int, teams: int = 3, seed: int = 7, **kwargs) -> FakePagerDuty:
        fake = FakePagerDuty(generate_dataset(users=users, teams=teams, seed=seed), token=TOKEN, **kwargs).start()
        fakes.append(fake)
        settings.PAGERDUTY_API_BASE_URL = fake.base_url
        return fake

    yield start
    for fake in fakes:
        fake.stop()

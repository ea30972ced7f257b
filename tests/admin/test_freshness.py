"""Freshness: every page that shows synced data says as of when, and warns when it may be out of date.

"As of" is the integration's last successful sync. A failed last sync (with its reason), data
older than STALE_AFTER_HOURS, or no successful sync at all is a warning that reviewers see,
linked to the integration's sync history, which reviewers may read (their own tenant's only).
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integrations.models import AccountChange, Integration, SyncRun
from tests.conftest import TOKEN, configure
from tests.factories import make_integration, make_review_data, make_run
from tests.test_settings import FERNET_KEY, SECRET_KEY, last_error_line, run_python

pytestmark = pytest.mark.django_db

SYNC_RUNS = reverse("admin:integrations_syncrun_changelist")
ACCOUNTS = reverse("admin:integrations_syncedaccount_changelist")
REASON = "<b>PagerDuty</b> rejected the access token (401)"


@pytest.fixture
def data(tenant):
    return make_review_data(tenant=tenant)


@pytest.fixture
def reviewer_client(client, reviewer):
    client.force_login(reviewer)
    return client


def at(hours_ago: float) -> dt.datetime:
    """A whole minute `hours_ago` before now (the banner shows minutes)."""
    return (timezone.now() - dt.timedelta(hours=hours_ago)).replace(second=0, microsecond=0)


def shown(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def synced_at(integration: Integration, moment: dt.datetime | None, **fields) -> None:
    Integration.objects.filter(pk=integration.pk).update(last_synced_at=moment, **fields)


def fail_last_sync(integration: Integration, *, hours_ago: float = 1, reason: str = REASON) -> SyncRun:
    """As the runner leaves a failed sync: a failed run, Status Error, the reason as Message."""
    run = make_run(integration=integration, started_at=at(hours_ago), outcome=SyncRun.Outcome.FAILED)
    run.finished_at = run.started_at
    run.message = reason
    run.save()
    Integration.objects.filter(pk=integration.pk).update(status=Integration.Status.ERROR, message=reason)
    return run


def pages(data) -> dict[str, str]:
    """Every page that shows synced data, by name."""
    change = AccountChange.objects.filter(integration=data.integration).first()
    return {
        "index summary": reverse("admin:index"),
        "accounts": ACCOUNTS,
        "account": reverse("admin:integrations_syncedaccount_change", args=[data.bob.pk]),
        "teams": reverse("admin:integrations_team_changelist"),
        "team": reverse("admin:integrations_team_change", args=[data.ops.pk]),
        "changes": reverse("admin:integrations_accountchange_changelist"),
        "change": reverse("admin:integrations_accountchange_change", args=[change.pk]),
    }


PAGES = ["index summary", "accounts", "account", "teams", "team", "changes", "change"]


def banner(response) -> str:
    """The freshness banner as read on screen (tags stripped, entities decoded, spaces joined)."""
    assert response.status_code == 200
    page = response.content.decode()
    found = re.findall(r'<div class="pd-freshness">(.*?)</div>', page, flags=re.S)
    assert len(found) == 1, found
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found[0])).split())


def warnings(response) -> list[str]:
    return re.findall(r'<p class="pd-freshness-warning">(.*?)</p>', response.content.decode(), flags=re.S)


@pytest.mark.parametrize("name", PAGES)
def test_every_page_says_as_of_the_last_successful_sync(reviewer_client, data, name):
    last = at(2)
    synced_at(data.integration, last)

    response = reviewer_client.get(pages(data)[name])

    assert banner(response) == f"Data as of {shown(last)} (last successful sync)."
    assert warnings(response) == []


@pytest.mark.parametrize("name", PAGES)
def test_after_a_failed_sync_every_page_warns_with_the_reason_escaped(reviewer_client, data, name):
    last = at(20)
    synced_at(data.integration, last)
    run = fail_last_sync(data.integration, hours_ago=3)

    response = reviewer_client.get(pages(data)[name])

    assert banner(response) == (
        f"Data as of {shown(last)}. The last sync failed on {shown(run.finished_at)}: {REASON}; "
        "what you see may be out of date. Sync history"
    )
    page = response.content.decode()
    assert "<b>PagerDuty</b>" not in page
    assert "&lt;b&gt;PagerDuty&lt;/b&gt; rejected the access token (401)" in page
    (warning,) = warnings(response)
    assert f'<a href="{SYNC_RUNS}?integration={data.integration.pk}">Sync history</a>' in warning


def test_the_summary_no_longer_reads_as_current_after_a_failed_sync(reviewer_client, data):
    synced_at(data.integration, at(20))
    fail_last_sync(data.integration)

    page = reviewer_client.get(reverse("admin:index")).content.decode()

    summary = page[page.index('id="account-summaries"'):]
    assert summary.index("pd-freshness-warning") < summary.index("Last successful sync")
    assert "Last sync " not in summary


@pytest.mark.parametrize("name", PAGES)
def test_data_older_than_stale_after_hours_is_a_warning(reviewer_client, data, settings, name):
    settings.STALE_AFTER_HOURS = 12
    last = at(13)
    synced_at(data.integration, last)

    response = reviewer_client.get(pages(data)[name])

    assert banner(response) == (
        f"Data as of {shown(last)}, more than 12 hours ago. No sync has succeeded since; "
        "what you see may be out of date. Sync history"
    )


def test_data_younger_than_stale_after_hours_is_no_warning(reviewer_client, data, settings):
    settings.STALE_AFTER_HOURS = 12
    last = at(11)
    synced_at(data.integration, last)

    response = reviewer_client.get(ACCOUNTS)

    assert warnings(response) == []
    assert banner(response) == f"Data as of {shown(last)} (last successful sync)."


def test_stale_after_hours_is_36_by_default(reviewer_client, data):
    synced_at(data.integration, at(35))
    assert warnings(reviewer_client.get(ACCOUNTS)) == []

    synced_at(data.integration, at(37))
    assert "more than 36 hours ago" in banner(reviewer_client.get(ACCOUNTS))


def test_a_never_synced_integration_is_a_warning(reviewer_client, integration):
    configure(integration)  # Pending: awaiting its first sync

    for url in (ACCOUNTS, reverse("admin:index")):
        response = reviewer_client.get(url)
        assert banner(response) == "No successful sync yet: none of its data is shown. Sync history"
        assert len(warnings(response)) == 1


def test_a_first_sync_that_failed_gives_its_reason(reviewer_client, integration):
    configure(integration)
    run = fail_last_sync(integration, reason="PagerDuty could not be reached")

    assert banner(reviewer_client.get(ACCOUNTS)) == (
        "No successful sync yet: none of its data is shown. "
        f"The last sync failed on {shown(run.finished_at)}: PagerDuty could not be reached. Sync history"
    )


def test_several_integrations_are_named_and_warnings_come_first(reviewer_client, tenant, data):
    staging = make_review_data(tenant=tenant, prefix="S", description="<i>Staging</i>")
    production = at(1)
    synced_at(data.integration, production)
    synced_at(staging.integration, at(30))
    fail_last_sync(staging.integration, reason="rate limit")

    response = reviewer_client.get(ACCOUNTS)

    text = banner(response)
    assert text.startswith("PagerDuty: <i>Staging</i>: Data as of ")
    assert "rate limit" in text
    assert text.endswith(f"PagerDuty: Production PagerDuty: Data as of {shown(production)} (last successful sync).")
    assert "<i>Staging</i>" not in response.content.decode()
    # A list filtered to one integration speaks of that one only.
    filtered = banner(reviewer_client.get(ACCOUNTS, {"integration": data.integration.pk}))
    assert filtered == f"Data as of {shown(production)} (last successful sync)."


def test_a_superuser_sees_whose_integration_warns(client, superuser, tenant, other_tenant, data):
    globex = make_review_data(tenant=other_tenant, prefix="G", description="Globex PagerDuty")
    synced_at(data.integration, at(1))
    fail_last_sync(globex.integration)
    client.force_login(superuser)

    (warning,) = warnings(client.get(ACCOUNTS))

    assert "<strong>Globex / PagerDuty: Globex PagerDuty:</strong>" in warning


def test_many_current_integrations_share_one_line(client, superuser, tenant, other_tenant, data):
    oldest = at(3)
    synced_at(data.integration, oldest)
    for n in range(5):
        synced_at(make_integration(tenant=other_tenant, description=f"Globex {n}"), at(1))
    fail_last_sync(make_integration(tenant=other_tenant, description="Globex broken"))
    client.force_login(superuser)

    response = client.get(ACCOUNTS)

    assert len(warnings(response)) == 1
    assert banner(response).endswith(f"6 other integrations: data as of {shown(oldest)} or later.")


def test_the_warning_costs_one_query_whatever_the_number_of_failed_integrations(reviewer_client, tenant, data):
    synced_at(data.integration, at(1))
    with CaptureQueriesContext(connection) as fresh:
        reviewer_client.get(ACCOUNTS)
    fail_last_sync(data.integration)
    with CaptureQueriesContext(connection) as one_failed:
        reviewer_client.get(ACCOUNTS)
    for prefix in ("S", "T"):
        fail_last_sync(make_review_data(tenant=tenant, prefix=prefix, description=prefix).integration)
    with CaptureQueriesContext(connection) as three_failed:
        response = reviewer_client.get(ACCOUNTS)

    assert len(warnings(response)) == 3
    # The filter's choices of the new integrations' teams and licenses are the same queries.
    assert len(one_failed) == len(fresh) + 1
    assert len(three_failed) == len(one_failed)


# --- the sync history, for reviewers ---------------------------------------------------------


def test_a_reviewer_follows_the_warning_to_the_sync_history_of_their_tenant(
    reviewer_client, tenant, other_tenant, data
):
    configure(data.integration)
    failed = fail_last_sync(data.integration)
    theirs = make_review_data(tenant=other_tenant, prefix="G", description="Globex PagerDuty")
    foreign = fail_last_sync(theirs.integration, reason="Globex secret reason")

    (warning,) = warnings(reviewer_client.get(ACCOUNTS))
    history = html.unescape(re.search(r'href="([^"]+)">Sync history', warning).group(1))
    response = reviewer_client.get(history)

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [failed, data.run]
    page = response.content.decode()
    assert "&lt;b&gt;PagerDuty&lt;/b&gt; rejected the access token (401)" in page
    assert "Globex" not in page
    # Nothing secret: neither the token nor its hint.
    assert TOKEN not in page and "••••3f9a" not in page
    # A run's own page, read-only, without a link to the integration's (admins') page.
    detail = reviewer_client.get(reverse("admin:integrations_syncrun_change", args=[failed.pk]))
    assert detail.status_code == 200
    detail_page = detail.content.decode()
    assert 'name="_save"' not in detail_page
    assert reverse("admin:integrations_integration_change", args=[data.integration.pk]) not in detail_page
    assert TOKEN not in detail_page
    # Another tenant's runs: not listed, and their pages are not found.
    assert list(reviewer_client.get(SYNC_RUNS).context["cl"].result_list) == [failed, data.run]
    assert reviewer_client.get(reverse("admin:integrations_syncrun_change", args=[foreign.pk])).status_code == 404
    assert foreign not in reviewer_client.get(SYNC_RUNS, {"integration": theirs.integration.pk}).context["cl"].result_list


def test_reviewers_find_sync_runs_on_the_admin_home_and_change_nothing(reviewer_client, data):
    assert SYNC_RUNS in reviewer_client.get(reverse("admin:index")).content.decode()
    assert reviewer_client.get(reverse("admin:integrations_syncrun_add")).status_code == 403
    url = reverse("admin:integrations_syncrun_change", args=[data.run.pk])
    assert reviewer_client.post(url, {"message": "edited"}).status_code == 403
    assert reviewer_client.get(reverse("admin:integrations_syncrun_delete", args=[data.run.pk])).status_code == 403


# --- the setting ---------------------------------------------------------------------------------


PRINT_STALE_AFTER = "import django; django.setup(); from django.conf import settings; print(settings.STALE_AFTER_HOURS)"


def stale_after(**variables: str):
    return run_python(
        ["-c", PRINT_STALE_AFTER], DJANGO_SECRET_KEY=SECRET_KEY, FIELD_ENCRYPTION_KEY=FERNET_KEY, **variables
    )


def test_stale_after_hours_setting_defaults_to_36_and_is_read():
    assert stale_after().stdout.strip() == "36"
    assert stale_after(STALE_AFTER_HOURS="12").stdout.strip() == "12"


@pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5"])
def test_an_invalid_stale_after_hours_fails_start_up_naming_it(value):
    error = last_error_line(stale_after(STALE_AFTER_HOURS=value))

    assert error == (
        "django.core.exceptions.ImproperlyConfigured: "
        f"STALE_AFTER_HOURS must be a whole number of hours, 1 or more, got {value!r}."
    )

"""Commands and logs that end cleanly: a closed pipe, an expected refusal."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from django.urls import reverse

from tests.databases import url_of_the_test_database
from tests.factories import make_integration, make_synced_data
from tests.test_make_run import BASE_DIR


@pytest.mark.django_db(transaction=True)
def test_exportaccounts_into_a_closed_pipe_ends_without_a_traceback(tenant):
    # More than a pipe's buffer (64 KiB), so the export is still writing when the reader goes.
    make_synced_data(integration=make_integration(tenant=tenant), accounts=3000)
    export = subprocess.Popen(
        [sys.executable, "manage.py", "exportaccounts"],
        cwd=BASE_DIR,
        env={**__import__("os").environ, "DATABASE_URL": url_of_the_test_database(), "DJANGO_SETTINGS_MODULE": "tests.settings"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    export.stdout.readline()  # `| head -n 1`: one line, then the reader is gone
    export.stdout.close()
    stderr = export.stderr.read().decode()
    export.wait(timeout=60)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr


def test_a_403_is_one_log_line_without_a_traceback(client, reviewer):
    from balkan_pd.logging import ExpectedRefusals

    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Keep()
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(ExpectedRefusals())  # as the console handler of the settings has it
    logging.getLogger("django.request").addHandler(handler)
    try:
        client.force_login(reviewer)
        response = client.get(reverse("admin:integrations_integration_add"))
    finally:
        logging.getLogger("django.request").removeHandler(handler)
    assert response.status_code == 403
    assert len(records) == 1 and records[0].startswith("WARNING Forbidden"), records
    assert "Traceback" not in records[0]


def test_a_refused_lookup_is_one_log_line_without_a_traceback(client, reviewer):
    """The admin refuses a lookup it does not offer as a suspicious operation, which Django
    logs at ERROR with its traceback: a client sending such queries filled megabytes of log."""
    from balkan_pd.logging import ExpectedRefusals

    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Keep()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    handler.addFilter(ExpectedRefusals())  # as the console handler of the settings has it
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        client.force_login(reviewer)
        response = client.get("/admin/integrations/syncedaccount/?email__regex=(.%2B.%2B)%2B%23")
    finally:
        root.removeHandler(handler)
    assert response.status_code == 400
    assert records and not any("Traceback" in record for record in records), records
    assert any(record.startswith("django.security.") for record in records), records


def test_the_site_title_is_settable_and_names_the_product_by_default(admin_client, settings):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "PagerDuty access review" in page and "balkan_pd administration" not in page

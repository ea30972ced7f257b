"""Commands and logs that end cleanly: a closed pipe, an expected refusal."""

from __future__ import annotations

import logging
import subprocess
import sys
from contextlib import contextmanager

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


@contextmanager
def log_lines(logger_name: str = ""):
    """The lines `logger_name` (default: the root) writes, formatted "name LEVEL message" and
    filtered as the console handler of the settings filters them."""
    from balkan_pd.logging import ExpectedRefusals

    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Keep()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    handler.addFilter(ExpectedRefusals())
    logger = logging.getLogger(logger_name or None)
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)


def test_a_403_is_one_log_line_without_a_traceback(client, reviewer):
    client.force_login(reviewer)
    with log_lines("django.request") as lines:
        response = client.get(reverse("admin:integrations_integration_add"))

    assert response.status_code == 403
    assert len(lines) == 1 and lines[0].startswith("django.request WARNING Forbidden"), lines
    assert "Traceback" not in lines[0]


def test_a_refused_lookup_is_one_log_line_without_a_traceback(client, reviewer):
    """The admin refuses a lookup it does not offer as a suspicious operation, which Django
    logs at ERROR with its traceback: a client sending such queries filled megabytes of log."""
    client.force_login(reviewer)
    with log_lines() as lines:
        response = client.get("/admin/integrations/syncedaccount/?email__regex=(.%2B.%2B)%2B%23")

    assert response.status_code == 400
    assert lines and not any("Traceback" in line for line in lines), lines
    assert any(line.startswith("django.security.") for line in lines), lines


def test_the_site_title_is_settable_and_names_the_product_by_default(admin_client, settings):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "PagerDuty access review" in page and "balkan_pd administration" not in page

"""Conformance against a PagerDuty mock nobody here wrote: Stoplight Prism serving PagerDuty's
own OpenAPI spec, in static mode (the spec's examples) and dynamic mode (answers generated
from the schemas).

Every sync either brings the right values or fails with a plain Error and writes nothing, and
none hangs: requests have timeouts, and a watchdog stops Prism if a sync runs too long.

Headers. The spec asks more of a GET than PagerDuty does: a Content-Type header (a GET has no
body to describe) and an Accept of application/json, since it declares its answers under that
media type only, while PagerDuty's versioning header is Accept:
application/vnd.pagerduty+json;version=2 (the spec's own default for its Accept parameter).
The client keeps sending what the real PagerDuty expects, and no Content-Type. So the
example and generated syncs here send what Prism needs (Accept: application/json and
Content-Type: application/json, added in this test only), and one test shows what our real
headers meet: a refusal, which must be a plain Error that writes nothing.

`make test` installs Prism into .prism/ (`make prism`). Without node this is skipped, except
under CI=true, where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from integrations.connectors.pagerduty.client import PagerDutyClient
from integrations.models import Integration, License, SyncedAccount, SyncRun, Team, TeamMembership
from integrations.sync import UNEXPECTED_ERROR_MESSAGE

from .helpers import configured_integration, sync

ROOT = Path(__file__).resolve().parents[3]
SPEC = ROOT.parent / "shared" / "pagerduty" / "rest-openapiv3.json"
PRISM = ROOT / ".prism" / "node_modules" / ".bin" / "prism"
STARTUP_SECONDS = 90  # Prism reads a 4 MB spec first: about 15 s here
SYNC_SECONDS = 60  # longer than this is a hang: the watchdog stops Prism
# Prism generates the same answers for one seed: two seeds, two syncs each (the second one
# re-syncs what the first stored).
SEEDS = ("balkan_pd", "access-review")
DYNAMIC_SYNCS = 2
PLAIN_STARTS = ("unexpected response: ", "PagerDuty unreachable: ", "token rejected: ", "permission missing: ", "rate limit: ")

pytestmark = pytest.mark.django_db


def _prism_or_skip() -> Path:
    if shutil.which("node") is None:
        if os.environ.get("CI"):
            pytest.fail("node is missing: the Prism conformance test needs it (CI=true: not skipped)")
        pytest.skip("node is missing: install node to run the Prism conformance test")
    if not PRISM.exists():
        pytest.fail("Prism is not installed: run `make prism` (make test and make install do)")
    if not SPEC.exists():
        pytest.fail(f"PagerDuty's OpenAPI spec is missing: {SPEC}")
    return PRISM


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Prism:
    def __init__(self, *args: str):
        self.port = _free_port()
        self.log: list[str] = []
        self.process = subprocess.Popen(
            [str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(self.port), *args, str(SPEC)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.listening = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            if "Prism is listening" in line:
                self.listening.set()
            self.log.append(line)
            del self.log[:-50]  # it logs every route at start: keep the tail for failures

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self) -> None:
        if not self.listening.wait(STARTUP_SECONDS):
            self.stop()
            pytest.fail(f"Prism did not start in {STARTUP_SECONDS} s:\n{''.join(self.log)}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def prisms():
    _prism_or_skip()
    servers = {"static": Prism(), **{seed: Prism("--dynamic", "--seed", seed) for seed in SEEDS}}
    try:
        for server in servers.values():  # both start at once: one wait
            server.wait()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture
def spec_headers(monkeypatch):
    """Send what the spec (not PagerDuty) insists on; see the module's docstring."""
    session = PagerDutyClient.session.fget

    def with_spec_headers(client):
        s = session(client)
        s.headers.update({"Accept": "application/json", "Content-Type": "application/json"})
        return s

    monkeypatch.setattr(PagerDutyClient, "session", property(with_spec_headers))


@pytest.fixture
def quick(settings):
    settings.PAGERDUTY_MAX_RETRIES = 1
    settings.PAGERDUTY_READ_TIMEOUT = 10
    settings.PAGERDUTY_RATE_LIMIT_MAX_WAIT = 1


def guarded_sync(integration, prism: Prism):
    """A sync that cannot hang: past SYNC_SECONDS Prism is stopped, and the test fails."""
    watchdog = threading.Timer(SYNC_SECONDS, prism.stop)
    watchdog.start()
    started = time.monotonic()
    try:
        result = sync(integration)
    finally:
        watchdog.cancel()
    assert time.monotonic() - started < SYNC_SECONDS, "the sync hung; Prism was stopped"
    return result


def stored(integration) -> dict:
    return {
        "accounts": list(SyncedAccount.objects.filter(integration=integration).order_by("pk").values_list()),
        "teams": list(Team.objects.filter(integration=integration).order_by("pk").values_list()),
        "licenses": list(License.objects.filter(integration=integration).order_by("pk").values_list()),
        "memberships": list(TeamMembership.objects.filter(team__integration=integration).order_by("pk").values_list()),
    }


def example(path: str, key: str) -> list[dict]:
    spec = json.loads(SPEC.read_text())
    content = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    body = content.get("example") or next(iter(content["examples"].values()))["value"]
    return body[key]


def test_static_examples_sync_with_the_right_values(prisms, settings, spec_headers, quick, tenant):
    settings.PAGERDUTY_API_BASE_URL = prisms["static"].base_url
    integration = configured_integration(tenant)

    result = guarded_sync(integration, prisms["static"])

    assert result.run.outcome == SyncRun.Outcome.SUCCESS, result.message
    users = example("/users", "users")
    accounts = {a.external_id: a for a in SyncedAccount.objects.filter(integration=integration)}
    assert accounts.keys() == {u["id"] for u in users}
    for user in users:
        account = accounts[user["id"]]
        assert (account.name, account.email, account.role, account.job_title, account.time_zone) == (
            user["name"], user["email"], user["role"], user.get("job_title", ""), user["time_zone"],
        )
        assert (account.html_url, account.invitation_pending, account.created_via_sso) == (
            user["html_url"], user["invitation_sent"], user["created_via_sso"],
        )
    assert set(Team.objects.filter(integration=integration).values_list("external_id", "name")) == {
        (t["id"], t["name"]) for t in example("/teams", "teams")
    }
    assert set(License.objects.filter(integration=integration).values_list("external_id", flat=True)) == {
        lic["id"] for lic in example("/licenses", "licenses")
    }
    # The spec's own example of /license_allocations says total 2 but lists one and no more
    # pages: a listing that contradicts itself changes no license it did not list.
    assert "licenses: /license_allocations said no more pages follow after 1 entries but its total was 2" in result.run.notes
    # Its example team's one member is not among its example users: no membership.
    assert not TeamMembership.objects.filter(team__integration=integration).exists()

    again = guarded_sync(integration, prisms["static"])  # the same answers: nothing to write
    assert (again.run.outcome, again.added, again.updated, again.removed) == (SyncRun.Outcome.SUCCESS, 0, 0, 0)


def test_our_real_headers_meet_a_refusal_that_is_a_plain_error_and_writes_nothing(prisms, settings, quick, tenant):
    settings.PAGERDUTY_API_BASE_URL = prisms["static"].base_url
    integration = configured_integration(tenant)

    result = guarded_sync(integration, prisms["static"])

    integration.refresh_from_db()
    assert result.run.outcome == SyncRun.Outcome.FAILED
    # Prism wants a Content-Type on GET; it answers 400 with the spec's example error body.
    assert integration.message.startswith("unexpected response: PagerDuty answered 400 to /"), integration.message
    assert "PagerDuty said: " in integration.message
    assert integration.status == Integration.Status.ERROR
    assert stored(integration) == {"accounts": [], "teams": [], "licenses": [], "memberships": []}


@pytest.mark.parametrize("seed", SEEDS)
def test_generated_answers_sync_or_fail_plainly_and_a_failure_writes_nothing(prisms, settings, spec_headers, quick, tenant, seed):
    settings.PAGERDUTY_API_BASE_URL = prisms[seed].base_url
    integration = configured_integration(tenant)
    for _ in range(DYNAMIC_SYNCS):
        before = stored(integration)

        result = guarded_sync(integration, prisms[seed])

        if result.run.outcome == SyncRun.Outcome.FAILED:
            assert result.message != UNEXPECTED_ERROR_MESSAGE
            assert result.message.startswith(PLAIN_STARTS), result.message
            assert stored(integration) == before
        else:
            assert result.run.outcome in (SyncRun.Outcome.SUCCESS, SyncRun.Outcome.PARTIAL), result.message

"""The evidence report: what it holds, its SHA-256, and a tampered file detected."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from integrations.reviews import services
from tests.reviews.conftest import client_for, start


@pytest.fixture
def closed(data, alice, rita):
    review = start(data, by=alice, reviewers=[rita])
    services.keep_in_bulk(items=review.items.exclude(account=data.bob), user=rita)
    bob = review.items.get(account=data.bob)
    services.decide(item=bob, user=rita, decision="keep")
    services.decide(item=bob, user=rita, decision="revoke", comment="<b>no</b> longer on call")
    return services.close_review(review=review, user=alice)


def export(review, fmt, tmp_path) -> bytes:
    path = tmp_path / f"evidence.{fmt}"
    call_command("exportreview", "--review", str(review.pk), "--format", fmt, "--output", str(path))
    return path.read_bytes()


def test_the_json_form_holds_the_review_and_every_item(closed, tmp_path):
    report = json.loads(export(closed, "json", tmp_path))

    assert report["review"] | {"opened_at": None, "closed_at": None} == {
        "id": closed.pk, "name": "Q3 access", "tenant": "Acme", "integration": closed.integration_id,
        "application": "PagerDuty", "scope": "all", "scope_display": "All accounts", "state": "closed",
        "due_date": closed.due_date.isoformat(), "opened_by": "alice", "opened_at": None,
        "closed_by": "alice", "closed_at": None,
    }
    items = {item["name"]: item for item in report["items"]}
    assert len(items) == 5
    bob = items["Bob Admin"]
    assert (bob["role"], bob["role_display"], bob["privileged"], bob["license"]) == ("admin", "Global Admin", True, "Full User")
    assert (bob["decision"], bob["reviewer"], bob["decided_by"], bob["comment"]) == ("revoke", "rita", "rita", "<b>no</b> longer on call")
    assert (bob["remediation"], bob["verified_at"]) == ("pending", None)
    assert [h["decision"] for h in bob["history"]] == ["keep", "revoke"]
    assert items["Ann Owner"]["teams"] == [{"team": "Ops", "role": "manager"}]


def test_the_digest_is_recomputed_and_a_tampered_file_detected(closed, tmp_path):
    saved = tmp_path / "evidence.json"
    saved.write_bytes(export(closed, "json", tmp_path))
    out = io.StringIO()
    call_command("exportreview", "--review", str(closed.pk), "--verify", str(saved), stdout=out)
    digest = hashlib.sha256(saved.read_bytes()).hexdigest()
    assert f"is unchanged: SHA-256 {digest}" in out.getvalue()

    saved.write_bytes(saved.read_bytes().replace(b'"revoke"', b'"keep"', 1))
    with pytest.raises(CommandError, match="has CHANGED"):
        call_command("exportreview", "--review", str(closed.pk), "--verify", str(saved))


def test_the_html_form_states_the_digest_and_prints_without_inline_styles(closed, tmp_path):
    html = export(closed, "html", tmp_path).decode()
    digest = hashlib.sha256(export(closed, "json", tmp_path)).hexdigest()

    assert f"<dd>{digest}</dd>" in html
    assert '<link rel="stylesheet" href="/static/integrations/evidence.css">' in html
    assert "<style" not in html and "<script" not in html and " style=" not in html
    # Comments and names are escaped.
    assert "&lt;b&gt;no&lt;/b&gt; longer on call" in html and "<b>no</b>" not in html
    assert "Opened" in html and "by alice" in html


def test_the_csv_form_has_a_row_per_item(closed, tmp_path):
    rows = list(csv.DictReader(io.StringIO(export(closed, "csv", tmp_path).decode())))
    assert len(rows) == 5
    bob = next(row for row in rows if row["name"] == "Bob Admin")
    assert (bob["decision"], bob["remediation"], bob["review_name"], bob["closed_by"]) == ("revoke", "pending", "Q3 access", "alice")


def test_evidence_report_from_the_admin(closed, alice):
    client = client_for(alice)
    page = client.get(reverse("admin:integrations_accessreview_change", args=[closed.pk])).content.decode()
    assert "Evidence report" in page
    url = reverse("admin:integrations_accessreview_evidence", args=[closed.pk])
    html = b"".join(client.get(url + "?format=html").streaming_content)
    as_json = client.get(url + "?format=json")
    body = b"".join(as_json.streaming_content)
    assert as_json["Content-Disposition"] == f'attachment; filename="access-review-{closed.pk}-evidence.json"'
    assert hashlib.sha256(body).hexdigest().encode() in html


def test_unknown_review(db):
    with pytest.raises(CommandError, match="No access review with id 999"):
        call_command("exportreview", "--review", "999")

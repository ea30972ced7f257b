"""Open an access review of every account of an integration, as a process of its own.

    python bench/open_review.py --integration ID --opened-by USER_ID --reviewer USER_ID   (bench settings)

Prints one last line, `bench-result {"review": ID, "seconds": S, "queries": N}`: the time and
the SQL queries of `open_review` alone (the mail to the reviewer at commit included), not of
Django's start-up. The process's peak RSS is what bench/stats.py reports as it exits.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import stats  # noqa: E402
from integrations.models import Integration  # noqa: E402
from integrations.reviews import services  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--integration", type=int, required=True)
    parser.add_argument("--opened-by", type=int, required=True)
    parser.add_argument("--reviewer", type=int, required=True)
    args = parser.parse_args()
    users = get_user_model().objects
    integration = Integration.objects.select_related("application", "tenant").get(pk=args.integration)
    opened_by, reviewer = users.get(pk=args.opened_by), users.get(pk=args.reviewer)
    queries = stats.COUNTER.queries
    started = time.perf_counter()
    review = services.open_review(
        integration=integration,
        name="Bench access review",
        scope="all",
        due_date=timezone.localdate() + dt.timedelta(days=14),
        opened_by=opened_by,
        reviewers=[reviewer],
    )
    seconds = time.perf_counter() - started
    print("bench-result " + json.dumps({"review": review.pk, "seconds": seconds, "queries": stats.COUNTER.queries - queries}))


if __name__ == "__main__":
    main()

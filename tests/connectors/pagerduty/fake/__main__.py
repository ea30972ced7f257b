"""Run the fake PagerDuty in the foreground: python -m tests.connectors.pagerduty.fake --users 300 ..."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .data import generate_dataset
from .server import FakePagerDuty


def _rate(value: str) -> tuple[int, float]:
    try:
        requests, window = value.split("/", 1)
        return int(requests), float(window)
    except ValueError:
        raise argparse.ArgumentTypeError("expected REQUESTS/SECONDS, e.g. 960/60") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.connectors.pagerduty.fake", description=__doc__)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--teams", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 lets the OS choose")
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every response")
    parser.add_argument("--rate-limit", type=_rate, metavar="N/SECONDS", help="e.g. 960/60")
    parser.add_argument("--no-offset-cap", action="store_true", help="lift the 10,000 offset cap")
    parser.add_argument("--no-licenses", action="store_true", help="an account without licenses")
    args = parser.parse_args(argv)

    dataset = generate_dataset(users=args.users, teams=args.teams, seed=args.seed,
                               with_licenses=not args.no_licenses)
    fake = FakePagerDuty(dataset, token=args.token, host=args.host, port=args.port,
                         offset_cap=None if args.no_offset_cap else 10000, latency=args.latency)
    if args.rate_limit:
        fake.rate_limit(*args.rate_limit)

    done = threading.Event()
    # Handled explicitly: a background job (e.g. `make demo ... &`) starts with SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    with fake:
        print(f"Fake PagerDuty listening on {fake.base_url} (token: {args.token})", flush=True)
        while not done.wait(0.5):
            pass
    print(f"Fake PagerDuty stopped after {fake.request_count} requests", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

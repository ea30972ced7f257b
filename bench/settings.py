"""The project's settings, plus the bench's statistics hook when BALKAN_PD_BENCH_STATS names a file.

Processes the bench measures (`manage.py syncpagerduty`, the peer in bench/peer.py) run with these
settings, so production code knows nothing about the bench.
"""

import os

from balkan_pd.settings import *  # noqa: F401,F403

if os.environ.get("BALKAN_PD_BENCH_STATS"):
    from bench import stats

    stats.install(path=os.environ["BALKAN_PD_BENCH_STATS"])

"""`make run` (scripts/serve.sh) stops within 10 s on SIGTERM to its process group, idle and
with a task running in the cluster: serve.sh passes the SIGTERM on to the cluster's whole group."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time

import pytest

from tests.hardening.processes import kill_all, live_processes, seconds_until_gone
from tests.test_make_run import BASE_DIR, VENV_PYTHON, free_port, login_page_status, make_run_env, wait_for

STOP_LIMIT = 10.0
ENQUEUE_A_LONG_TASK = (
    "import django; django.setup()\n"
    "from django_q.tasks import async_task\n"
    "async_task('time.sleep', 120)\n"
)


@pytest.fixture(scope="module")
def serve_env(tmp_path_factory):
    """`make run`'s environment (tests/test_make_run.py), with a quick queue poll."""
    return {**make_run_env(tmp_path_factory.mktemp("serve-stop")), "PYTHONUNBUFFERED": "1", "Q_POLL": "0.1"}


def logged(log, text: str) -> bool:
    log.seek(0)
    return text in log.read()


@pytest.mark.parametrize("busy", [False, True], ids=["idle", "busy"])
def test_sigterm_to_make_runs_group_stops_admin_and_cluster(serve_env, busy):
    address = f"127.0.0.1:{free_port()}"
    with tempfile.TemporaryFile(mode="w+") as log:
        serve = subprocess.Popen(
            ["bash", "scripts/serve.sh"], env={**serve_env, "RUN_ADDR": address}, cwd=BASE_DIR,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            assert wait_for(lambda: login_page_status(f"http://{address}/admin/login/") == 200, seconds=30)
            assert wait_for(lambda: logged(log, "pushing tasks"), seconds=30)
            if busy:
                subprocess.run([str(VENV_PYTHON), "-c", ENQUEUE_A_LONG_TASK], env=serve_env, cwd=BASE_DIR,
                               check=True, timeout=60)
                assert wait_for(lambda: logged(log, "processing"), seconds=20)
                time.sleep(0.3)

            os.killpg(serve.pid, signal.SIGTERM)  # what a supervisor sends to `make run`'s group
            seconds = seconds_until_gone(session=serve.pid, limit=STOP_LIMIT)

            log.seek(0)
            assert seconds is not None, f"left: {live_processes(session=serve.pid)}\n{log.read()[-3000:]}"
            assert serve.wait(timeout=5) == 143
            print(f"\nmake run, {'busy' if busy else 'idle'}, SIGTERM to its group: stopped in {seconds:.2f} s")
        finally:
            kill_all(session=serve.pid)
            serve.wait(timeout=5)

"""The pieces of `make run`: the .env it writes and the script that serves admin and cluster."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.http import HttpRequest

from tests.paths import ROOT

BASE_DIR = ROOT
WRITE_ENV = BASE_DIR / "scripts" / "write_env.py"
VENV_PYTHON = BASE_DIR / ".venv" / "bin" / "python"


def write_env(path: Path) -> str:
    result = subprocess.run([sys.executable, str(WRITE_ENV), str(path)], capture_output=True, text=True, check=True)
    return result.stdout


def read_env(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_write_env_writes_fresh_keys_readable_only_by_the_owner(tmp_path):
    first, second = tmp_path / "first.env", tmp_path / "second.env"

    assert write_env(first) == "wrote first.env with fresh DJANGO_SECRET_KEY and FIELD_ENCRYPTION_KEY\n"
    write_env(second)

    values = read_env(first)
    Fernet(values["FIELD_ENCRYPTION_KEY"])
    # Strong enough for `check --deploy` (security.W009: 50+ characters, 5+ distinct).
    assert len(values["DJANGO_SECRET_KEY"]) >= 50
    assert len(set(values["DJANGO_SECRET_KEY"])) >= 5
    assert values["DJANGO_SECRET_KEY"] != read_env(second)["DJANGO_SECRET_KEY"]
    assert values["FIELD_ENCRYPTION_KEY"] != read_env(second)["FIELD_ENCRYPTION_KEY"]
    assert stat.S_IMODE(first.stat().st_mode) == 0o600


def test_write_env_never_overwrites_an_existing_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("FIELD_ENCRYPTION_KEY=the-key-that-opens-the-stored-tokens\n")

    assert write_env(env_file) == ".env exists, keeping it\n"
    assert env_file.read_text() == "FIELD_ENCRYPTION_KEY=the-key-that-opens-the-stored-tokens\n"


def test_written_env_starts_the_app_on_plain_http(tmp_path):
    env_file = tmp_path / ".env"
    write_env(env_file)
    # The same reader settings.py uses for the .env beside manage.py.
    code = (
        "import environ, sys; environ.Env.read_env(sys.argv[1]); import django; django.setup(); "
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS)"
    )
    env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "balkan_pd.settings", "BALKAN_PD_DOTENV": "0"}
    result = subprocess.run(
        [sys.executable, "-c", code, str(env_file)], env=env, cwd=BASE_DIR, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "False", "False", "0"]


# --- scripts/serve.sh: the admin and the django-q2 cluster together ------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def processes_in_session(session: int) -> list[int]:
    """Live processes of a session: serve.sh and everything it started, in whatever group."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == session and fields[0] != "Z":
                pids.append(int(entry.name))
    return pids


def kill_session(session: int) -> None:
    for pid in processes_in_session(session):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def command_lines(pids: list[int]) -> list[str]:
    lines = []
    for pid in pids:
        try:
            lines.append((Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            pass
    return lines


def wait_for(predicate, *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def login_page_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except (urllib.error.URLError, OSError):
        return None


@pytest.fixture(scope="module")
def serve_env(tmp_path_factory):
    return make_run_env(tmp_path_factory.mktemp("serve"))


def make_run_env(tmp_path: Path) -> dict[str, str]:
    """What `make run` has before serve.sh: a written .env, a migrated database, static files."""
    assert VENV_PYTHON.exists(), "serve.sh runs .venv/bin/python: create it with `make install`"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "balkan_pd.settings",
        "BALKAN_PD_DOTENV": "0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **read_env_after_writing(tmp_path / ".env"),
    }
    subprocess.run([str(VENV_PYTHON), "manage.py", "migrate", "-v0"], env=env, cwd=BASE_DIR, check=True)
    subprocess.run(
        [str(VENV_PYTHON), "manage.py", "collectstatic", "--no-input", "-v0"], env=env, cwd=BASE_DIR, check=True
    )
    return env


def read_env_after_writing(path: Path) -> dict[str, str]:
    write_env(path)
    return read_env(path)


def start_serve(env: dict[str, str], address: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["bash", "scripts/serve.sh"],
        env={**env, "RUN_ADDR": address},
        cwd=BASE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # A session of its own, as `make run` in a terminal: the script's process group is
        # the terminal's foreground group, the one Ctrl-C signals.
        start_new_session=True,
        # And Ctrl-C as a terminal delivers it: a suite started in the background (`… &` in a
        # script) ignores SIGINT, which bash would inherit and could then not trap.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_serve_runs_admin_and_cluster_and_ctrl_c_stops_both(serve_env):
    address = f"127.0.0.1:{free_port()}"
    serve = start_serve(serve_env, address)
    try:
        assert wait_for(lambda: login_page_status(f"http://{address}/admin/login/") == 200, seconds=30)
        running = command_lines(processes_in_session(serve.pid))
        assert any("manage.py qcluster" in line for line in running), running
        assert any("gunicorn balkan_pd.wsgi" in line for line in running), running
        assert not any("runserver" in line for line in running), running
        # The admin's CSS comes from the same server (WhiteNoise), compressed when asked.
        login = urllib.request.urlopen(f"http://{address}/admin/login/", timeout=5).read().decode()
        css = re.search(r'<link rel="stylesheet" href="(/static/admin/css/[^"]+)"', login).group(1)
        request = urllib.request.Request(f"http://{address}{css}", headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/css")
            assert response.headers["Content-Encoding"] == "gzip"

        os.killpg(serve.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends

        stopped = wait_for(lambda: not processes_in_session(serve.pid), seconds=30)
        assert stopped, command_lines(processes_in_session(serve.pid))
        assert serve.wait(timeout=5) == 130
    finally:
        kill_session(serve.pid)
        serve.wait(timeout=5)


def test_serve_stops_the_cluster_when_the_admin_cannot_start(serve_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        serve = start_serve(serve_env, "127.0.0.1:%d" % taken.getsockname()[1])
        try:
            assert serve.wait(timeout=60) == 1  # gunicorn: "Connection in use", then it gives up
            assert wait_for(lambda: not processes_in_session(serve.pid), seconds=15), command_lines(
                processes_in_session(serve.pid)
            )
        finally:
            kill_session(serve.pid)


# --- The superuser step: `manage.py ensuresuperuser` -------------------------------------


@pytest.fixture
def no_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.delenv("DJANGO_SUPERUSER_USERNAME", raising=False)
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    monkeypatch.delenv("DJANGO_SUPERUSER_EMAIL", raising=False)


@pytest.mark.django_db
def test_superuser_from_the_environment(no_terminal, monkeypatch, django_user_model, client):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "admin")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "Run-Check-pw-2024")

    call_command("ensuresuperuser", stdout=io.StringIO())

    # django-axes checks every password login against its lockout, which needs a request.
    assert client.login(request=HttpRequest(), username="admin", password="Run-Check-pw-2024")
    assert django_user_model.objects.get(username="admin").is_superuser


@pytest.mark.django_db
def test_no_superuser_and_no_terminal_fails_clearly(no_terminal, django_user_model):
    with pytest.raises(CommandError) as raised:
        call_command("ensuresuperuser")

    assert "set DJANGO_SUPERUSER_USERNAME and DJANGO_SUPERUSER_PASSWORD" in str(raised.value)
    assert not django_user_model.objects.exists()


@pytest.mark.django_db
def test_an_existing_superuser_is_kept(no_terminal, monkeypatch, django_user_model):
    django_user_model.objects.create_superuser(username="first", password="x")
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "second")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "Run-Check-pw-2024")

    call_command("ensuresuperuser", stdout=io.StringIO())

    assert list(django_user_model.objects.values_list("username", flat=True)) == ["first"]

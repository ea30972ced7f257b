#!/usr/bin/env bash
# The admin (gunicorn, static files by WhiteNoise) and the django-q2 cluster side by side;
# Ctrl-C, a SIGTERM, or either one dying stops both.
set -u
cd "$(dirname "$0")/.."
BIN="${BALKAN_PD_VENV:-.venv}/bin"
ADDR="${RUN_ADDR:-127.0.0.1:8000}"
# gunicorn's rule of thumb, 2 × cores + 1, at most 8: the admin is light, syncs run in the cluster.
WORKERS="${WEB_CONCURRENCY:-$(( $(nproc) * 2 + 1 > 8 ? 8 : $(nproc) * 2 + 1 ))}"

# Job control puts each child in its own process group, so a Ctrl-C reaches only this
# script, which stops each child with one SIGTERM: the cluster's whole group (as systemd
# stops it), which ends at once even with a sync running; gunicorn's master stops its
# workers itself, gracefully within --graceful-timeout.
set -m
$BIN/python manage.py qcluster &
cluster=$!
$BIN/gunicorn balkan_pd.wsgi --bind "$ADDR" --workers "$WORKERS" --graceful-timeout 5 \
    --access-logfile - --error-logfile - &
server=$!

stop() {
    trap - INT TERM EXIT
    kill -TERM -- -"$cluster" 2>/dev/null
    kill -TERM "$server" 2>/dev/null
    wait "$cluster" "$server" 2>/dev/null
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap 'status=$?; stop; exit $status' EXIT

echo "balkan_pd admin on http://$ADDR/admin/ (gunicorn, $WORKERS workers) with the django-q2 cluster; Ctrl-C stops both."
wait -n "$cluster" "$server"

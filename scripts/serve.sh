#!/usr/bin/env bash
# The admin and the django-q2 cluster side by side; Ctrl-C (or either one dying) stops both.
set -u
cd "$(dirname "$0")/.."
BIN=.venv/bin
ADDR="${RUN_ADDR:-127.0.0.1:8000}"

# Job control puts each child in its own process group, so a Ctrl-C reaches only this
# script, which stops each child with one SIGTERM: the cluster's whole group (as systemd
# stops it), which ends at once even with a sync running; a SIGTERM to its main process
# alone would give the sync a few seconds first.
set -m
$BIN/python manage.py qcluster &
cluster=$!
$BIN/python manage.py runserver --insecure "$ADDR" &
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

echo "balkan_pd admin on http://$ADDR/admin/ with the django-q2 cluster; Ctrl-C stops both."
wait -n "$cluster" "$server"

#!/usr/bin/env bash
# The admin and the django-q2 cluster side by side; Ctrl-C (or either one dying) stops both.
set -u
cd "$(dirname "$0")/.."
BIN=.venv/bin
ADDR="${RUN_ADDR:-127.0.0.1:8000}"

# Job control puts each child in its own process group, so a Ctrl-C reaches only this
# script, which stops each child with one SIGTERM. (The django-q2 cluster can hang when the
# terminal's SIGINT hits it and its workers at the same moment as a SIGTERM, e.g. while starting.)
set -m
$BIN/python manage.py qcluster &
cluster=$!
$BIN/python manage.py runserver --insecure "$ADDR" &
server=$!

stop() {
    trap - INT TERM EXIT
    kill -TERM "$cluster" "$server" 2>/dev/null
    wait "$cluster" "$server" 2>/dev/null
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap 'status=$?; stop; exit $status' EXIT

echo "balkan_pd admin on http://$ADDR/admin/ with the django-q2 cluster; Ctrl-C stops both."
wait -n "$cluster" "$server"

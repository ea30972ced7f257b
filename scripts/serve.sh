#!/usr/bin/env bash
# The admin and the django-q2 cluster side by side; Ctrl-C (or either one dying) stops both.
set -u
cd "$(dirname "$0")/.."
BIN=.venv/bin
$BIN/python manage.py qcluster &
cluster=$!
$BIN/python manage.py runserver --insecure "${RUN_ADDR:-127.0.0.1:8000}" &
server=$!
trap 'kill $cluster $server 2>/dev/null; wait' INT TERM EXIT
echo "balkan_pd admin on http://${RUN_ADDR:-127.0.0.1:8000}/admin/ with the django-q2 cluster; Ctrl-C stops both."
wait -n $cluster $server

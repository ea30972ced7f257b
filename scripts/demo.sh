#!/usr/bin/env bash
# `make demo`: a throwaway balkan_pd on a fake PagerDuty (300 users, 12 teams) on this machine.
# Its own demo.sqlite3 (recreated each time) and a fresh key; no .env, no Redis, no real PagerDuty.
# Ctrl-C stops the admin, the django-q2 cluster and the fake.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
FAKE_PORT="${DEMO_FAKE_PORT:-8765}"

export BALKAN_PD_DOTENV=0
export DJANGO_DEBUG=true
export DATABASE_URL=sqlite:///demo.sqlite3
export PAGERDUTY_API_BASE_URL="http://127.0.0.1:$FAKE_PORT"
export DJANGO_SECURE_SSL_REDIRECT=false DJANGO_SESSION_COOKIE_SECURE=false
export DJANGO_CSRF_COOKIE_SECURE=false DJANGO_SECURE_HSTS_SECONDS=0
FIELD_ENCRYPTION_KEY=$($BIN/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')
export FIELD_ENCRYPTION_KEY
unset REDIS_URL DJANGO_SECRET_KEY
rm -f demo.sqlite3 demo.sqlite3-wal demo.sqlite3-shm

$BIN/python -m tests.connectors.pagerduty.fake --users 300 --teams 12 --port "$FAKE_PORT" --token demo-token &
fake=$!
trap 'kill -TERM "$fake" 2>/dev/null; wait "$fake" 2>/dev/null' EXIT
for _ in $(seq 100); do
    (echo >"/dev/tcp/127.0.0.1/$FAKE_PORT") 2>/dev/null && break
    kill -0 "$fake" 2>/dev/null || { echo "the fake PagerDuty did not start (port $FAKE_PORT in use?)" >&2; exit 1; }
    sleep 0.1
done

$BIN/python manage.py migrate --no-input -v0
$BIN/python manage.py demo
bash scripts/serve.sh

"""Settings for balkan_pd, read from the environment and an optional `.env` beside manage.py.

Every variable is documented in README.md ("Settings") and `.env.example`.
"""

import os
import sys
import re
from datetime import timedelta
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# The environment wins over .env; the test suite sets BALKAN_PD_DOTENV=0 to ignore it.
if env.bool("BALKAN_PD_DOTENV", default=True):
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)

# URL-safe characters only: the key survives .env files and shells unquoted.
GENERATE_SECRET_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(50))"'
GENERATE_FERNET_KEY = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)

# Read as is: django-environ would take a value starting with "$" for a reference to another
# variable, and Django's own generator produces such keys.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            f"DJANGO_SECRET_KEY is not set. Generate one with: {GENERATE_SECRET_KEY} "
            "and put it in .env or the environment (or set DJANGO_DEBUG=true for local development)."
        )
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production-0123456789"

# Stored PagerDuty tokens are encrypted with this Fernet key (django-encrypted-model-fields).
FIELD_ENCRYPTION_KEY = os.environ.get("FIELD_ENCRYPTION_KEY", "")
try:
    Fernet(FIELD_ENCRYPTION_KEY)
except Exception:
    problem = "is not set" if not FIELD_ENCRYPTION_KEY else "is not a valid Fernet key"
    raise ImproperlyConfigured(
        f"FIELD_ENCRYPTION_KEY {problem}. Generate one with: {GENERATE_FERNET_KEY} "
        "and put it in .env or the environment. Keep it: stored tokens cannot be read without it."
    ) from None

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])


def _hsts_seconds(*, default: int) -> int:
    """DJANGO_SECURE_HSTS_SECONDS: seconds, or false/off/no for none (like the other three)."""
    raw = os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "").strip()
    if not raw:
        return default
    if raw.lower() in {"false", "off", "no", "n"}:
        return 0
    try:
        seconds = int(raw)
    except ValueError:
        seconds = -1
    if seconds < 0:
        raise ImproperlyConfigured(
            f"DJANGO_SECURE_HSTS_SECONDS must be a number of seconds (0 or false turns HSTS off), got {raw!r}."
        )
    return seconds


# HTTPS hardening: on unless debugging; each can be turned off for plain-http setups.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = _hsts_seconds(default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Before django_q: its `qcluster` command wraps django-q2's with a stop that cannot hang.
    "integrations",
    "django_q",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's CSS and scripts) straight from the app server, compressed and
    # cached: `make run` and production serve them with gunicorn, never with runserver.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "balkan_pd.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "integrations.tenancy.active_tenant_context",
            ],
        },
    },
]

WSGI_APPLICATION = "balkan_pd.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The admin, `syncpagerduty` and the django-q2 cluster (ORM broker) share this file:
    # WAL lets readers run beside a writer, IMMEDIATE takes the write lock up front so a
    # transaction never fails half-way with "database is locked", and the timeout waits.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
    # A file (not memory) so that worker processes started by tests share it; one per test
    # process so that parallel runs never share a test database.
    DATABASES["default"].setdefault("TEST", {}).setdefault(
        "NAME", env.str("TEST_DB_NAME", default=str(BASE_DIR / f"test_db_{os.getpid()}.sqlite3"))
    )
else:
    if env.str("TEST_DB_NAME", default=""):
        DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str("TEST_DB_NAME")
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
# One date format everywhere: "2026-11-29 21:13 UTC" (balkan_pd/formats/en/formats.py).
FORMAT_MODULE_PATH = ["balkan_pd.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Content-Security-Policy (django-csp; Django 5.2 has none built in) -------------------
# Scripts, styles and everything else from this site only: no inline <script>, no inline
# styles (ours are in integrations/static), no other origin. data: images for the blank
# favicon that spares every page a /favicon.ico request.
INSTALLED_APPS += ["csp"]  # its system check flags settings in the pre-4.0 format
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

LOGIN_URL = "admin:login"

# --- Login lockout (django-axes) ---------------------------------------------------------
# The admin is the product and faces the internet: after 5 failed logins for one username
# from one address, that pair is locked out for 15 minutes (a success resets the count).
# Username and address together, so a guesser cannot lock a user out from everywhere.
INSTALLED_APPS += ["axes"]
# Last, as its docs say: it turns a lockout into the page below.
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
# First: it refuses a locked-out pair before ModelBackend checks the password. It needs the
# request, so tests log in with force_login or client.login(request=HttpRequest(), ...).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
# Its admin pages (access attempts and logs) use Django's model permissions, which no tenant
# user holds: superusers only.
AXES_ENABLE_ADMIN = True

# --- Mail (access review assignments and reminders) --------------------------------------
# consolemail:// prints mails to the server's output; smtp+tls://user:pass@host:587 sends them.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="balkan_pd <noreply@localhost>")
# The address reviewers open the admin at, for the links in mails.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Reviewers with undecided items are reminded daily from this many days before the due date.
REVIEW_REMINDER_DAYS = env.int("REVIEW_REMINDER_DAYS", default=3)

# --- PagerDuty -------------------------------------------------------------------------
# When set, every integration talks to this base URL instead of its region's (tests, demo).
PAGERDUTY_API_BASE_URL = env.str("PAGERDUTY_API_BASE_URL", default="") or None
PAGERDUTY_CONNECT_TIMEOUT = env.float("PAGERDUTY_CONNECT_TIMEOUT", default=5.0)
PAGERDUTY_READ_TIMEOUT = env.float("PAGERDUTY_READ_TIMEOUT", default=30.0)
# Requests of one sync in flight at once. The rate-limit gate keeps them within PagerDuty's
# 960 a minute whatever this is; 24 fetches a 10,000-user account (423 requests at 50 ms)
# in about 1.3 s. Past 24 the gain is small: parsing the pages takes over (`make bench`).
PAGERDUTY_MAX_CONCURRENCY = env.int("PAGERDUTY_MAX_CONCURRENCY", default=24)
# Retries for 5xx, timeouts and connection errors (exponential backoff with jitter).
PAGERDUTY_MAX_RETRIES = env.int("PAGERDUTY_MAX_RETRIES", default=4)
PAGERDUTY_BACKOFF_BASE = env.float("PAGERDUTY_BACKOFF_BASE", default=0.5)
# Total seconds one sync may spend waiting out 429s before it fails with a rate-limit message.
PAGERDUTY_RATE_LIMIT_MAX_WAIT = env.float("PAGERDUTY_RATE_LIMIT_MAX_WAIT", default=300.0)

# --- Sync schedule and django-q2 --------------------------------------------------------
SYNC_DAILY_AT = env.str("SYNC_DAILY_AT", default="02:00")
if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", SYNC_DAILY_AT):
    raise ImproperlyConfigured(f"SYNC_DAILY_AT must be a time as HH:MM (24h), got {SYNC_DAILY_AT!r}.")

# Synced data whose last successful sync is older than this is shown with a warning.
_stale_after = os.environ.get("STALE_AFTER_HOURS", "").strip() or "36"
try:
    STALE_AFTER_HOURS = int(_stale_after)
except ValueError:
    STALE_AFTER_HOURS = 0
if STALE_AFTER_HOURS < 1:
    raise ImproperlyConfigured(f"STALE_AFTER_HOURS must be a whole number of hours, 1 or more, got {_stale_after!r}.")

# A running sync renews its lock's heartbeat six times per this many seconds; a lock whose
# heartbeat is older is a dead sync's (worker or machine killed), and the next sync takes it
# over. A live sync, however long, is never taken over.
SYNC_HEARTBEAT_TIMEOUT_SECONDS = env.float("SYNC_HEARTBEAT_TIMEOUT_SECONDS", default=120)
if not SYNC_HEARTBEAT_TIMEOUT_SECONDS > 0:
    raise ImproperlyConfigured("SYNC_HEARTBEAT_TIMEOUT_SECONDS must be a positive number of seconds.")
if "SYNC_STALE_AFTER_SECONDS" in os.environ:
    # An upgrade must not stop on a setting that no longer does anything: say so, and go on.
    print(
        "balkan_pd: SYNC_STALE_AFTER_SECONDS is no longer used: a sync's lock is taken over once its "
        "heartbeat is older than SYNC_HEARTBEAT_TIMEOUT_SECONDS (default 120); remove it.",
        file=sys.stderr,
    )

REDIS_URL = env.str("REDIS_URL", default="") or None
# Syncs per machine at once. A sync mostly waits on PagerDuty (at 200 ms a request, a sync of
# 50-500 users takes ~0.8 s, ~0.1 s of it CPU): on a 2-core machine 4 workers synced 1,000
# integrations in 205 s where 2 took 444 s, for 2 more database connections (`make bench`,
# scenario 8).
Q_WORKERS = env.int("Q_WORKERS", default=4)
Q_CLUSTER = {
    "name": "balkan_pd",
    # Each sync also fetches pages concurrently (threads, PAGERDUTY_MAX_CONCURRENCY).
    "workers": Q_WORKERS,
    # Take only what this machine's workers can start: the rest stays in the shared queue for
    # idle machines (django-q2's default prefetches workers² tasks per cluster).
    "queue_limit": Q_WORKERS,
    # A worker still busy after this is killed; a sync of a very large account stays well inside.
    "timeout": env.int("Q_TIMEOUT", default=1200),
    # ORM broker only: a task not acknowledged in this time (its machine died) is handed out
    # again, and takes the dead sync's lock over (its heartbeat stopped). Above `timeout`, so a
    # slow sync is never run twice: a sync that outlives `timeout` fails, its task acknowledged.
    "retry": env.int("Q_RETRY", default=1500),
    # A failed sync is recorded (SyncRun, Status Error) and retried by the next daily run or
    # "Sync now", never by the queue: one attempt, and a failure is acknowledged.
    "max_attempts": 1,
    "ack_failures": True,
    # After downtime the daily schedule runs once, not once per missed day.
    "catch_up": False,
    # Successful tasks kept for the django-q2 admin (failures are always kept).
    "save_limit": 1000,
    "label": "Task queue",
}
if not Q_CLUSTER["timeout"] < Q_CLUSTER["retry"]:
    raise ImproperlyConfigured("Q_RETRY must be larger than Q_TIMEOUT, or a running sync is handed out twice.")
if REDIS_URL:
    # django-q2 opens a str with redis.from_url: redis://[:password@]host:port/db, rediss:// for TLS.
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = env.float("Q_POLL", default=1.0)

# The admin's header and page titles.
SITE_TITLE = env.str("SITE_TITLE", default="PagerDuty access review")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"expected_refusals": {"()": "balkan_pd.logging.ExpectedRefusals"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["expected_refusals"]}
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "integrations": {"level": env.str("LOG_LEVEL", default="INFO")},
        # The cluster's own lines (start-up, tasks processed), which operators watch.
        "django-q": {"level": "INFO"},
        # Never log request URLs with headers: urllib3 stays quiet below WARNING.
        "urllib3": {"level": "WARNING"},
    },
}

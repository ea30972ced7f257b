"""Settings for balkan_pd, read from the environment and an optional `.env` beside manage.py.

Every variable is documented in README.md ("Settings") and `.env.example`.
"""

import os
import re
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

GENERATE_SECRET_KEY = (
    "python -c \"from django.core.management.utils import get_random_secret_key; "
    'print(get_random_secret_key())"'
)
GENERATE_FERNET_KEY = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            f"DJANGO_SECRET_KEY is not set. Generate one with: {GENERATE_SECRET_KEY} "
            "and put it in .env or the environment (or set DJANGO_DEBUG=true for local development)."
        )
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production-0123456789"

# Stored PagerDuty tokens are encrypted with this Fernet key (django-encrypted-model-fields).
FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default="")
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

# HTTPS hardening: on unless debugging; each can be turned off for plain-http setups.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
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
    "django_q",
    "integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGIN_URL = "admin:login"

# --- PagerDuty -------------------------------------------------------------------------
# When set, every integration talks to this base URL instead of its region's (tests, demo).
PAGERDUTY_API_BASE_URL = env.str("PAGERDUTY_API_BASE_URL", default="") or None
PAGERDUTY_CONNECT_TIMEOUT = env.float("PAGERDUTY_CONNECT_TIMEOUT", default=5.0)
PAGERDUTY_READ_TIMEOUT = env.float("PAGERDUTY_READ_TIMEOUT", default=30.0)
# Pages of one listing fetched at the same time once the first page told the total.
PAGERDUTY_MAX_CONCURRENCY = env.int("PAGERDUTY_MAX_CONCURRENCY", default=8)
# Retries for 5xx, timeouts and connection errors (exponential backoff with jitter).
PAGERDUTY_MAX_RETRIES = env.int("PAGERDUTY_MAX_RETRIES", default=4)
PAGERDUTY_BACKOFF_BASE = env.float("PAGERDUTY_BACKOFF_BASE", default=0.5)
# Total seconds one sync may spend waiting out 429s before it fails with a rate-limit message.
PAGERDUTY_RATE_LIMIT_MAX_WAIT = env.float("PAGERDUTY_RATE_LIMIT_MAX_WAIT", default=300.0)

# --- Sync schedule and django-q2 --------------------------------------------------------
SYNC_DAILY_AT = env.str("SYNC_DAILY_AT", default="02:00")
if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", SYNC_DAILY_AT):
    raise ImproperlyConfigured(f"SYNC_DAILY_AT must be a time as HH:MM (24h), got {SYNC_DAILY_AT!r}.")

# A sync that has been "Syncing" longer than this is taken as dead (worker killed) and taken over.
SYNC_STALE_AFTER_SECONDS = env.int("SYNC_STALE_AFTER_SECONDS", default=1800)

REDIS_URL = env.str("REDIS_URL", default="") or None
Q_CLUSTER = {
    "name": "balkan_pd",
    "workers": env.int("Q_WORKERS", default=2),
    # A sync of a very large account stays well inside this; `retry` must exceed `timeout`.
    "timeout": env.int("Q_TIMEOUT", default=1200),
    "retry": env.int("Q_RETRY", default=1500),
    "max_attempts": 1,
    # After downtime the daily schedule runs once, not once per missed day.
    "catch_up": False,
    "save_limit": 1000,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = env.float("Q_POLL", default=1.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "integrations": {"level": env.str("LOG_LEVEL", default="INFO")},
        # Never log request URLs with headers: urllib3 stays quiet below WARNING.
        "urllib3": {"level": "WARNING"},
    },
}

"""Settings for the test suite: the real settings, read from a fixed test environment.

A developer's .env is ignored; worker processes started by tests inherit this environment.
"""

import os

os.environ["BALKAN_PD_DOTENV"] = "0"
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-only-for-the-test-suite-0123456789-abcdefghijkl")
# A fixed Fernet key, for tests only.
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "Zm9yLXRlc3RzLW9ubHktZm9yLXRlc3RzLW9ubHktIT0=")
os.environ.setdefault("DJANGO_DEBUG", "false")
# The test client speaks plain http.
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("DJANGO_SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("DJANGO_CSRF_COOKIE_SECURE", "false")
os.environ.setdefault("DJANGO_SECURE_HSTS_SECONDS", "0")
os.environ.setdefault("PAGERDUTY_BACKOFF_BASE", "0.01")

from balkan_pd.settings import *  # noqa: E402,F401,F403

# Test users are created by the hundred: a fast hasher (PBKDF2 costs ~0.5 s per user here).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The test-only second application (tests/connectors/roster/): its one registry line.
EXTRA_CONNECTORS = {"roster": "tests.connectors.roster.connector.RosterConnector"}

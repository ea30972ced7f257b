"""The test database as a DATABASE_URL, for the processes tests start (qcluster, commands)."""

from urllib.parse import quote

from django.conf import settings


def url_of_the_test_database() -> str:
    """The database this test process uses (SQLite file or PostgreSQL), as a DATABASE_URL."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"])
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"

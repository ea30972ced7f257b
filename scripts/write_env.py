"""Write a .env beside manage.py with freshly generated keys, unless one exists.

Used by `make run`; plain http on 127.0.0.1, so the HTTPS hardening is switched off here.
Standard library only: it runs before the dependencies are installed.
"""

import base64
import os
import secrets
import sys
from pathlib import Path

ENV_FILE = Path(__file__).resolve().parent.parent / ".env"


def main() -> int:
    if ENV_FILE.exists():
        print(f"{ENV_FILE.name} exists, keeping it")
        return 0
    secret_key = secrets.token_urlsafe(50)
    fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    ENV_FILE.write_text(
        "# Written by `make run` with fresh keys. See .env.example and README.md, Settings.\n"
        f"DJANGO_SECRET_KEY={secret_key}\n"
        f"FIELD_ENCRYPTION_KEY={fernet_key}\n"
        "DJANGO_DEBUG=false\n"
        "DJANGO_ALLOWED_HOSTS=localhost,127.0.0.1\n"
        "# Plain http on this machine: HTTPS hardening off. Remove these four behind HTTPS.\n"
        "DJANGO_SECURE_SSL_REDIRECT=false\n"
        "DJANGO_SESSION_COOKIE_SECURE=false\n"
        "DJANGO_CSRF_COOKIE_SECURE=false\n"
        "DJANGO_SECURE_HSTS_SECONDS=0\n"
    )
    ENV_FILE.chmod(0o600)
    print(f"wrote {ENV_FILE.name} with fresh DJANGO_SECRET_KEY and FIELD_ENCRYPTION_KEY")
    return 0


if __name__ == "__main__":
    sys.exit(main())

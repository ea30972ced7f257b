"""Write a .env beside manage.py with freshly generated keys, unless one exists.

Used by `make run`; plain http on 127.0.0.1, so the HTTPS hardening is switched off here.
Standard library only: it runs before the dependencies are installed.

    python scripts/write_env.py [PATH]     (PATH defaults to .env beside manage.py)
"""

import base64
import os
import secrets
import sys
from pathlib import Path

ENV_FILE = Path(__file__).resolve().parent.parent / ".env"


def env_text() -> str:
    # URL-safe characters only, so neither .env parsing nor a shell ever mangles them.
    secret_key = secrets.token_urlsafe(50)
    # A Fernet key is 32 random bytes, URL-safe base64 (what Fernet.generate_key() returns).
    fernet_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    return (
        "# Written by `make run` with fresh keys. See .env.example and README.md, Settings.\n"
        "# Keep FIELD_ENCRYPTION_KEY: stored PagerDuty tokens cannot be read without it.\n"
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


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else ENV_FILE
    try:
        # O_EXCL: never overwrite an existing file (its key opens the stored tokens);
        # 0600 from the start: the keys are never readable by others, not even briefly.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"{path.name} exists, keeping it")
        return 0
    with os.fdopen(fd, "w") as env_file:
        env_file.write(env_text())
    print(f"wrote {path.name} with fresh DJANGO_SECRET_KEY and FIELD_ENCRYPTION_KEY")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

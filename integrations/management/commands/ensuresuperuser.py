"""Create the first superuser for `make run`: from the environment, else by prompting."""

import os
import sys

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Create a superuser unless one exists: from DJANGO_SUPERUSER_USERNAME and "
        "DJANGO_SUPERUSER_PASSWORD when set, else interactively."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("A superuser exists; log in with it (or run manage.py createsuperuser).")
            return
        if os.environ.get("DJANGO_SUPERUSER_USERNAME") and os.environ.get("DJANGO_SUPERUSER_PASSWORD"):
            os.environ.setdefault("DJANGO_SUPERUSER_EMAIL", "")
            call_command("createsuperuser", interactive=False, verbosity=0)
            self.stdout.write(f"Created superuser {os.environ['DJANGO_SUPERUSER_USERNAME']}.")
            return
        if not sys.stdin.isatty():
            raise CommandError(
                "No superuser yet: set DJANGO_SUPERUSER_USERNAME and DJANGO_SUPERUSER_PASSWORD, "
                "or run this in a terminal to be asked."
            )
        self.stdout.write("Create the first superuser:")
        call_command("createsuperuser", interactive=True)

"""Roster: a made-up application, to prove that a second connector needs nothing outside its
own package but one line in the registry (here `EXTRA_CONNECTORS` in tests/settings.py)."""

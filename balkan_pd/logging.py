"""Log filters: an expected refusal is one quiet line, not a traceback."""

from __future__ import annotations

import logging


class ExpectedRefusals(logging.Filter):
    """Django logs every 400, 403 and 404 at WARNING with the exception's traceback attached: a
    tenant user following an old link, or a query the admin refuses, is not an error. Keep
    the line, drop the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "django.request" and getattr(record, "status_code", None) in (400, 403, 404):
            record.exc_info = None
            record.exc_text = None
        return True

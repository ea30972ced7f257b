"""Log filters: an expected refusal is one quiet line, not a traceback."""

from __future__ import annotations

import logging


class ExpectedRefusals(logging.Filter):
    """Django logs every 400, 403 and 404 at WARNING with the exception's traceback attached: a
    tenant user following an old link, or a query the admin refuses, is not an error. Keep
    the line, drop the traceback. A suspicious operation (a lookup the admin does not offer)
    keeps its ERROR line under django.security.*, for whoever watches those, without its
    traceback: a client repeating one would otherwise write megabytes of the same stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        refused = record.name == "django.request" and getattr(record, "status_code", None) in (400, 403, 404)
        suspicious = record.name.startswith("django.security.") and getattr(record, "status_code", None) == 400
        if refused or suspicious:
            record.exc_info = None
            record.exc_text = None
        return True

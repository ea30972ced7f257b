"""The admin's one date format, for Django's own rendering (readonly fields, date columns):
"2026-11-29 21:13 UTC", as integrations.admin.html.when writes it."""

DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"

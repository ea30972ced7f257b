"""`make bench`: what a PagerDuty sync costs, measured against the limits PagerDuty sets.

Run with `make bench` (SQLite in a temporary directory) or
`make bench DATABASE_URL=postgres://user@host:5432/any` (a dedicated database,
bench_balkan_pd, is created on that server and dropped afterwards). See README "Performance".
"""

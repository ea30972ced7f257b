# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
# Two environments: .venv runs the app with its runtime dependencies only (`make run`,
# `make demo`); .venv-test adds the test tools (`make test`, `make bench`).
VENV      := .venv
BIN       := $(VENV)/bin
STAMP     := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
TEST_VENV := .venv-test
TEST_BIN  := $(TEST_VENV)/bin
TEST_STAMP := $(TEST_VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/balkan_pd
PRISM_VERSION := 5.16.0
PRISM  := .prism/node_modules/.bin/prism

.PHONY: run test test-sqlite test-postgres install browser prism demo bench migrations clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("balkan_pd needs Python 3.11+") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet .
	rm -f $(VENV)/.installed-* && touch $@

$(TEST_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("balkan_pd needs Python 3.11+") if sys.version_info < (3, 11) else None'
	test -x $(TEST_BIN)/python || $(PYTHON) -m venv $(TEST_VENV)
	$(TEST_BIN)/python -m pip install --quiet --upgrade pip
	$(TEST_BIN)/python -m pip install --quiet ".[test]"
	rm -f $(TEST_VENV)/.installed-* && touch $@

install: $(STAMP) $(TEST_STAMP) prism

# Stoplight Prism, a PagerDuty mock nobody here wrote, serving PagerDuty's own OpenAPI spec
# (tests/connectors/pagerduty/test_prism_conformance.py): into .prism/, once, when npm is here.
prism: $(PRISM)

$(PRISM):
	@if command -v npm >/dev/null 2>&1; then \
		npm install --prefix .prism --no-audit --no-fund --loglevel=error @stoplight/prism-cli@$(PRISM_VERSION); \
	else echo "npm is missing: the Prism conformance test will be skipped (under CI=true it fails)"; fi

.env:
	$(PYTHON) scripts/write_env.py

# Virtualenv, dependencies, .env, migrate, a superuser, then the admin and the django-q2
# cluster together on http://127.0.0.1:8000/admin/ (Ctrl-C stops both).
run: $(STAMP) .env
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py ensuresuperuser
	$(BIN)/python manage.py collectstatic --no-input -v0
	@bash scripts/serve.sh

# Debian's chromium for the browser tests (Playwright drives it; it never downloads a browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "chromium is missing: install it (apt-get install chromium) to run the browser tests"; fi; }

# The whole suite on SQLite (the embedded default).
test: $(STAMP) $(TEST_STAMP) browser prism
	$(TEST_BIN)/python -m pytest

# The whole suite again on this machine's PostgreSQL.
test-postgres: $(STAMP) $(TEST_STAMP) browser prism
	DATABASE_URL=$(PG_TEST_URL) $(TEST_BIN)/python -m pytest

# A throwaway demo on a fake PagerDuty (300 users): its own demo.sqlite3, no .env needed;
# logins demo/demo-password (tenant admin) and reviewer/reviewer-password. Ctrl-C stops all.
demo: $(STAMP)
	@bash scripts/demo.sh

# What a sync costs against PagerDuty's limits, as one table (README "Performance"), against a
# fake PagerDuty on 127.0.0.1 and a database of its own: SQLite in a temporary directory, or
# with DATABASE_URL=postgres://… a bench_balkan_pd database on that server (dropped after).
bench: $(TEST_STAMP)
	$(TEST_BIN)/python -m bench $(if $(DATABASE_URL),--database-url '$(DATABASE_URL)')

migrations: $(TEST_STAMP)
	DJANGO_DEBUG=true FIELD_ENCRYPTION_KEY=$$($(TEST_BIN)/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())') \
		$(TEST_BIN)/python manage.py makemigrations integrations

clean:
	rm -rf $(VENV) $(TEST_VENV) .prism .pytest_cache staticfiles test_db_*.sqlite3* demo.sqlite3*

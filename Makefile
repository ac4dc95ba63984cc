# The two front-door commands are `make run` and `make test`; see README.md.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_PACKAGES := libharfbuzz-subset0 fonts-noto-cjk fontconfig gettext
TEST_PACKAGES := $(RUN_PACKAGES) poppler-utils chromium wrk
# One test process per core; each has its own test database (test_carbon_registry_gw0, _gw1).
TEST_WORKERS ?= 2
STRICT := $(if $(filter true,$(CI)),--strict,)

.PHONY: run test lint format migrations-check messages worker beat install system-packages clean screenshots

$(STAMP): pyproject.toml
	@test -x $(PY) || { python=$$(.ci/find-python) && "$$python" -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# The embedded demo (ADR 0011): DEBUG off, so visitors see the portal's own error pages, yet plain HTTP on
# 127.0.0.1, the development keys and the demo logins. `make run DJANGO_DEBUG=true` shows Django's debug pages.
run: export DJANGO_DEBUG ?= false
run: export DJANGO_EMBEDDED_DEMO ?= true
run: $(STAMP)
	@.ci/system-packages $(RUN_PACKAGES)
	$(PY) manage.py build_pdf_fonts
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py serve 127.0.0.1:8000

# This machine's environment sets PYTHONDONTWRITEBYTECODE: with no cached bytecode, every test process
# rewrote the assertions of all test modules again, some 8 s of each worker's collection on every run.
test: export PYTHONDONTWRITEBYTECODE :=
test: $(STAMP)
	@.ci/system-packages $(STRICT) $(TEST_PACKAGES)
	$(PY) manage.py build_pdf_fonts
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations-check: $(STAMP)
	$(PY) manage.py makemigrations --check --dry-run

# Compiled catalogues are committed, so a machine without gettext still shows Chinese.
messages: $(STAMP)
	$(PY) manage.py makemessages --locale zh_Hans --no-obsolete --ignore '.venv/*' --ignore 'var/*' --ignore 'static/vendor/*'
	$(PY) manage.py compilemessages --locale zh_Hans --ignore '.venv/*'

# The README's pictures (docs/screenshots/): the demo on a fresh SQLite file in a temporary folder, served on
# a free port and photographed in Chromium. Leaves var/db.sqlite3 alone; takes about two minutes.
screenshots: $(STAMP)
	@.ci/system-packages $(RUN_PACKAGES) chromium
	$(PY) docs/screenshots.py

# Production-style background processes: need REDIS_URL (e.g. redis://127.0.0.1:6379/0).
worker: $(STAMP)
	$(VENV)/bin/celery -A config worker --loglevel INFO

beat: $(STAMP)
	$(VENV)/bin/celery -A config beat --loglevel INFO --schedule var/celerybeat-schedule

clean:
	rm -rf $(VENV) var

# One command, one run, one report (issue 15; docs/performance.md, "`make bench`"): fills its own database
# with generate_load unless it holds that scale, then the pages under wrk, worker memory, a registration,
# retirements and the verifications; JSON in bench/results/. BENCH_ARGS="--quick" tries it small.
.PHONY: bench
bench: $(STAMP)
	@.ci/system-packages wrk
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/carbon_registry_bench_all REDIS_URL=redis://127.0.0.1:6379/10 $(PY) -m bench.run $(BENCH_ARGS)

bench-queue: $(STAMP)
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/carbon_registry_bench $(PY) -m bench.queue_pages

bench-public: $(STAMP)
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/carbon_registry_bench_public $(PY) -m bench.public_load

bench-registration: $(STAMP)
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/carbon_registry_bench_reg REDIS_URL=redis://127.0.0.1:6379/13 $(PY) -m bench.registration $(BENCH_ARGS)

bench-retirements: $(STAMP)
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/carbon_registry_bench_ret REDIS_URL=redis://127.0.0.1:6379/12 $(PY) -m bench.retirements

# Issue 14's behaviour benchmark (bench/behaviour.py): ingestion end to end through the API and two Celery
# worker processes, the API's memory on one batch, 1 against 2 processes, pages with records stored.
# BENCH_ARGS="--quick" tries it small (200,000 records).
.PHONY: bench-behaviour
bench-behaviour: $(STAMP)
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/carbon_registry_bench_behaviour REDIS_URL=redis://127.0.0.1:6379/13 $(PY) -m bench.behaviour $(BENCH_ARGS)

# Where one behaviour chunk's time goes (bench/behaviour_profile.py): chunks processed in this process,
# statement by statement; its own database. BENCH_ARGS="--records 100000" for a shorter run.
.PHONY: bench-behaviour-profile
bench-behaviour-profile: $(STAMP)
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/carbon_registry_profile_bench_behaviour $(PY) -m bench.behaviour_profile $(BENCH_ARGS)

# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-installed

# Everything Airflow writes stays inside the repository.
export AIRFLOW_HOME := $(CURDIR)/.local/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION := True
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)
export PATH := $(BIN):$(PATH)

DEMO_FIRST_DAY ?= 2026-11-16
DEMO_RUN_DAYS ?= 7
DEMO_SCALE ?= 400

.PHONY: setup venv chromium demo test test-busy bench bench-push bench-history airflow clean sample

# Everything both commands need; `make test` needs only the venv and Chromium (its tests migrate
# an Airflow home of their own), `make demo` only the venv and the demo's Airflow home.
setup: venv chromium $(AIRFLOW_HOME)/airflow.db

venv: $(STAMP)

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

$(AIRFLOW_HOME)/airflow.db: $(STAMP)
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (tail -50 $(AIRFLOW_HOME)/db-migrate.log; exit 1)

# The report tests render pages in headless Chromium. The one place it is installed (.ci/run goes
# through `make test`): Debian's package, with sudo when not root; elsewhere one line says what to install.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  fail() { echo "make: the report tests need headless Chromium on PATH: $$1" >&2; exit 1; }; \
	  command -v apt-get >/dev/null 2>&1 || fail "install your system's chromium package (no apt-get here to do it)"; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  [ -z "$$sudo" ] || command -v sudo >/dev/null 2>&1 || fail "run 'apt-get install chromium' as root (no sudo here)"; \
	  echo "Installing Debian's chromium package for the report tests"; \
	  mkdir -p .local; \
	  { $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
	      --no-install-recommends chromium; } > .local/apt-chromium.log 2>&1 \
	    || { tail -5 .local/apt-chromium.log >&2; fail "apt-get could not install Debian's chromium package (log: .local/apt-chromium.log)"; }; \
	}

# The demo's warehouse is a fresh file every time, and so are its reports: outputs of an older
# version or of other sample data never linger.
sample: venv $(AIRFLOW_HOME)/airflow.db
	rm -f .local/warehouse.duckdb .local/warehouse.duckdb.wal
	rm -f reports/discrepancy_* reports/outbox_* reports/index.html
	$(BIN)/python -m adjust_amplitude.sample_warehouse --path .local/warehouse.duckdb \
		--first-day $(DEMO_FIRST_DAY) --days $$(( $(DEMO_RUN_DAYS) + 2 )) --scale $(DEMO_SCALE) --replace

demo: sample
	$(BIN)/python -m adjust_amplitude.demo --first-day $(DEMO_FIRST_DAY) --days $(DEMO_RUN_DAYS)

# The test files run side by side, one per core (pytest-xdist; at most 4 workers): most of the
# suite's time is `airflow dags test` processes and ZetaSQL, each on one core.
test: venv chromium
	$(BIN)/python -m pytest -q --durations=10 -n auto --maxprocesses 4 --dist loadfile tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; exit $$rc

# The suite on a machine made busy on purpose: BUSY_BURNERS shell loops (two per core by default)
# burn the CPU for as long as `make test` runs. Each runs in a session of its own: Linux shares the
# CPU between sessions first (autogroup), so burners in the tests' session would slow them far less.
BUSY_BURNERS ?= $$(( 2 * $$(nproc) ))
test-busy: venv chromium
	@pids=""; for i in $$(seq $(BUSY_BURNERS)); do setsid sh -c 'while :; do :; done' & pids="$$pids $$!"; done; \
	trap 'kill $$pids' EXIT INT TERM; echo "$(BUSY_BURNERS) CPU burners running beside the tests"; \
	$(MAKE) --no-print-directory test

bench: venv $(AIRFLOW_HOME)/airflow.db
	$(BIN)/python bench/bench_pipeline.py

bench-push: venv
	$(BIN)/python bench/bench_push.py

# 60 daily runs at constant volume: does a run's cost stay flat as history grows? (README: Cost on BigQuery)
bench-history: venv
	$(BIN)/python bench/bench_history.py

airflow: venv $(AIRFLOW_HOME)/airflow.db
	$(BIN)/airflow standalone

clean:
	rm -rf .local reports

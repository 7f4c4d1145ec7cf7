# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
PIP_VERSION := 26.3
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

.PHONY: setup venv chromium demo test test-fast test-busy test-compat compat-lock test-postgres postgres lock mwaa bench \
	bench-push bench-history airflow clean sample docs

# Everything both commands need; `make test` needs only the venv and Chromium (its tests migrate
# an Airflow home of their own), `make demo` only the venv and the demo's Airflow home.
setup: venv chromium $(AIRFLOW_HOME)/airflow.db

venv: $(STAMP)

# The demo, tests and benchmarks run on the pinned set of requirements-dev.txt (Airflow itself,
# requirements.txt's ranges and the test tools, every package pinned), so both commands install
# exactly the same packages on every machine. requirements.txt alone is what a platform gets.
$(STAMP): requirements.txt requirements-test.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==$(PIP_VERSION)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip check
	touch $(STAMP)

# The demo's Airflow home, with the warehouse Connection pointing at the sample warehouse (there
# is no default warehouse: on a platform it would be a file on one worker's disk). As JSON: given
# as --conn-type, a type no installed provider registers (duckdb) is stored as "generic".
$(AIRFLOW_HOME)/airflow.db: $(STAMP)
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (tail -50 $(AIRFLOW_HOME)/db-migrate.log; exit 1)
	$(BIN)/airflow connections delete adjust_amplitude_warehouse > /dev/null 2>&1 || true
	$(BIN)/airflow connections add adjust_amplitude_warehouse \
	  --conn-json '{"conn_type": "duckdb", "host": "$(CURDIR)/.local/warehouse.duckdb"}' > /dev/null

# A Debian package a test suite needs, installed when $(1) finds nothing: through apt-get, with
# sudo when not root; where that cannot be done, one line says what to install. $(2) is the
# package, $(3) what needs it. The one place test tools come from the system (.ci/run goes through
# the targets below).
define apt_install
@{ $(1); } >/dev/null 2>&1 || { \
  fail() { echo "make: Debian's $(2) package is needed for $(3): $$1" >&2; exit 1; }; \
  command -v apt-get >/dev/null 2>&1 || fail "install your system's $(2) package (no apt-get here to do it)"; \
  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
  [ -z "$$sudo" ] || command -v sudo >/dev/null 2>&1 || fail "run 'apt-get install $(2)' as root (no sudo here)"; \
  echo "Installing Debian's $(2) package for $(3)"; \
  mkdir -p .local; \
  { $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
      --no-install-recommends $(2); } > .local/apt-$(2).log 2>&1 \
    || { tail -5 .local/apt-$(2).log >&2; fail "apt-get could not install it (log: .local/apt-$(2).log)"; }; \
}
endef

# The report tests render pages in headless Chromium.
chromium:
	$(call apt_install,command -v chromium || command -v chromium-browser,chromium,the report tests)

# The Postgres test (tests/airflow/test_postgres.py) starts its own cluster from the server binaries.
postgres:
	$(call apt_install,ls /usr/lib/postgresql/*/bin/initdb,postgresql,the Postgres test)

# The demo's warehouse is a fresh file every time, and so are its reports: outputs of an older
# version or of other sample data never linger.
sample: venv $(AIRFLOW_HOME)/airflow.db
	rm -f .local/warehouse.duckdb .local/warehouse.duckdb.wal
	rm -f $(AIRFLOW_HOME)/reports/discrepancy_* $(AIRFLOW_HOME)/reports/outbox_* $(AIRFLOW_HOME)/reports/index.html
	$(BIN)/python -m demo.sample_warehouse --path .local/warehouse.duckdb \
		--first-day $(DEMO_FIRST_DAY) --days $$(( $(DEMO_RUN_DAYS) + 2 )) --scale $(DEMO_SCALE) --replace

demo: sample
	$(BIN)/python -m demo.run --first-day $(DEMO_FIRST_DAY) --days $(DEMO_RUN_DAYS)

# The test files run side by side (pytest-xdist): a worker per core and one more, at most 4. Most of
# the suite's time is `airflow dags test` processes and ZetaSQL, each on one core, but some tests
# wait (a claim lapsing, a server trickling its answer): the extra worker fills those waits (2
# cores: 7:21 with 3 workers, 7:56 with 2, 2026-12-05). What runs is in
# pytest.ini: the Postgres test has its own target (it needs Debian's postgresql, and starts a
# cluster); the days in each platform's layout run in test-compat, on the oldest and the newest
# supported Airflow.
XDIST := -n $(shell $(PYTHON) -c 'import os; print(min(4, os.cpu_count() + 1))') --dist loadfile
test: venv chromium
	$(BIN)/python -m pytest $(XDIST); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; exit $$rc

# The rules, quickly, while editing them: the rule tests but the slow ones, on DuckDB alone (make
# test checks each of their statements with ZetaSQL too).
test-fast: venv
	$(BIN)/python -m pytest $(XDIST) -m "not slow and not postgres and not layout" --plain-duckdb tests/rules

# Airflow on a Postgres metadata DB: a scheduled run beside a 3-day backfill (tests/airflow/test_postgres.py).
test-postgres: venv postgres
	$(BIN)/python -m pytest -q -s -m postgres tests/airflow/test_postgres.py

# The oldest and the newest supported Airflow (README: Deploy), each in its own venv installed as a
# platform would (compat/install.sh): the DAG integrity test, the day each kind of run processes,
# the errors that fail a task at once (their class moved between versions), the packaging checks,
# and one day of `airflow dags test` in each platform's file layout. CI runs the oldest.
COMPAT_AIRFLOW ?= 3.1.7 3.3.2
COMPAT_TESTS := tests/dags tests/airflow/test_run_day.py tests/airflow/test_fail_at_once.py tests/project/test_packaging.py tests/airflow/test_platform_layouts.py
test-compat:
	@set -e; for version in $(COMPAT_AIRFLOW); do \
	  echo "== Airflow $$version"; \
	  compat/install.sh $$version $(CURDIR)/.local/compat/airflow-$$version $(PYTHON) $(PIP_VERSION); \
	  PATH=$(CURDIR)/.local/compat/airflow-$$version/bin:$$PATH $(CURDIR)/.local/compat/airflow-$$version/bin/python -m pytest -p no:cacheprovider -m "not postgres" $(COMPAT_TESTS); \
	done

# Freezes compat/airflow-<version>.txt: what `pip install apache-airflow==<version>` gives today,
# the stand-in for a platform's image in test-compat.
compat-lock:
	@set -e; for version in $(COMPAT_AIRFLOW); do \
	  rm -rf .local/compat/lock-$$version; $(PYTHON) -m venv .local/compat/lock-$$version; \
	  .local/compat/lock-$$version/bin/python -m pip install --quiet pip==$(PIP_VERSION); \
	  .local/compat/lock-$$version/bin/python -m pip install --quiet apache-airflow==$$version; \
	  { echo "# Airflow $$version as \`pip install apache-airflow==$$version\` gave it: the platform of make test-compat (make compat-lock)"; \
	    .local/compat/lock-$$version/bin/python -m pip freeze; } > compat/airflow-$$version.txt; \
	  echo "compat/airflow-$$version.txt: $$(grep -c == compat/airflow-$$version.txt) packages"; \
	done

# requirements-dev.txt made anew: the newest supported Airflow, requirements.txt and the test tools,
# resolved in a new venv and frozen. Run after changing either requirements file.
DEV_AIRFLOW ?= 3.3.2
lock:
	rm -rf .local/lock; $(PYTHON) -m venv .local/lock
	.local/lock/bin/python -m pip install --quiet pip==$(PIP_VERSION)
	.local/lock/bin/python -m pip install --quiet apache-airflow==$(DEV_AIRFLOW) -r requirements.txt -r requirements-test.txt
	{ sed -n '/^-r requirements-test.txt/q;p' requirements-dev.txt; echo "-r requirements-test.txt"; \
	  .local/lock/bin/python -m pip freeze; } > requirements-dev.txt.new && mv requirements-dev.txt.new requirements-dev.txt

# What MWAA takes from its bucket (docs/deploy.md: MWAA): dist/mwaa/plugins.zip, requirements.txt
# behind the --constraint line of the environment's Airflow, and the DAG folder.
MWAA_AIRFLOW ?= 3.3.1
MWAA_PYTHON ?= 3.12
mwaa:
	$(PYTHON) deploy/mwaa_bundle.py --airflow $(MWAA_AIRFLOW) --python $(MWAA_PYTHON)

# The suite on a machine made busy on purpose: BUSY_BURNERS shell loops (two per core by default)
# burn the CPU for as long as `make test` runs. Each runs in a session of its own: Linux shares the
# CPU between sessions first (autogroup), so burners in the tests' session would slow them far less.
BUSY_BURNERS ?= $$(( 2 * $$(nproc) ))
test-busy: venv chromium
	@pids=""; for i in $$(seq $(BUSY_BURNERS)); do setsid sh -c 'while :; do :; done' & pids="$$pids $$!"; done; \
	trap 'kill $$pids' EXIT INT TERM; echo "$(BUSY_BURNERS) CPU burners running beside the tests"; \
	$(MAKE) --no-print-directory test

bench: venv $(AIRFLOW_HOME)/airflow.db
	$(BIN)/python bench/bench_pipeline.py $(BENCH_ARGS)

bench-push: venv
	$(BIN)/python bench/bench_push.py

# 60 daily runs at constant volume: does a run's cost stay flat as history grows? (docs/benchmarks.md)
bench-history: venv
	$(BIN)/python bench/bench_history.py

# docs/configuration.md's settings table, written anew from the declaration of Settings (config.py).
docs: venv
	$(BIN)/python -m docs.settings_table

airflow: venv $(AIRFLOW_HOME)/airflow.db
	$(BIN)/airflow standalone

clean:
	rm -rf .local

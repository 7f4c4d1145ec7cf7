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

.PHONY: setup demo test bench bench-push airflow clean sample

setup: $(STAMP) $(AIRFLOW_HOME)/airflow.db

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

$(AIRFLOW_HOME)/airflow.db: $(STAMP)
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (tail -50 $(AIRFLOW_HOME)/db-migrate.log; exit 1)

# The demo's warehouse is a fresh file every time, and so are its reports: outputs of an older
# version or of other sample data never linger.
sample: setup
	rm -f .local/warehouse.duckdb .local/warehouse.duckdb.wal
	rm -f reports/discrepancy_* reports/outbox_* reports/index.html
	$(BIN)/python -m adjust_amplitude.sample_warehouse --path .local/warehouse.duckdb \
		--first-day $(DEMO_FIRST_DAY) --days $$(( $(DEMO_RUN_DAYS) + 2 )) --scale $(DEMO_SCALE) --replace

demo: sample
	$(BIN)/python -m adjust_amplitude.demo --first-day $(DEMO_FIRST_DAY) --days $(DEMO_RUN_DAYS)

test: setup
	$(BIN)/python -m pytest -q --durations=10 tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; exit $$rc

bench: setup
	$(BIN)/python bench/bench_pipeline.py

bench-push: setup
	$(BIN)/python bench/bench_push.py

airflow: setup
	$(BIN)/airflow standalone

clean:
	rm -rf .local reports

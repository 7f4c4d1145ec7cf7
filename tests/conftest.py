"""Test setup: a throwaway Airflow home inside the repo, the plugins on sys.path, and helpers.

Environment variables are set before anything imports Airflow, so the SDK and the CLI both use
this home and never the user's.
"""

from __future__ import annotations

import os
import shutil
import sys
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# One Airflow home per Airflow version (make test-compat runs others) and pytest-xdist worker (gw0,
# gw1...): each migrates and runs against its own metadata DB, so no two runs share one.
TEST_AIRFLOW_HOME = (REPO / ".local" / "test-airflow" / metadata.version("apache-airflow")
                     / os.environ.get("PYTEST_XDIST_WORKER", "main"))

os.environ["AIRFLOW_HOME"] = str(TEST_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO / "plugins"), str(REPO)])
for name in list(os.environ):
    # A developer's own settings must not leak into the tests.
    if name.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_")):
        del os.environ[name]
for path in (str(REPO / "plugins"), str(REPO / "tests"), str(REPO / "tests" / "support"), str(REPO)):
    if path not in sys.path:
        sys.path.insert(0, path)

# Airflow configures logging (replacing the root handlers) the first time it is used. Do it
# now, before pytest adds its per-test capture handlers, so caplog sees every record.
from airflow.sdk import BaseHook  # noqa: E402,F401

from airflow_runs import airflow  # noqa: E402


def pytest_collection_modifyitems(items):
    """The slow test files first: pytest-xdist hands out whole files in this order, so a long file
    started last would keep one worker busy while the others wait."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_addoption(parser):
    parser.addoption("--plain-duckdb", action="store_true",
                     help="run the rule tests on DuckDB alone, without checking each statement with ZetaSQL (make test-fast)")


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """A metadata DB made afresh for each session, for tests that run the real `airflow` CLI.
    `airflow.pristine.db` is a copy made before any test adds DAG runs to it."""
    TEST_AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    (TEST_AIRFLOW_HOME / "airflow.db").unlink(missing_ok=True)
    airflow("db", "migrate", env=os.environ.copy())
    shutil.copy(TEST_AIRFLOW_HOME / "airflow.db", TEST_AIRFLOW_HOME / "airflow.pristine.db")
    return TEST_AIRFLOW_HOME


@pytest.fixture(scope="session")
def sample_reports(tmp_path_factory):
    """Seven consecutive in-process runs over generated data, reports in a folder; the last four
    close windows. Returns (warehouse path, report folder, each day's run result)."""
    from adjust_amplitude.config import Settings
    from demo.sample_warehouse import write_warehouse
    from pipeline_helpers import REPORT_FIRST_DAY, REPORT_RUN_DAYS, run_day

    root = tmp_path_factory.mktemp("reports")
    db = root / "warehouse.duckdb"
    write_warehouse(db, REPORT_FIRST_DAY, 9, scale=300, seed=5)
    settings = Settings(report_dir=str(root / "out"))
    results = {day: run_day(db, day, settings=settings) for day in REPORT_RUN_DAYS}
    return db, root / "out", results

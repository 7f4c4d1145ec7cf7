"""Test setup: a throwaway Airflow home inside the repo, the plugins on sys.path, and helpers.

Environment variables are set before anything imports Airflow, so the SDK and the CLI both use
this home and never the user's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_AIRFLOW_HOME = REPO / ".local" / "test-airflow"

os.environ["AIRFLOW_HOME"] = str(TEST_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO / "plugins"), str(REPO)])
for name in list(os.environ):
    # A developer's own settings must not leak into the tests.
    if name.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_")):
        del os.environ[name]
for path in (str(REPO / "plugins"), str(REPO / "tests")):
    if path not in sys.path:
        sys.path.insert(0, path)

# Airflow configures logging (replacing the root handlers) the first time it is used. Do it
# now, before pytest adds its per-test capture handlers, so caplog sees every record.
from airflow.sdk import BaseHook  # noqa: E402,F401


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """A migrated metadata DB for tests that run the real `airflow` CLI."""
    TEST_AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
        capture_output=True, text=True, env=os.environ.copy(),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return TEST_AIRFLOW_HOME

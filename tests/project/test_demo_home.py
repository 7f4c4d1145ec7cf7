"""The demo's Airflow home as `make demo` makes it: its warehouse Connection must be the DuckDB
one the pipeline reads. (Once it was stored as `generic`, and every demo day failed.)"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from project_files import REPO

pytestmark = pytest.mark.slow  # the Makefile's demo home made afresh


def test_the_demo_home_points_the_warehouse_connection_at_the_sample_file(tmp_path):
    home = tmp_path / "airflow"
    env = {k: v for k, v in os.environ.items() if k != "MAKEFLAGS"}
    # The Makefile's own target, with its home moved here (a command-line variable overrides the
    # Makefile's), so the developer's demo home is left alone.
    made = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), f"AIRFLOW_HOME={home}", f"{home}/airflow.db"],
                          capture_output=True, text=True, env=env)
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    got = subprocess.run([str(REPO / ".venv" / "bin" / "airflow"), "connections", "get", "adjust_amplitude_warehouse",
                          "-o", "json"], capture_output=True, text=True, env={**env, "AIRFLOW_HOME": str(home)})
    assert got.returncode == 0, got.stderr[-3000:]
    (conn,) = json.loads(got.stdout[got.stdout.index("["):])
    assert (conn["conn_type"], conn["host"]) == ("duckdb", str(REPO / ".local" / "warehouse.duckdb"))

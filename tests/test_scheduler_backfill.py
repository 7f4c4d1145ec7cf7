"""Real scheduler: `airflow standalone`, a scheduled run and an `airflow backfill create` of two
days started together on one DuckDB warehouse. Each day must be processed by its own run, once.
The README's consumer DAG runs beside it and must be triggered by the report Asset.

The CLI writes (unpause, backfill) happen before standalone starts: SQLite takes one writer at a
time, and a CLI racing the scheduler for it fails with "database is locked", which says nothing
about this project."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from adjust_amplitude.sample_warehouse import write_warehouse
from conftest import REPO, readme_asset_example
from pipeline_helpers import query

DAG_ID = "adjust_amplitude_attribution"
CONSUMER_ID = "notify_marketing"
BIN = Path(sys.executable).parent
FIRST = dt.date(2026, 10, 5)  # days no other test runs in the shared metadata DB


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def airflow(env, *args, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN / "airflow"), *args], env=env, capture_output=True, text=True)
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def wait_for(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; standalone log tail:\n{log.read_text()[-4000:]}")


def finished_runs(env, dag_id: str) -> list[dict] | None:
    """The DAG's runs once there is at least one and all of them have finished, else None."""
    done = airflow(env, "dags", "list-runs", dag_id, "-o", "json", check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("[{")]
    runs = json.loads(lines[0]) if done.returncode == 0 and lines else []
    return runs if runs and all(r["state"] in ("success", "failed") for r in runs) else None


@pytest.fixture
def standalone(airflow_home, tmp_path):
    home = tmp_path / "airflow"
    home.mkdir()
    shutil.copy(airflow_home / "airflow.db", home / "airflow.db")
    db = tmp_path / "warehouse.duckdb"
    write_warehouse(db, FIRST, 3, scale=40, seed=5)
    dags = tmp_path / "dags"  # this project's DAG and the README's consumer of its report Asset
    shutil.copytree(REPO / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    (dags / f"{CONSUMER_ID}.py").write_text(readme_asset_example())
    port = free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",  # standalone spawns `airflow` subprocesses
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW_CONN_ADJUST_AMPLITUDE_WAREHOUSE": json.dumps({"conn_type": "duckdb", "host": str(db)}),
        "AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS": json.dumps({"report_dir": str(tmp_path / "reports")}),
    }
    airflow(env, "dags", "reserialize")
    # Unpausing makes the scheduler start the latest interval at once; the backfill's runs are
    # queued too, so both reach the warehouse together when the scheduler comes up.
    airflow(env, "dags", "unpause", DAG_ID)
    airflow(env, "dags", "unpause", CONSUMER_ID)
    airflow(env, "backfill", "create", "--dag-id", DAG_ID, "--from-date", FIRST.isoformat(),
            "--to-date", (FIRST + dt.timedelta(days=1)).isoformat(), "--max-active-runs", "1",
            "--reprocess-behavior", "completed")
    log = tmp_path / "standalone.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(BIN / "airflow"), "standalone"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        def healthy():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2) as r:
                    return json.load(r)["scheduler"]["status"] == "healthy"
            except Exception:
                return False

        wait_for(healthy, 180, "the API server and scheduler", log)
        yield env, db, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        # The scheduler and its workers can outlive standalone's shutdown: end the whole group.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)


def test_scheduled_run_and_backfill_together(standalone):
    env, db, log = standalone

    def done():
        if not db.exists():
            return False
        try:
            runs = query(db, "SELECT run_day, run_id FROM attribution.sync_runs")
        except Exception:
            return False  # a run holds the file right now, or the tables are not there yet
        backfilled = {r["run_day"] for r in runs if r["run_id"].startswith("backfill__")}
        scheduled = [r for r in runs if r["run_id"].startswith("scheduled__")]
        return runs if backfilled == {FIRST, FIRST + dt.timedelta(days=1)} and scheduled else False

    runs = wait_for(done, 300, "the backfill and the scheduled run to finish", log)
    by_day = {r["run_day"]: r["run_id"] for r in runs}
    # the backfill run of logical date D processed day D
    assert by_day[FIRST].startswith(f"backfill__{FIRST + dt.timedelta(days=1)}")
    truth = query(db, "SELECT count(*) AS n FROM sample_truth.attribution_rows WHERE created_at < ?",
                  [int(dt.datetime.combine(FIRST + dt.timedelta(days=2), dt.time(), tzinfo=dt.timezone.utc).timestamp())])
    ledger = query(db, "SELECT count(*) AS n, count(DISTINCT row_key) AS k FROM attribution.sync_ledger")
    assert ledger[0]["n"] == ledger[0]["k"] == truth[0]["n"]

    # the record is written before the report tasks: wait for every run to finish
    listed = wait_for(lambda: finished_runs(env, DAG_ID), 120, "every run to finish", log)
    assert {r["run_id"]: r["state"] for r in listed} == {r["run_id"]: "success" for r in listed}
    assert len([r for r in listed if r["run_id"].startswith("backfill__")]) == 2

    # each report updated the Asset; the consumer DAG ran on those events (the scheduler may
    # fold events that arrive together into one run)
    triggered = wait_for(lambda: finished_runs(env, CONSUMER_ID), 120,
                         "the README's consumer DAG to run on the report Asset", log)
    assert {r["state"] for r in triggered} == {"success"}
    assert all(r["run_id"].startswith("asset_triggered__") for r in triggered)

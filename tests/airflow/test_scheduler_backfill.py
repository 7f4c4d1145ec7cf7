"""Real scheduler: `airflow standalone`, its scheduled run and a backfill of two days started
together on one DuckDB warehouse, both asked for through the REST API as the UI does. The data
ends yesterday, so the scheduled run (of yesterday) reads the backfilled days too and finds their
matched rows waiting: every row must reach the loopback Attribution API once. Each day must be
processed by its own run. The README's consumer DAG runs beside it and must be triggered by the
report Asset."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from demo.sample_warehouse import write_warehouse
from attribution_server import AttributionServer
from airflow_runs import AirflowApi, all_finished, describe, wait_for_runs, wait_until
from project_files import REPO, readme_asset_example
from pipeline_helpers import assert_every_row_sent_once, query

pytestmark = pytest.mark.slow  # `airflow standalone` with a scheduled run and a backfill

DAG_ID = "adjust_amplitude_attribution"
CONSUMER_ID = "notify_marketing"
BIN = Path(sys.executable).parent
FIRST = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=3)  # three days of data, to yesterday


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def standalone(airflow_home, tmp_path):
    home = tmp_path / "airflow"
    home.mkdir()
    shutil.copy(airflow_home / "airflow.pristine.db", home / "airflow.db")
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
        # SQLite takes one writer at a time. On a loaded machine a writer can hold it past sqlite3's
        # 5 s wait, and a component told "database is locked" can exit, which standalone does not
        # restart: wait longer, with fewer workers.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}?timeout=60",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW_CONN_ADJUST_AMPLITUDE_WAREHOUSE": json.dumps({"conn_type": "duckdb", "host": str(db)}),
        # Tiny generated days hold 3 malformed rows in about 40: above the default validation gate.
        "AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS": json.dumps({"report_dir": str(tmp_path / "reports"), "max_invalid_ratio": 0.2}),
    }
    server = AttributionServer()
    server.latency = 0.01  # pushes that last, so runs overlap
    env["AIRFLOW_CONN_AMPLITUDE_ATTRIBUTION"] = server.connection_json()
    log = tmp_path / "standalone.log"
    with server, log.open("w") as out:
        proc = subprocess.Popen([str(BIN / "airflow"), "standalone"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                process_group=0)
        yield from _running(proc, port, home, db, log, server)


def _running(proc, port, home, db, log, server):
    try:
        api = AirflowApi(port, home)
        wait_until(lambda: proc.poll() is not None or api.healthy(), "the API server and the scheduler", log)
        assert proc.poll() is None, f"standalone exited with {proc.returncode}:\n{log.read_text()[-4000:]}"
        for dag_id in (DAG_ID, CONSUMER_ID):
            wait_until(lambda: api.dag_parsed(dag_id), f"the dag-processor to parse {dag_id}", log)
        yield db, log, api, server
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
    db, log, api, server = standalone
    # As in the UI: unpausing starts the scheduled run of the latest day at once; the Backfill
    # button's request follows while that run is going.
    api.call("PATCH", f"/api/v2/dags/{CONSUMER_ID}", {"is_paused": False})
    api.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    api.call_while_locked("POST", "/api/v2/backfills", {
        "dag_id": DAG_ID, "from_date": f"{FIRST}T00:00:00Z", "to_date": f"{FIRST + dt.timedelta(days=1)}T00:00:00Z",
        "max_active_runs": 1, "reprocess_behavior": "completed"})

    def pipeline_done(runs) -> bool:
        ids = [run_id for _, run_id in runs]
        return (sum(i.startswith("backfill__") for i in ids) == 2 and any(i.startswith("scheduled__") for i in ids)
                and all_finished(runs))

    runs = wait_for_runs(api, [DAG_ID], pipeline_done, "the backfill and the scheduled run to finish", log)
    assert all(r["state"] == "success" for r in runs.values()), describe(runs, api.home, log)

    by_day = {r["run_day"]: r["run_id"] for r in query(db, "SELECT run_day, run_id FROM attribution.sync_runs")}
    # the backfill run of logical date D processed day D; the scheduled run processed its own day
    assert by_day[FIRST].startswith(f"backfill__{FIRST + dt.timedelta(days=1)}")
    assert by_day[FIRST + dt.timedelta(days=1)].startswith(f"backfill__{FIRST + dt.timedelta(days=2)}")
    assert sorted(by_day.values()) == sorted(run_id for _, run_id in runs)
    # exactly once, though the scheduled run and the backfill runs found the same rows waiting
    print("rows sent by each run:", assert_every_row_sent_once(db, server))

    # each report updated the Asset; the consumer DAG ran on those events (the scheduler may
    # fold events that arrive together into one run)
    triggered = wait_for_runs(api, [CONSUMER_ID], all_finished,
                              "the README's consumer DAG to run on the report Asset", log)
    assert all(r["state"] == "success" for r in triggered.values()), describe(triggered, api.home, log)
    assert all(run_id.startswith("asset_triggered__") for _, run_id in triggered)

"""Airflow on a Postgres metadata DB, as a platform runs it: `make test-postgres`.

A PostgreSQL cluster of the test's own (Debian's `postgresql`, on loopback, tests/support/postgres_server.py),
LocalExecutor with several task slots, and the scheduler, the dag-processor and the API server as
three separate processes, where `airflow standalone` (tests/airflow/test_scheduler_backfill.py) runs them in
one on SQLite. Unpausing starts the scheduled run of yesterday; while it runs, a 3-day backfill of
the days before is asked for through the REST API, its runs side by side. The data ends yesterday,
so the runs find each other's matched rows waiting. Every run must succeed, each day must be
processed by its own run, and every event must reach the loopback Attribution API exactly once.

SQLite serialises every writer; Postgres lets the scheduler, the API server and the task
supervisors write at once, and the three processes share nothing but the database and the
secret that signs task tokens. This is what that shape needs that standalone does not show.

The wall time of the setup and of the runs goes to .local/test-artifacts/postgres-times.json.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import duckdb
import pytest

from adjust_amplitude.run_day import UNDATED_DAY
from airflow_runs import AirflowApi, airflow, all_finished, describe, wait_for_runs, wait_until
from attribution_server import AttributionServer
from project_files import REPO
from demo.sample_warehouse import write_warehouse
from pipeline_helpers import assert_every_row_sent_once, query
from postgres_server import PostgresCluster, free_port

DAG_ID = "adjust_amplitude_attribution"
BIN = Path(sys.executable).parent
TODAY = dt.datetime.now(dt.timezone.utc).date()
BACKFILL_DAYS = 3
FIRST = TODAY - dt.timedelta(days=BACKFILL_DAYS + 1)  # the backfilled days, then yesterday: the data's last day
PARALLELISM = 8
TIMES = REPO / ".local" / "test-artifacts" / "postgres-times.json"
STOP_SECONDS = 30

pytestmark = [pytest.mark.postgres, pytest.mark.slow]  # Airflow's processes on a Postgres cluster


class OutputTails:
    """The end of every process's output file, for the waiting helpers' failure messages: they
    read one log's `read_text()` and keep its last 3,000 characters, which here would be the last
    process's alone."""

    def __init__(self, files: dict[str, Path], chars: int = 700) -> None:
        self.files, self.chars = files, chars

    def read_text(self, errors: str = "replace") -> str:
        parts = []
        for name, path in self.files.items():
            text = path.read_text(errors=errors) if path.exists() else "(no output yet)"
            parts.append(f"--- {name} ({path}), tail:\n{text[-self.chars:]}")
        return "\n".join(parts)


def _stop(procs: dict[str, subprocess.Popen]) -> None:
    """SIGTERM to each process group at once (they shut down side by side), then SIGKILL to what
    is left: LocalExecutor's workers and the API server's uvicorn workers can outlive their parent."""
    for proc in procs.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for proc in procs.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.0, deadline - time.monotonic()))
    for proc in procs.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@pytest.fixture
def airflow_on_postgres(tmp_path, request):
    """Airflow's processes on a Postgres cluster of their own, over a warehouse of generated days;
    a test may ask (indirect parametrisation) for other days, settings and server latency."""
    scenario = {"first": FIRST, "days": BACKFILL_DAYS + 1, "scale": 40, "settings": {}, "latency": 0.01,
                **getattr(request, "param", {})}
    begun = time.monotonic()
    times: dict[str, float] = {}
    home = tmp_path / "airflow"
    home.mkdir()
    db = tmp_path / "warehouse.duckdb"
    write_warehouse(db, scenario["first"], scenario["days"], scale=scenario["scale"], seed=5)
    # Rows with no usable created_at, as the production export had: they belong to no day, and must
    # fail no run, whichever run reads them first (issue 23).
    with duckdb.connect(str(db)) as con:
        for i, created_at in enumerate((None, "0", "-5")):
            con.execute("INSERT INTO adjust.raw_events (app_token, activity_kind, created_at, adid, os_name, environment) "
                        "VALUES ('demo-app', 'install', ?, ?, 'ios', 'production')", [created_at, f"undated-{i}"])
    times["warehouse"] = time.monotonic() - begun
    dags = tmp_path / "dags"
    shutil.copytree(REPO / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    port = free_port()
    server = AttributionServer()
    server.latency = scenario["latency"]  # pushes that last, so runs overlap
    with contextlib.ExitStack() as stack:  # unwinds in reverse: Airflow's processes, the server, the cluster
        step = time.monotonic()
        pg = stack.enter_context(PostgresCluster())
        times["postgres_start"] = time.monotonic() - step
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            # Airflow derives the async URL the API server and the scheduler also open from this
            # one (postgresql+asyncpg://…), so it is not set: the test shows the derivation works.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg.url("psycopg2"),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            # The scheduler signs each task's token and the API server checks it: separate
            # processes must share the secret, as Airflow's docs ask of separate components.
            # (airflow.cfg, written by `db migrate`, would hold one too; this does not depend on it.)
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW_CONN_ADJUST_AMPLITUDE_WAREHOUSE": json.dumps({"conn_type": "duckdb", "host": str(db)}),
            # Tiny generated days hold 3 malformed rows in about 40: above the default validation gate.
            "AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS": json.dumps({"report_dir": str(tmp_path / "reports"), "max_invalid_ratio": 0.2,
                                                                 **scenario["settings"]}),
            "AIRFLOW_CONN_AMPLITUDE_ATTRIBUTION": server.connection_json(),
        }
        step = time.monotonic()
        airflow("db", "migrate", env=env)
        times["db_migrate"] = time.monotonic() - step
        stack.enter_context(server)

        step = time.monotonic()
        files = {name: tmp_path / f"{name}.log" for name in ("scheduler", "dag-processor", "api-server")}
        files["postgres"] = pg.log
        outputs = OutputTails(files)
        procs: dict[str, subprocess.Popen] = {}
        stack.callback(_stop, procs)
        for name, args in (("scheduler", ["scheduler"]), ("dag-processor", ["dag-processor"]),
                           ("api-server", ["api-server", "--port", str(port)])):
            with files[name].open("w") as out:  # the child keeps its own copy of the descriptor
                procs[name] = subprocess.Popen([str(BIN / "airflow"), *args], env=env, stdout=out,
                                               stderr=subprocess.STDOUT, process_group=0)

        def exited() -> list[str]:
            return [f"`airflow {name}` exited with {p.returncode}" for name, p in procs.items() if p.poll() is not None]

        # The API server writes the admin's generated password into the home (simple auth
        # manager), as standalone does: AirflowApi signs in with it.
        api = AirflowApi(port, home)
        wait_until(lambda: bool(exited()) or api.healthy(), "the API server and the scheduler's heartbeat", outputs)
        assert not exited(), f"{exited()}:\n{outputs.read_text()}"
        wait_until(lambda: bool(exited()) or api.dag_parsed(DAG_ID), f"the dag-processor to parse {DAG_ID}", outputs)
        assert not exited(), f"{exited()}:\n{outputs.read_text()}"
        times["processes_up"] = time.monotonic() - step
        times["setup"] = time.monotonic() - begun
        yield db, api, server, outputs, times


def _run_times(api: AirflowApi) -> dict[str, dict]:
    """Each run's start and end as Airflow recorded them."""
    runs = api.get(f"/api/v2/dags/{DAG_ID}/dagRuns", limit=100)["dag_runs"]
    return {r["dag_run_id"]: {"start": dt.datetime.fromisoformat(r["start_date"]),
                              "end": dt.datetime.fromisoformat(r["end_date"])} for r in runs}


def test_scheduled_run_and_backfill_on_postgres(airflow_on_postgres):
    db, api, server, outputs, times = airflow_on_postgres
    begun = time.monotonic()
    # Unpausing starts the scheduled run of yesterday at once; the backfill is asked for once that
    # run is going, so the two really run together.
    api.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    wait_for_runs(api, [DAG_ID], lambda runs: any(r["state"] == "running" for r in runs.values()),
                  "the scheduled run to start", outputs)
    # Logical dates FIRST to FIRST + 2, both ends included: the three days before yesterday. Three
    # at a time, beside the scheduled run: with LocalExecutor's slots, tasks of four runs at once.
    api.call("POST", "/api/v2/backfills", {
        "dag_id": DAG_ID, "from_date": f"{FIRST}T00:00:00Z",
        "to_date": f"{FIRST + dt.timedelta(days=BACKFILL_DAYS - 1)}T00:00:00Z",
        "max_active_runs": BACKFILL_DAYS, "reprocess_behavior": "completed"})

    def pipeline_done(runs) -> bool:
        ids = [run_id for _, run_id in runs]
        return (sum(i.startswith("backfill__") for i in ids) == BACKFILL_DAYS
                and any(i.startswith("scheduled__") for i in ids) and all_finished(runs))

    runs = wait_for_runs(api, [DAG_ID], pipeline_done, "the backfill and the scheduled run to finish", outputs)
    times["runs"] = time.monotonic() - begun
    spans = _run_times(api)
    succeeded = all(r["state"] == "success" for r in runs.values())
    TIMES.parent.mkdir(parents=True, exist_ok=True)
    TIMES.write_text(json.dumps({
        "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "airflow": metadata.version("apache-airflow"), "parallelism": PARALLELISM, "all_succeeded": succeeded,
        "seconds": {name: round(value, 1) for name, value in times.items()},
        "run_seconds": {run_id: round((s["end"] - s["start"]).total_seconds(), 1) for run_id, s in sorted(spans.items())},
    }, indent=2) + "\n")
    print(f"\nPostgres test: setup {times['setup']:.1f} s (warehouse {times['warehouse']:.1f}, cluster "
          f"{times['postgres_start']:.1f}, db migrate "
          f"{times['db_migrate']:.1f}, processes up {times['processes_up']:.1f}), runs {times['runs']:.1f} s; {TIMES}")
    assert succeeded, describe(runs, api.home, outputs)

    scheduled = next(run_id for _, run_id in runs if run_id.startswith("scheduled__"))
    backfill = sorted(run_id for _, run_id in runs if run_id.startswith("backfill__"))
    # the backfill ran while the scheduled run did: one of its runs started before that one ended
    assert min(spans[r]["start"] for r in backfill) < spans[scheduled]["end"], spans

    by_day = {r["run_day"]: r["run_id"] for r in query(db, "SELECT run_day, run_id FROM attribution.sync_runs")}
    # the run of logical date D processed day D - 1 (its data interval): each backfilled day and
    # yesterday by a run of its own, and no run processed another day
    expected = {FIRST + dt.timedelta(days=i): f"backfill__{FIRST + dt.timedelta(days=i + 1)}T00:00:00+00:00"
                for i in range(BACKFILL_DAYS)}
    expected[TODAY - dt.timedelta(days=1)] = f"scheduled__{TODAY}T00:00:00+00:00"
    assert by_day == expected
    assert sorted(by_day.values()) == sorted(run_id for _, run_id in runs)

    undated = query(db, "SELECT adjust_day, COUNT(*) AS n FROM attribution.rejected_rows WHERE adid LIKE 'undated-%' GROUP BY adjust_day")
    assert undated == [{"adjust_day": UNDATED_DAY, "n": 3}]

    # exactly once, though four runs at once found the same rows waiting
    print("rows sent by each run:", assert_every_row_sent_once(db, server))


# A backfilled day whose open days end before the scheduled day's begin (open_days 10): the two
# runs push disjoint rows, so no claim makes one wait for the other.
DISJOINT = TODAY - dt.timedelta(days=21)
LIMIT = 8


def busiest_second(arrivals: list[float]) -> int:
    """The most requests the server received in any sliding one-second window."""
    return max((sum(1 for t in arrivals if a <= t < a + 1.0) for a in arrivals), default=0)


@pytest.mark.parametrize("airflow_on_postgres", [{
    "first": DISJOINT, "days": 21, "scale": 30, "latency": 0.03,
    "settings": {"rate_limit_per_second": LIMIT, "push_partitions": 2}}], indirect=True)
def test_runs_pushing_disjoint_rows_at_once_share_one_rate_limit(airflow_on_postgres):
    """Issue 23: the scheduled run of yesterday and a 2-day backfill three weeks back push
    different rows at the same time, two partitions each. The scheduler runs at most
    push_partitions (2) pushes of the DAG at once, each at half the limit, so that no sliding second
    at the server holds more than rate_limit_per_second requests."""
    db, api, server, outputs, times = airflow_on_postgres
    api.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    wait_for_runs(api, [DAG_ID], lambda runs: any(r["state"] == "running" for r in runs.values()),
                  "the scheduled run to start", outputs)
    api.call("POST", "/api/v2/backfills", {
        "dag_id": DAG_ID, "from_date": f"{DISJOINT}T00:00:00Z", "to_date": f"{DISJOINT + dt.timedelta(days=1)}T00:00:00Z",
        "max_active_runs": 2, "reprocess_behavior": "completed"})

    def pipeline_done(runs) -> bool:
        ids = [run_id for _, run_id in runs]
        return sum(i.startswith("backfill__") for i in ids) == 2 and any(i.startswith("scheduled__") for i in ids) and all_finished(runs)

    runs = wait_for_runs(api, [DAG_ID], pipeline_done, "the backfill and the scheduled run to finish", outputs)
    assert all(r["state"] == "success" for r in runs.values()), describe(runs, api.home, outputs)
    # only some days have runs here: every event sent once, and each one the ledger says was sent
    sent = query(db, "SELECT count(*) AS n FROM attribution.sync_ledger WHERE status = 'sent'")[0]["n"]
    assert set(server.counts().values()) == {1} and sent == len(server.events)

    # The runs were under way at once, each with rows to push, and the scheduler ran at most two of
    # their four pushes at a time.
    spans = _run_times(api)
    backfill = [r for r in spans if r.startswith("backfill__")]
    scheduled = next(r for r in spans if r.startswith("scheduled__"))
    assert min(spans[r]["start"] for r in backfill) < spans[scheduled]["end"], spans
    pushes = [ti for ti in api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/~/taskInstances", limit=100)["task_instances"]
              if ti["task_id"] == "push_to_amplitude"]
    assert len(pushes) == 6 and len({ti["dag_run_id"] for ti in pushes}) == 3
    edges = sorted((dt.datetime.fromisoformat(ti[k]), +1 if k == "start_date" else -1)
                   for ti in pushes for k in ("start_date", "end_date"))
    at_once = max(sum(step for _, step in edges[:i + 1]) for i in range(len(edges)))
    with server.lock:
        old = [e for e in server.events
               if dt.datetime.fromtimestamp(e["time"] / 1000, dt.timezone.utc).date() <= DISJOINT + dt.timedelta(days=1)]
        busiest = busiest_second(list(server.arrivals))
    print(f"busiest sliding second: {busiest} requests (limit {LIMIT}); pushes at once: {at_once} of {len(pushes)}; "
          f"{len(old)} backfilled rows and {len(server.events) - len(old)} of the scheduled run's sent")
    assert old and len(old) < len(server.events)  # both runs had rows to send, and sent them
    assert at_once <= 2
    assert busiest <= LIMIT

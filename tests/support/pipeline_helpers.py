"""Small builders for hand-written DuckDB fixtures and for running one day in-process."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb

from adjust_amplitude import pipeline
from adjust_amplitude.config import ADJUST_COLUMNS, Settings
from adjust_amplitude.local_run import LocalRun
from adjust_amplitude.run import Plan, Run
from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse
from demo.vendor_schemas import (
    ADJUST_CSV_COLUMNS,
    EVENT_FIELDS,
    create_adjust_export,
    create_amplitude_events,
    insert_amplitude_events,
)

UTC = dt.timezone.utc
# What run_day runs on (called with the file's path); test_rules and test_zetasql swap in
# CheckedWarehouse: DuckDB, with every statement checked against ZetaSQL.
WAREHOUSE = DuckDBWarehouse
DAY = dt.date(2026, 11, 20)
# The days of the sample_reports fixture (conftest.py): seven consecutive runs, the last four close windows.
REPORT_FIRST_DAY = dt.date(2026, 11, 16)
REPORT_RUN_DAYS = [REPORT_FIRST_DAY + dt.timedelta(days=i) for i in range(7)]
ZERO = "00000000-0000-0000-0000-000000000000"


def ts(day: dt.date, hour: float = 0) -> int:
    return int(dt.datetime.combine(day, dt.time(), tzinfo=UTC).timestamp() + hour * 3600)


def adjust_row(**values: Any) -> dict[str, Any]:
    row = {c: None for c in ADJUST_COLUMNS}
    row.update(
        app_token="app1", environment="production", activity_kind="install", created_at=ts(DAY, 10),
        adid="adid-1", os_name="ios", network_name="Net A", campaign_name="Camp 1",
    )
    row.update(values)
    return row


def amplitude_event(event_time: int, device_id=None, user_id=None, idfa=None, adid=None, amplitude_id=1,
                    platform="iOS", uuid=None) -> dict:
    """An event of Amplitude's Event table (write_events makes its other columns); without `uuid`
    it gets one made from its content."""
    return {
        "amplitude_id": amplitude_id, "user_id": user_id, "device_id": device_id,
        "event_time": dt.datetime.fromtimestamp(event_time, UTC), "platform": platform, "idfa": idfa, "adid": adid,
        "uuid": uuid,
    }


def write_events(con: duckdb.DuckDBPyConnection, events: list[dict], table: str = "amplitude.events") -> None:
    """Append fixture events to an Amplitude Event table shaped as the export documents it."""
    if not events:
        return
    con.execute("CREATE OR REPLACE TEMP TABLE fixture_events (amplitude_id BIGINT, user_id VARCHAR, device_id VARCHAR, "
                "event_time TIMESTAMPTZ, platform VARCHAR, idfa VARCHAR, adid VARCHAR, event_type VARCHAR, "
                "uuid VARCHAR, upload_delay_seconds BIGINT)")
    con.executemany(f"INSERT INTO fixture_events VALUES ({', '.join('?' for _ in EVENT_FIELDS)})",
                    [[e.get(f) for f in EVENT_FIELDS] for e in events])
    insert_amplitude_events(con, table, "fixture_events")
    con.execute("DROP TABLE fixture_events")


def write_inputs(path: Path, adjust: list[dict], events: list[dict], created_at_type: str = "BIGINT",
                 adjust_columns: tuple[str, ...] = ADJUST_CSV_COLUMNS) -> None:
    """Both input tables as their vendors document them (demo.vendor_schemas): Adjust's export as
    loaded from its CSV, every column text but created_at (`created_at_type`), with the placeholders
    the sync does not read; Amplitude's Event table with all its columns and types."""
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS adjust; CREATE SCHEMA IF NOT EXISTS amplitude")
        create_adjust_export(con, "adjust.raw_events", adjust_columns, {"created_at": created_at_type})
        for row in adjust:
            con.execute(
                f"INSERT INTO adjust.raw_events ({', '.join(adjust_columns)}) VALUES ({', '.join('?' for _ in adjust_columns)})",
                [row.get(c) for c in adjust_columns],
            )
        create_amplitude_events(con, "amplitude.events")
        write_events(con, events)


def matched_warehouse(path, rows: int) -> None:
    """`rows` matched iOS rows, ready to push, all created on DAY and seen by Amplitude that day."""
    write_inputs(path, [], [])
    with duckdb.connect(str(path)) as con:
        con.execute(
            "INSERT INTO adjust.raw_events (app_token, environment, activity_kind, created_at, adid, os_name, idfv, "
            "network_name, campaign_name) SELECT 'app1', 'production', 'install', ? + i % 79000, 'adid-' || i, 'ios', "
            "'IDFV-' || i, 'Net', 'Camp' FROM range(?) t(i)",
            [ts(DAY, 1), rows],
        )
        generated = ("(SELECT i AS amplitude_id, NULL AS user_id, 'IDFV-' || i AS device_id, to_timestamp(? + i % 79000) "
                     "AS event_time, 'iOS' AS platform, NULL AS idfa, NULL AS adid, NULL AS event_type, NULL AS uuid, "
                     "NULL AS upload_delay_seconds FROM range(?) t(i))")
        insert_amplitude_events(con, "amplitude.events", generated, [ts(DAY, 2), rows])


def plan_for(day: dt.date = DAY, settings: Settings | None = None, run_id: str | None = None, **values: Any) -> Plan:
    """A run's plan as plan_day makes it, with `settings` (the defaults, reports beside the tests'
    files, when not given) and other fields of Plan in `values` (dry_run, planned_at...)."""
    return Plan(day=day, run_id=run_id or f"test__{day}", settings=settings or Settings(), **values)


def run_day(path: Path, day: dt.date = DAY, settings: Settings | None = None, dry_run: bool = False,
            run_id: str | None = None, report_dir: Path | None = None, warehouse=None, hook=None,
            planned_at: int | None = None, rebuild_amplitude_index: bool = False,
            resend_rejected: bool = False) -> dict[str, Any]:
    """All steps of one day, in the order the DAG runs them (LocalRun), each (like each task) with a
    Run and a warehouse of its own: WAREHOUSE(path), or `warehouse()` when given. `planned_at` is
    the run's clock (Unix seconds; now when not given)."""
    return local_run(path, day, settings, dry_run, run_id, report_dir, warehouse, hook, planned_at, rebuild_amplitude_index,
                     resend_rejected)()


def day_steps(path: Path, day: dt.date = DAY, settings: Settings | None = None, dry_run: bool = False,
              run_id: str | None = None, report_dir: Path | None = None, warehouse=None, hook=None,
              planned_at: int | None = None, rebuild_amplitude_index: bool = False):
    """run_day one step at a time (LocalRun.steps), so that a test can interleave two runs' steps."""
    return local_run(path, day, settings, dry_run, run_id, report_dir, warehouse, hook, planned_at,
                     rebuild_amplitude_index).steps()


def local_run(path: Path, day: dt.date, settings: Settings | None, dry_run: bool, run_id: str | None,
              report_dir: Path | None, warehouse, hook, planned_at: int | None, rebuild_amplitude_index: bool,
              resend_rejected: bool = False) -> LocalRun:
    settings = settings or Settings(report_dir=str(report_dir or path.parent / "reports"))
    clock = {} if planned_at is None else {"planned_at": planned_at}
    plan = plan_for(day, settings, run_id, dry_run=dry_run, rebuild_amplitude_index=rebuild_amplitude_index,
                    resend_rejected=resend_rejected, **clock)
    return LocalRun(plan, warehouse=lambda step: warehouse() if warehouse else WAREHOUSE(path), hook=hook)


# The columns added since to output tables an earlier version made (App Set ID, the diagnosis, the
# take-over of a dead push's rows, the re-sending of refused rows).
ADDED_COLUMNS = {"sync_ledger": ("google_app_set_id", "match_google_app_set_id", "att_status", "reopened_at"),
                 "rejected_rows": ("google_app_set_id", "att_status"), "discrepancy_rows": ("google_app_set_id", "att_status"),
                 "sync_runs": ("push_held_elsewhere", "push_taken_over")}


def made_by_earlier_version(path: Path, settings: Settings) -> None:
    """The output tables as the version before App Set ID, the diagnosis and the take-over made them."""
    pipeline.prepare_outputs(Run(plan_for(settings=settings, run_id="before", dry_run=True), warehouse=DuckDBWarehouse(path)))
    with duckdb.connect(str(path)) as con:
        for table, columns in ADDED_COLUMNS.items():
            for column in columns:
                con.execute(f"ALTER TABLE attribution.{table} DROP COLUMN {column}")


def run_of(path: Path, settings: Settings, run_id: str = "r", day: dt.date = DAY) -> Run:
    """A Run of `day` on the DuckDB file `path`, as a task makes it."""
    return Run(Plan(day, run_id, settings), warehouse=DuckDBWarehouse(path))


def matched_run(path: Path, settings: Settings, run_id: str = "r") -> Run:
    """A Run of DAY whose rows are staged and matched: what the push finds after the match step."""
    run = run_of(path, settings, run_id)
    pipeline.prepare_outputs(run)
    pipeline.stage_rows(run, pipeline.check_inputs(run))
    index_and_match(run)
    return run


def index_and_match(run: Run) -> int:
    """The identity index brought up to date, then the match step from it, as the DAG runs them; as_of."""
    return pipeline.match_and_close(run, pipeline.update_amplitude_index(run)["newest_event_seconds"])


def query(path: Path, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    with duckdb.connect(str(path), read_only=True) as con:
        cur = con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


def ledger(path: Path) -> dict[str, dict[str, Any]]:
    return {r["row_key"]: r for r in query(path, "SELECT * FROM attribution.sync_ledger")}


def snapshot(path: Path, also_drop: set[str] = frozenset()) -> dict[str, list]:
    """Every output table's content, sorted, without wall-clock columns (nor `also_drop`)."""
    out = {}
    for table, drop in (
        ("sync_ledger", {"sent_at"}), ("rejected_rows", set()), ("discrepancy_rows", set()),
        ("discrepancy_summary", set()),
        ("sync_runs", {"finished_at", "run_id", "outbox_events", "push_sent", "push_rejected", "push_retries",
                       "push_seconds", "push_mean_rate", "warehouse_jobs", "bytes_billed", "warehouse_usage"}),
    ):
        rows = query(path, f"SELECT * FROM attribution.{table}")
        out[table] = sorted(json.dumps({k: v for k, v in r.items() if k not in drop | also_drop}, default=str, sort_keys=True)
                            for r in rows)
    return out


# A push in a process of its own, to be killed (tests of crash safety and of claims).
KILLABLE_PUSH = (
    "import json, sys; from adjust_amplitude import pipeline; from adjust_amplitude.run import Run;"
    "from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse;"
    "pipeline.push(Run.from_xcom(json.loads(sys.argv[1]), warehouse=DuckDBWarehouse(sys.argv[2])))"
)


def killed_mid_push(db: Path, settings: Settings, server, tmp_path: Path, rows: int, run_id: str = "killed") -> int:
    """Start the push of run `run_id` in a process of its own and SIGKILL it once a third of the
    rows is acknowledged, however long the process takes to start on a busy machine. Returns how
    many the server had acknowledged."""
    plan = plan_for(settings=settings, run_id=run_id).to_xcom()
    output = tmp_path / "killed.log"
    with output.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-c", KILLABLE_PUSH, json.dumps(plan), str(db)], env=os.environ.copy(),
                                stdout=out, stderr=subprocess.STDOUT)
    begun = time.monotonic()
    while len(server.events) < rows // 3 and proc.poll() is None and time.monotonic() - begun < 900:
        time.sleep(0.01)
    assert proc.poll() is None, f"the push ended ({proc.returncode}) before the kill:\n{output.read_text()[-3000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    return len(server.events)


def expected_statuses(db: Path, last_day: dt.date) -> dict[str, str]:
    """Where each generated attribution row must stand after runs up to last_day."""
    newest = query(db, "SELECT max(epoch(event_time))::BIGINT AS s FROM amplitude.events")[0]["s"]
    end = int(dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc).timestamp())
    as_of = min(end, newest)
    expected = {}
    for row in query(db, "SELECT * FROM sample_truth.attribution_rows"):
        window_end = row["created_at"] + 72 * 3600
        if row["matchable"] and row["first_event_time"] <= min(window_end, as_of):
            expected[row["row_key"]] = "sent" if row["sendable"] else "rejected"
        elif window_end <= as_of:
            expected[row["row_key"]] = "unmatched" if row["has_identifier"] else "no_identifier"
        else:
            expected[row["row_key"]] = "pending"
    return expected


def assert_every_row_sent_once(db: Path, server) -> dict[str, int]:
    """After runs that found the same matched rows waiting: every generated row has one ledger
    row, every `sent` row reached the server exactly once, and the runs' own counts add up to it.
    Returns the rows each run sent."""
    truth = query(db, "SELECT count(*) AS n FROM sample_truth.attribution_rows")
    ledger = query(db, "SELECT count(*) AS n, count(DISTINCT row_key) AS k FROM attribution.sync_ledger")
    assert ledger[0]["n"] == ledger[0]["k"] == truth[0]["n"]
    sent = query(db, "SELECT count(*) AS n FROM attribution.sync_ledger WHERE status = 'sent'")[0]["n"]
    counts = server.counts()
    twice = {event: n for event, n in counts.items() if n > 1}
    assert not twice, f"{len(twice)} events received more than once, e.g. {next(iter(twice.items()))}"
    assert len(counts) == sent > 20
    pushed = {r["run_id"]: r["push_sent"] for r in query(db, "SELECT run_id, push_sent FROM attribution.sync_runs")}
    assert sum(pushed.values()) == sent, pushed
    return pushed

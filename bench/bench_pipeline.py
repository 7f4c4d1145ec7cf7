"""`make bench`: one day of 1,000,000 Adjust rows (with duplicates and noise) against 5,000,000
Amplitude events, run as users run it: `airflow dags test` of the DAG in dry-run mode on the
embedded DuckDB warehouse, then the run three days later, which closes every window of that day and
writes its report.

Each task's time (Airflow's own record of it) is printed beside floors measured in the same bench
on the same warehouse file right after the run: DuckDB reading, once, the columns the task reads
(the issue's floor; for the push, whose dry run writes the outbox, DuckDB writing the same rows as
JSON lines), and that read plus DuckDB writing, once, the rows the task wrote in the run. Peak
memory is the largest of the Airflow processes. The data is generated in a separate process first so its memory
does not count.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DAY = dt.date(2026, 11, 20)
CLOSING_DAY = DAY + dt.timedelta(days=3)  # closes the 72-hour window of every row of DAY
DAG_ID = "adjust_amplitude_attribution"
ADJUST_ROWS = 1_000_000
AMPLITUDE_EVENTS = 5_000_000
# The generator writes about 2.07 table rows per valid attribution row (noise: duplicates,
# sandbox, session/event rows, malformed rows); aim the total at ADJUST_ROWS.
SCALE = int(ADJUST_ROWS / 2.075)
TARGET_RATIO = 3.0
TARGET_PEAK_MIB = 1024


def generate(path: Path, scale: int = SCALE, events: int = AMPLITUDE_EVENTS) -> None:
    from demo.sample_warehouse import generate_frames, write_warehouse

    # Amplitude events of the attributed devices average ~3.5; unrelated users fill up to `events`.
    _, sample, _, _ = generate_frames(DAY, 1, 1000)
    per_row = len(sample) / 1000
    extra = max(0, events - int(per_row * scale))
    write_warehouse(path, DAY, 1, scale, extra_events=extra, replace=True)


def airflow_env(path: Path, settings: dict[str, Any]) -> dict[str, str]:
    """The environment a user's `airflow dags test` would have: the warehouse Connection, the
    settings Variable, no Amplitude Connection (so the run is a dry run writing its outbox)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    env["AIRFLOW_CONN_ADJUST_AMPLITUDE_WAREHOUSE"] = json.dumps({"conn_type": "duckdb", "host": str(path)})
    env["AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS"] = json.dumps(settings)
    return env


def dags_test(day: dt.date, env: dict[str, str], log: Path) -> float:
    """`airflow dags test` of one day; its wall seconds. Fails with the log's tail."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run([airflow, "dags", "test", DAG_ID, day.isoformat()], env=env, stdout=out,
                              stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"airflow dags test {DAG_ID} {day} failed:\n{log.read_text()[-6000:]}")
    return time.perf_counter() - started


def task_seconds(airflow_home: Path, day: dt.date) -> dict[str, float]:
    """Each task's duration in the newest run of `day`, from Airflow's metadata DB (mapped tasks
    summed: they run one after another under `dags test`)."""
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        (run_id,) = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? AND date(logical_date) = ? ORDER BY id DESC LIMIT 1",
            (DAG_ID, day.isoformat())).fetchone()
        rows = db.execute("SELECT task_id, duration FROM task_instance WHERE dag_id = ? AND run_id = ?",
                          (DAG_ID, run_id)).fetchall()
    seconds: dict[str, float] = {}
    for task_id, duration in rows:
        seconds[task_id] = seconds.get(task_id, 0.0) + float(duration or 0)
    return seconds


# What each task reads, as DuckDB reads it once: the issue's floor.
LEDGER_MATCH_COLUMNS = "row_key, created_at, status, has_identifier, match_idfa, match_idfv, match_gps_adid, match_external_device_id"
OUTBOX_COLUMNS = ("row_key, activity_kind, platform, created_at, idfa, idfv, gps_adid, android_id, network_name, "
                  "campaign_name, adgroup_name, creative_name, country, tracker_name, match_pair, amplitude_device_id")
SUMMARY_COLUMNS = ("adjust_day, closed_run_day, platform, country, network_name, campaign_name, adgroup_name, "
                   "creative_name, status")
READS = {
    "stage_adjust_rows": ["SELECT {adjust_columns} FROM adjust.raw_events"],
    "update_amplitude_index": ["SELECT user_id, device_id, idfa, adid, event_time FROM amplitude.events"],
    "match_and_close_windows": [f"SELECT {LEDGER_MATCH_COLUMNS} FROM attribution.sync_ledger",
                                "SELECT amplitude_key, id, device_id, user_id, first_event_time "
                                "FROM attribution.amplitude_identity_index"],
    "summarise_run": [f"SELECT {SUMMARY_COLUMNS} FROM attribution.sync_ledger"],
    "write_report": ["SELECT * FROM attribution.discrepancy_rows WHERE closed_run_day = $day",
                     "SELECT * FROM attribution.discrepancy_summary"],
}
# What each task wrote in the run ($day), as DuckDB writes it once: a table of the same rows, or
# the same rows as a file. A step whose product is rows cannot be faster than writing them, so its
# floor is its read and its write (the issue's floor for the dry-run push is its write alone).
MATCH_COLUMNS = ("row_key, status, match_pair, amplitude_user_id, amplitude_device_id, amplitude_event_time, "
                 "matched_run_day, window_closed_at, closed_run_day, closed_by_run_id")
WRITES = {
    "stage_adjust_rows": ["SELECT * FROM attribution.sync_ledger WHERE first_seen_run_day = $day",
                          "SELECT * FROM attribution.rejected_rows WHERE first_seen_run_day = $day"],
    "update_amplitude_index": ["SELECT * FROM attribution.amplitude_identity_index WHERE $rebuilt"],
    "match_and_close_windows": [f"SELECT {MATCH_COLUMNS} FROM attribution.sync_ledger "
                                "WHERE matched_run_day = $day OR closed_run_day = $day",
                                "SELECT * FROM attribution.discrepancy_rows WHERE closed_run_day = $day"],
    "push_to_amplitude": [f"COPY (SELECT {OUTBOX_COLUMNS} FROM attribution.sync_ledger WHERE status = 'matched' "
                          "AND adjust_day <= $day) TO '{scratch}/floor.jsonl' (FORMAT JSON)"],
    "summarise_run": ["SELECT * FROM attribution.discrepancy_summary"],
    "write_report": ["COPY (SELECT * FROM attribution.discrepancy_rows WHERE closed_run_day = $day) "
                     "TO '{scratch}/floor.csv' (FORMAT CSV, HEADER true)"],
}


def floors(path: Path, scratch: Path, day: dt.date, rebuilt: bool) -> dict[str, dict[str, float]]:
    """Each task's floors after the run of `day`: {"read": s, "write": s}, DuckDB doing each once."""
    import duckdb

    from adjust_amplitude.config import ADJUST_COLUMNS

    seconds: dict[str, dict[str, float]] = {}
    with duckdb.connect(str(path), config={"memory_limit": "1GB"}) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS floor_scratch")
        for kind, statements in (("read", READS), ("write", WRITES)):
            for step, sqls in statements.items():
                started = time.perf_counter()
                for sql in sqls:
                    sql = sql.format(adjust_columns=", ".join(ADJUST_COLUMNS), scratch=scratch)
                    params = {k: v for k, v in {"day": day, "rebuilt": rebuilt}.items() if f"${k}" in sql}
                    if sql.startswith("COPY"):
                        con.execute(sql, params)
                    elif kind == "read":  # materialised in memory: every column read, nothing sent to Python
                        con.execute(f"CREATE OR REPLACE TEMP TABLE floor AS {sql}", params)
                    else:  # written into the file, as the step writes its rows
                        con.execute(f"CREATE OR REPLACE TABLE floor_scratch.floor AS {sql}", params)
                        con.execute("CHECKPOINT")
                seconds.setdefault(step, {"read": 0.0, "write": 0.0})[kind] = time.perf_counter() - started
        con.execute("DROP SCHEMA floor_scratch CASCADE")
        con.execute("CHECKPOINT")
    return seconds


def measure(path: Path, scratch: Path, closing: bool = True, **settings: Any) -> dict[str, Any]:
    """The day's run and (with `closing`) the closing run under `airflow dags test`, each followed by
    its floors. `settings` go into the settings Variable beside report_dir."""
    env = airflow_env(path, {"report_dir": str(scratch / "reports"), **settings})
    airflow_home = Path(os.environ["AIRFLOW_HOME"])
    runs = {}
    for name, day in [("day", DAY), ("closing", CLOSING_DAY)][: 2 if closing else 1]:
        wall = dags_test(day, env, scratch / f"dags-test-{day}.log")
        runs[name] = {"day": day.isoformat(), "wall_seconds": wall, "tasks": task_seconds(airflow_home, day),
                      "floors": floors(path, scratch, day, rebuilt=name == "day")}
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest Airflow process
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        outbox = con.execute("SELECT COUNT(*) FROM attribution.sync_ledger WHERE status = 'matched'").fetchone()[0]
        ledger = con.execute("SELECT COUNT(*) FROM attribution.sync_ledger").fetchone()[0]
    return {"runs": runs, "peak_rss_mib": peak, "matched_rows": outbox, "ledger_rows": ledger}


# A task of the DAG that reads and writes no data (the validation gate, when it passes, only compares
# the run record's figures): what Airflow itself costs a task in the same run, measured alongside.
EMPTY_TASK = "check_validation_gate"


def report(result: dict[str, Any], adjust_rows: int, amplitude_rows: int) -> str:
    lines = [f"{adjust_rows:,} Adjust rows, {amplitude_rows:,} Amplitude events; ledger {result['ledger_rows']:,} rows, "
             f"{result['matched_rows']:,} matched (the dry-run outbox)", ""]
    worst = {"issue": ("", 0.0), "io": ("", 0.0)}
    for name, run in result["runs"].items():
        airflow = run["tasks"].get(EMPTY_TASK, 0.0)
        lines.append(f"{name} run ({run['day']}): airflow dags test {run['wall_seconds']:.1f} s, tasks "
                     f"{sum(run['tasks'].values()):.1f} s; an empty task ({EMPTY_TASK}) {airflow:.2f} s")
        lines.append(f"  {'task':26} {'seconds':>8} {'read':>6} {'write':>6} {'floor':>6} {'ratio':>6} {'r+w+task':>9} {'ratio':>6}")
        for task, seconds in run["tasks"].items():
            floor = run["floors"].get(task)
            if floor is None:
                lines.append(f"  {task:26} {seconds:8.2f}   (reads and writes no data table)")
                continue
            issue = floor["read"] or floor["write"]  # the push's floor is its write (it reads nothing counted)
            io = floor["read"] + floor["write"] + airflow
            for kind, value in (("issue", seconds / issue), ("io", seconds / io)):
                if value > worst[kind][1]:
                    worst[kind] = (f"{task} ({name} run)", value)
            lines.append(f"  {task:26} {seconds:8.2f} {floor['read']:6.2f} {floor['write']:6.2f} {issue:6.2f} "
                         f"{seconds / issue:5.1f}x {io:9.2f} {seconds / io:5.1f}x")
    lines += [
        "",
        "floor: DuckDB reading the task's columns once (the push: writing its outbox once as JSON lines);",
        "r+w+task: DuckDB reading them once and writing the task's rows once, plus an empty Airflow task.",
        f"worst against floor: {worst['issue'][1]:.1f}x, {worst['issue'][0]}; against r+w+task: {worst['io'][1]:.1f}x, "
        f"{worst['io'][0]} (target <= {TARGET_RATIO:.0f}x)",
        f"peak memory: {result['peak_rss_mib']:,.0f} MiB (target < {TARGET_PEAK_MIB:,})",
    ]
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--generate":
        generate(Path(sys.argv[2]))
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        print(json.dumps(measure(Path(sys.argv[2]), Path(sys.argv[3])), default=str))
        return 0
    with tempfile.TemporaryDirectory(prefix="adjust-bench-") as tmp:
        path = Path(tmp) / "bench.duckdb"
        t0 = time.perf_counter()
        # Both phases in child processes: a child's peak memory is its own, not the generator's.
        subprocess.run([sys.executable, __file__, "--generate", str(path)], check=True)
        import duckdb

        with duckdb.connect(str(path), read_only=True) as con:
            adjust_rows = con.table("adjust.raw_events").count("*").fetchall()[0][0]
            amplitude_rows = con.table("amplitude.events").count("*").fetchall()[0][0]
        print(f"generated {adjust_rows:,} Adjust rows and {amplitude_rows:,} Amplitude events in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        done = subprocess.run([sys.executable, __file__, "--measure", str(path), tmp], capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-6000:])
            return done.returncode
        result = json.loads(done.stdout.strip().splitlines()[-1])
    print(report(result, adjust_rows, amplitude_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make bench`: one day of 1,000,000 Adjust rows (with duplicates and noise) against 5,000,000
Amplitude events, run as users run it: `airflow dags test` of the DAG in dry-run mode on the
embedded DuckDB warehouse, then the run three days later, which closes every window of that day and
writes its report.

Each task's time (Airflow's own record of it) is printed beside a floor measured in the same
bench on the same warehouse file: DuckDB reading, once, the columns the task reads; for the push
(whose dry run writes the outbox), DuckDB writing the same rows as JSON lines. Peak memory is the
largest of the Airflow processes. The data is generated in a separate process first so its memory
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
    from adjust_amplitude.sample_warehouse import generate_frames, write_warehouse

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


# What each task reads (or, for the dry-run push, writes), as DuckDB does it once: the floor.
LEDGER_MATCH_COLUMNS = "row_key, created_at, status, has_identifier, match_idfa, match_idfv, match_gps_adid, match_external_device_id"
OUTBOX_COLUMNS = ("row_key, activity_kind, platform, created_at, idfa, idfv, gps_adid, android_id, network_name, "
                  "campaign_name, adgroup_name, creative_name, country, tracker_name, match_pair, amplitude_device_id")
SUMMARY_COLUMNS = ("adjust_day, closed_run_day, platform, country, network_name, campaign_name, adgroup_name, "
                   "creative_name, status")


def floors(path: Path, scratch: Path) -> dict[str, float]:
    import duckdb

    from adjust_amplitude.config import ADJUST_COLUMNS

    reads = {
        "stage_adjust_rows": [f"SELECT {', '.join(ADJUST_COLUMNS)} FROM adjust.raw_events"],
        "update_amplitude_index": ["SELECT user_id, device_id, idfa, adid, event_time FROM amplitude.events"],
        "match_and_close_windows": [f"SELECT {LEDGER_MATCH_COLUMNS} FROM attribution.sync_ledger",
                                    "SELECT amplitude_key, id, device_id, user_id, first_event_time "
                                    "FROM attribution.amplitude_identity_index"],
        "push_to_amplitude": [f"COPY (SELECT {OUTBOX_COLUMNS} FROM attribution.sync_ledger WHERE status = 'matched') "
                              f"TO '{scratch / 'floor.jsonl'}' (FORMAT JSON)"],
        "summarise_run": [f"SELECT {SUMMARY_COLUMNS} FROM attribution.sync_ledger"],
        "write_report": ["SELECT * FROM attribution.discrepancy_rows", "SELECT * FROM attribution.discrepancy_summary"],
    }
    seconds = {}
    with duckdb.connect(str(path), config={"memory_limit": "1GB"}) as con:
        for step, statements in reads.items():
            started = time.perf_counter()
            for sql in statements:
                if sql.startswith("COPY"):
                    con.execute(sql)
                else:  # materialised, so every column is read and nothing is sent to Python
                    con.execute(f"CREATE OR REPLACE TEMP TABLE floor AS {sql}")
            seconds[step] = time.perf_counter() - started
    return seconds


def measure(path: Path, scratch: Path, closing: bool = True, **settings: Any) -> dict[str, Any]:
    """The day's run and (with `closing`) the closing run under `airflow dags test`, then the floors.
    `settings` go into the settings Variable beside report_dir."""
    env = airflow_env(path, {"report_dir": str(scratch / "reports"), **settings})
    airflow_home = Path(os.environ["AIRFLOW_HOME"])
    runs = {}
    for name, day in [("day", DAY), ("closing", CLOSING_DAY)][: 2 if closing else 1]:
        wall = dags_test(day, env, scratch / f"dags-test-{day}.log")
        runs[name] = {"day": day.isoformat(), "wall_seconds": wall, "tasks": task_seconds(airflow_home, day)}
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest Airflow process
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        outbox = con.execute("SELECT COUNT(*) FROM attribution.sync_ledger WHERE status = 'matched'").fetchone()[0]
        ledger = con.execute("SELECT COUNT(*) FROM attribution.sync_ledger").fetchone()[0]
    return {"runs": runs, "floors": floors(path, scratch), "peak_rss_mib": peak, "matched_rows": outbox,
            "ledger_rows": ledger}


def report(result: dict[str, Any], adjust_rows: int, amplitude_rows: int) -> str:
    floor = result["floors"]
    lines = [f"{adjust_rows:,} Adjust rows, {amplitude_rows:,} Amplitude events; ledger {result['ledger_rows']:,} rows, "
             f"{result['matched_rows']:,} matched (the dry-run outbox)", ""]
    worst = 0.0
    for name, run in result["runs"].items():
        lines.append(f"{name} run ({run['day']}): airflow dags test {run['wall_seconds']:.1f} s, tasks "
                     f"{sum(run['tasks'].values()):.1f} s")
        lines.append(f"  {'task':28} {'seconds':>8} {'floor':>8} {'ratio':>6}")
        for task, seconds in run["tasks"].items():
            if task in floor:
                ratio = seconds / floor[task]
                worst = max(worst, ratio)
                lines.append(f"  {task:28} {seconds:8.2f} {floor[task]:8.2f} {ratio:6.2f}")
            else:
                lines.append(f"  {task:28} {seconds:8.2f} {'-':>8} {'-':>6}   (reads no data table: Airflow's cost of a task)")
    lines.append("")
    lines.append(f"worst task / floor: {worst:.2f}x (target <= {TARGET_RATIO:.0f}x)")
    lines.append(f"peak memory: {result['peak_rss_mib']:,.0f} MiB (target < {TARGET_PEAK_MIB:,})")
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

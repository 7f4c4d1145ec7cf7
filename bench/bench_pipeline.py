"""`make bench`: a cold day and a steady day of the production shape, this DAG beside a plain
one-task DAG, both as users run them (`airflow dags test`, dry runs on DuckDB), on copies of one
warehouse, in the same run.

The shape (bench/wide_day.py): one Adjust day of 1,000,000 attribution rows plus 10% duplicates,
half iOS and half Android, with every placeholder of Adjust's CSV upload (and the same devices'
session and event rows, outside the sync's scope), against 5,000,000 Amplitude events with every
documented column, most of them from devices the day never sees.

- **Cold day**: the first run, which builds the Amplitude identity index from the whole export.
- **Steady day**: the next day of the same volume, the index already built.
- **The plain DAG** (bench/plain_dag.py): one task that dedupes, matches and writes the outbox in
  DuckDB, run on its own copy of the same warehouse, day for day.

Each of this DAG's tasks is printed beside its floors, measured right after its run on the same
file: DuckDB reading, once, the columns the task reads (for the push, whose dry run writes the
outbox: DuckDB writing the same rows as JSON lines), and that read plus DuckDB writing, once, the
rows the task wrote. Peak memory is each `airflow dags test` process's own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DAY = dt.date(2026, 11, 20)
STEADY_DAY = DAY + dt.timedelta(days=1)
DAG_ID = "adjust_amplitude_attribution"
PLAIN_DAG_ID = "plain_adjust_amplitude"
ADJUST_ROWS = 1_000_000
AMPLITUDE_EVENTS = 5_000_000
# The targets: this DAG's wall time against the plain DAG's, and its peak memory.
TARGET_COLD, TARGET_STEADY, TARGET_PEAK_MIB = 0.6, 0.4, 1024
TARGET_RATIO = 3.0  # each task against its floors (read, write and an empty task)


def add_day(path: Path, day: dt.date, rows: int, events: int) -> None:
    """One day of each export into the warehouse file (bench/wide_day.py), seeded by the day."""
    import duckdb

    sys.path.insert(0, str(Path(__file__).parent))
    import wide_day

    with duckdb.connect(str(path)) as con:
        con.execute("SET enable_progress_bar = false")
        wide_day.add_day(con, day, rows, events, seed=day.toordinal() % 1000)


def dag_folder(scratch: Path) -> Path:
    """A DAG folder holding this DAG's file and the plain DAG's, as a platform's would."""
    folder = scratch / "dags"
    folder.mkdir(exist_ok=True)
    shutil.copy(REPO / "dags" / f"{DAG_ID}.py", folder)
    shutil.copy(Path(__file__).with_name("plain_dag.py"), folder)
    return folder


def airflow_env(path: Path, settings: dict[str, Any], dags: Path, memory_limit: str | None = None) -> dict[str, str]:
    """The environment a user's `airflow dags test` would have: the warehouse Connection (with
    DuckDB's `memory_limit` extra when given), the settings Variable, no Amplitude Connection (so
    the run is a dry run writing its outbox)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    extra = {"memory_limit": memory_limit} if memory_limit else {}
    env["AIRFLOW_CONN_ADJUST_AMPLITUDE_WAREHOUSE"] = json.dumps({"conn_type": "duckdb", "host": str(path), "extra": extra})
    env["AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS"] = json.dumps(settings)
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    return env


# Runs a command and prints, last, the peak memory (KiB) of the process it ran.
_PEAK = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(done.returncode)")


def dags_test(dag_id: str, day: dt.date, env: dict[str, str], log: Path) -> tuple[float, float]:
    """`airflow dags test` of one DAG and day: its wall seconds and its peak memory (MiB). Fails
    with the log's tail."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run([sys.executable, "-c", _PEAK, airflow, "dags", "test", dag_id, day.isoformat()],
                              env=env, stdout=subprocess.PIPE, stderr=out, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"airflow dags test {dag_id} {day} failed:\n{log.read_text()[-6000:]}")
    *output, peak = done.stdout.strip().splitlines()
    with log.open("a") as out:
        out.write("\n".join(output))
    return wall, int(peak) / 1024


def task_seconds(airflow_home: Path, dag_id: str, day: dt.date) -> dict[str, float]:
    """Each task's duration in the newest run of `day`, from Airflow's metadata DB (mapped tasks
    summed: they run one after another under `dags test`)."""
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        (run_id,) = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? AND date(logical_date) = ? ORDER BY id DESC LIMIT 1",
            (dag_id, day.isoformat())).fetchone()
        rows = db.execute("SELECT task_id, duration FROM task_instance WHERE dag_id = ? AND run_id = ?",
                          (dag_id, run_id)).fetchall()
    seconds: dict[str, float] = {}
    for task_id, duration in rows:
        seconds[task_id] = seconds.get(task_id, 0.0) + float(duration or 0)
    return seconds


# What each task reads, as DuckDB reads it once: the floor.
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
# floor is its read and its write (the floor for the dry-run push is its write alone).
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


def measure(path: Path, scratch: Path, steady: bool = True, rows: int = ADJUST_ROWS, events: int = AMPLITUDE_EVENTS,
            memory_limit: str | None = None, **settings: Any) -> dict[str, Any]:
    """The cold day on copies of `path` (a warehouse holding DAY), the plain DAG's run and this
    DAG's, each followed by its floors; with `steady`, the next day of `rows` and `events` added
    to both copies, and both DAGs' runs of it. `settings` go into the settings Variable beside the
    Adjust table's partition column; `memory_limit` into this DAG's warehouse Connection."""
    airflow_home = Path(os.environ["AIRFLOW_HOME"])
    dags = dag_folder(scratch)
    ours, plain = scratch / "ours.duckdb", scratch / "plain.duckdb"
    shutil.copy(path, ours)
    shutil.copy(path, plain)
    ours_env = airflow_env(ours, {"report_dir": str(scratch / "reports"), "adjust_partition_column": "partition_day",
                                  **settings}, dags, memory_limit)
    plain_env = airflow_env(plain, {}, dags)
    days = {"cold": DAY, "steady": STEADY_DAY} if steady else {"cold": DAY}
    runs = {}
    for name, day in days.items():
        if day != DAY:
            for copy in (ours, plain):
                add_day(copy, day, rows, events)
        # The plain DAG first, then this one: each reads a file the other never touched.
        plain_wall, plain_peak = dags_test(PLAIN_DAG_ID, day, plain_env, scratch / f"plain-{day}.log")
        wall, peak = dags_test(DAG_ID, day, ours_env, scratch / f"dags-test-{day}.log")
        runs[name] = {"day": day.isoformat(), "wall_seconds": wall, "peak_mib": peak,
                      "tasks": task_seconds(airflow_home, DAG_ID, day),
                      "plain": {"wall_seconds": plain_wall, "peak_mib": plain_peak,
                                "tasks": task_seconds(airflow_home, PLAIN_DAG_ID, day)},
                      "floors": floors(ours, scratch, day, rebuilt=name == "cold")}
    import duckdb

    with duckdb.connect(str(ours), read_only=True) as con:
        outbox = con.execute("SELECT COUNT(*) FROM attribution.sync_ledger WHERE status = 'matched'").fetchone()[0]
        ledger = con.execute("SELECT COUNT(*) FROM attribution.sync_ledger").fetchone()[0]
    return {"runs": runs, "matched_rows": outbox, "ledger_rows": ledger}


# A task of the DAG that reads and writes no data (the validation gate, when it passes, only compares
# the run record's figures): what Airflow itself costs a task in the same run, measured alongside.
EMPTY_TASK = "check_validation_gate"


def report(result: dict[str, Any], adjust_rows: int, amplitude_rows: int) -> str:
    lines = [f"{adjust_rows:,} Adjust rows, {amplitude_rows:,} Amplitude events a day; ledger {result['ledger_rows']:,} "
             f"rows, {result['matched_rows']:,} matched (the dry-run outbox)", ""]
    worst = {"floor": ("", 0.0), "io": ("", 0.0)}
    targets = {"cold": TARGET_COLD, "steady": TARGET_STEADY}
    for name, run in result["runs"].items():
        plain = run["plain"]
        ratio = run["wall_seconds"] / plain["wall_seconds"]
        lines += [
            f"{name} day ({run['day']}):",
            f"  plain one-task DAG: airflow dags test {plain['wall_seconds']:.1f} s (its task {sum(plain['tasks'].values()):.1f} s), "
            f"peak {plain['peak_mib']:,.0f} MiB",
            f"  this DAG:           airflow dags test {run['wall_seconds']:.1f} s = {ratio:.2f}x the plain DAG "
            f"(target <= {targets[name]}x), tasks {sum(run['tasks'].values()):.1f} s, peak {run['peak_mib']:,.0f} MiB "
            f"(target <= {TARGET_PEAK_MIB:,})",
        ]
        airflow = run["tasks"].get(EMPTY_TASK, 0.0)
        lines.append(f"  {'task':26} {'seconds':>8} {'÷plain':>7} {'read':>6} {'write':>6} {'floor':>6} {'ratio':>6} "
                     f"{'r+w+task':>9} {'ratio':>6}")
        for task, seconds in run["tasks"].items():
            share = f"{seconds / plain['wall_seconds']:6.2f}x"
            floor = run["floors"].get(task)
            if floor is None:
                lines.append(f"  {task:26} {seconds:8.2f} {share} (reads and writes no data table)")
                continue
            alone = floor["read"] or floor["write"]  # the push's floor is its write (it reads nothing counted)
            io = floor["read"] + floor["write"] + airflow
            for kind, value in (("floor", seconds / alone), ("io", seconds / io)):
                if value > worst[kind][1]:
                    worst[kind] = (f"{task} ({name} day)", value)
            lines.append(f"  {task:26} {seconds:8.2f} {share} {floor['read']:6.2f} {floor['write']:6.2f} {alone:6.2f} "
                         f"{seconds / alone:5.1f}x {io:9.2f} {seconds / io:5.1f}x")
        lines.append("")
    lines += [
        "÷plain: the task's seconds over the plain DAG's whole `airflow dags test` of the same day;",
        "floor: DuckDB reading the task's columns once (the push: writing its outbox once as JSON lines);",
        "r+w+task: DuckDB reading them once and writing the task's rows once, plus an empty Airflow task.",
        f"worst against floor: {worst['floor'][1]:.1f}x, {worst['floor'][0]}; against r+w+task: {worst['io'][1]:.1f}x, "
        f"{worst['io'][0]} (target <= {TARGET_RATIO:.0f}x)",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory-limit", help="the DuckDB Connection's memory_limit extra for this DAG (default: 1GB)")
    parser.add_argument("--runs", type=int, default=1, help="measure this many times, each on a fresh copy")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)  # the child processes' parts
    parser.add_argument("--measure", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        add_day(args.generate, DAY, ADJUST_ROWS, AMPLITUDE_EVENTS)
        return 0
    if args.measure:
        print(json.dumps(measure(*args.measure, memory_limit=args.memory_limit), default=str))
        return 0
    with tempfile.TemporaryDirectory(prefix="adjust-bench-") as tmp:
        path = Path(tmp) / "bench.duckdb"
        t0 = time.perf_counter()
        # Generated in a child process, so that nothing of it stays in the measuring one.
        subprocess.run([sys.executable, __file__, "--generate", str(path)], check=True)
        import duckdb

        with duckdb.connect(str(path), read_only=True) as con:
            adjust_rows = con.table("adjust.raw_events").count("*").fetchall()[0][0]
            amplitude_rows = con.table("amplitude.events").count("*").fetchall()[0][0]
        print(f"generated {adjust_rows:,} Adjust rows and {amplitude_rows:,} Amplitude events in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        memory = ["--memory-limit", args.memory_limit] if args.memory_limit else []
        for n in range(1, args.runs + 1):
            scratch = Path(tmp) / f"run{n}"
            scratch.mkdir()
            done = subprocess.run([sys.executable, __file__, "--measure", str(path), str(scratch), *memory],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                print(done.stdout[-3000:], done.stderr[-6000:])
                return done.returncode
            print(f"\n=== run {n} of {args.runs}", flush=True)
            print(report(json.loads(done.stdout.strip().splitlines()[-1]), adjust_rows, amplitude_rows), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

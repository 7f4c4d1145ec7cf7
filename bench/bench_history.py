"""`make bench-history`: does a run's cost stay flat as history grows?

Sixty consecutive daily runs at constant volume on the embedded DuckDB warehouse: each day
ADJUST_PER_DAY Adjust rows (installs of new devices, reattributions of known ones, a tenth
ingested a day late) and EVENTS_PER_DAY Amplitude events arrive before that day's run. The app has
a past: the export already holds the first event of BASE_DEVICES devices, spread over the year
before, and the first run builds the identity index from it, as the first run of a new install of
the sync does. WARM_UP runs (the open days, so windows close and reports fill as in any later
run) come before run 1 and are not counted: run 1 is a day like every other, and only history
grows from there.

For runs 1, 30 and 60 it prints each step's wall time and the rows each step read from each table
(DuckDB's profiler: rows_scanned of every table scan), and the ratio of run 60 to run 1. The Adjust
table is partitioned by ingestion day (adjust_partition_column). Steps run in-process, as the DAG's
tasks call them; a run's tasks in Airflow add a constant overhead per task (see `make bench`).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

FIRST_DAY = dt.date(2026, 6, 1)
ADJUST_PER_DAY = 100_000
EVENTS_PER_DAY = 2_000_000
BASE_DEVICES = 10_000_000
RUNS = 60
WARM_UP = 10  # the default open_days: from then on a run reads as many open days as any later one
SHOWN = (1, 30, 60)


# The Amplitude columns the benchmark's events set.
EVENT_COLUMNS = "(amplitude_id, user_id, device_id, event_time, platform, idfa, Adid)"


def create_inputs(con, base_devices: int, first_day: dt.date) -> None:
    """The two input tables, and the app's past: the first event of each base device, in the year
    before `first_day` (a device's later events add nothing the index keeps, but its last time)."""
    from adjust_amplitude.run_day import day_start
    from demo.vendor_schemas import ADJUST_CSV_COLUMNS, create_adjust_export, create_amplitude_events

    # Both tables as the vendors document them (every column; those the sync never reads stay NULL here).
    con.execute("CREATE SCHEMA IF NOT EXISTS adjust; CREATE SCHEMA IF NOT EXISTS amplitude")
    create_adjust_export(con, "adjust.raw_events", (*ADJUST_CSV_COLUMNS, "partition_day"),
                         {"created_at": "BIGINT", "partition_day": "DATE"})
    create_amplitude_events(con, "amplitude.events")
    start = day_start(first_day) - 365 * 86400
    con.execute(f"""
        INSERT INTO amplitude.events {EVENT_COLUMNS}
        SELECT i, CASE WHEN i % 10 < 3 THEN 'U-B' || i END, 'B' || i,
               to_timestamp({start} + (i * 365 * 86400) // {base_devices}), 'iOS',
               CASE WHEN i % 2 = 0 THEN 'A-B' || i END, NULL
        FROM range({base_devices}) t(i)
    """)


def arrive(con, day: dt.date, n: int, adjust_per_day: int, events_per_day: int, base_devices: int) -> None:
    """Day `day` (the n-th) lands: its Adjust rows (installs of new devices N<n>-<i>, a fifth
    reattributions of base devices), seven in ten new devices opening the app three times, and
    base devices' activity filling the day up to events_per_day."""
    from adjust_amplitude.config import ADJUST_COLUMNS
    from adjust_amplitude.run_day import day_start

    start = day_start(day)
    installs = adjust_per_day * 4 // 5
    values = {c: "NULL" for c in ADJUST_COLUMNS}
    values.update({
        "app_token": "'app'", "environment": "'production'", "os_name": "'ios'", "network_name": "'Net ' || (i % 7)",
        "campaign_name": "'Camp ' || (i % 31)", "country": "'us'",
        "activity_kind": f"CASE WHEN i < {installs} THEN 'install' ELSE 'reattribution' END",
        "adid": f"'adid-{n}-' || i",
        "idfv": f"CASE WHEN i < {installs} THEN 'N{n}-' || i ELSE 'B' || ((i * 7919 + {n} * 104729) % {base_devices}) END",
        "created_at": f"{start} + (i * 86399) // {adjust_per_day}",
    })
    select = ", ".join(values[c] for c in ADJUST_COLUMNS)
    late = f"DATE '{day}' + CAST(i % 10 = 0 AS INTEGER)"  # a tenth is ingested the next day
    con.execute(f"INSERT INTO adjust.raw_events ({', '.join(ADJUST_COLUMNS)}, partition_day) "
                f"SELECT {select}, {late} FROM range({adjust_per_day}) t(i)")
    openers = installs * 7 // 10
    con.execute(f"""
        INSERT INTO amplitude.events {EVENT_COLUMNS}
        SELECT CAST({n} AS BIGINT) * 100000000 + i, NULL, 'N{n}-' || (i // 3), to_timestamp({start} + ((i // 3) * 86399) // {installs} + (i % 3) * 1800),
               'iOS', NULL, NULL
        FROM range({openers * 3}) t(i)
    """)
    rest = events_per_day - openers * 3
    con.execute(f"""
        INSERT INTO amplitude.events {EVENT_COLUMNS}
        SELECT CAST({n} AS BIGINT) * 100000000 + 50000000 + i, NULL, 'B' || ((i * 48271 + {n} * 7) % {base_devices}),
               to_timestamp({start} + (i * 86399) // {rest}), 'iOS', NULL, NULL
        FROM range({rest}) t(i)
    """)


class Profiled:
    """Wraps a DuckDBWarehouse: each statement runs with DuckDB's JSON profiler, whose table scans'
    rows_scanned add up per (step, table)."""

    def __init__(self, path: Path, profile: Path) -> None:
        from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse

        outer = self

        class Warehouse(DuckDBWarehouse):
            def _run_translated(self, name, sql, params):  # every statement, exports (COPY) too
                profile.unlink(missing_ok=True)
                self.connection.execute("PRAGMA enable_profiling = 'json'")
                self.connection.execute(f"PRAGMA profiling_output = '{profile}'")
                try:
                    cursor = super()._run_translated(name, sql, params)
                    result = _Fetched(cursor)
                finally:
                    self.connection.execute("PRAGMA disable_profiling")
                if profile.exists():  # not for DDL
                    outer.count(json.loads(profile.read_text()))
                return result

        self.warehouse_class = Warehouse
        self.path = path
        self.step = ""
        self.rows: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)

    def count(self, node: dict[str, Any]) -> None:
        for child in node.get("children", node.get("operator", [])):
            self.count(child)
        table = (node.get("extra_info") or {}).get("Table")
        if node.get("type") == "TABLE_SCAN" and table:
            name = table.split(".")[-1]
            name = "_stage_adjust_<day>_<run>" if name.startswith("_stage_adjust_") else name  # one per run
            self.rows[self.step][name] += int(node.get("rows_scanned") or 0)

    def warehouse(self):
        return self.warehouse_class(self.path, memory_limit="4GB")


class _Fetched:
    """A finished query's rows (the profile is complete only once they are read)."""

    def __init__(self, cursor) -> None:
        self.description = cursor.description
        self.rows = cursor.fetchall() if cursor.description else []

    def fetchall(self):
        return self.rows

    def fetchone(self):
        return self.rows[0] if self.rows else None


def run_one(profiled: Profiled, day: dt.date) -> dict[str, Any]:
    """One day's run, step by step as the DAG's tasks call them (LocalRun), each step timed and profiled."""
    from adjust_amplitude.local_run import LocalRun
    from adjust_amplitude.run import Plan

    profiled.rows.clear()

    def warehouse(step: str):
        profiled.step = step
        return profiled.warehouse()

    run = LocalRun(Plan.from_params(day, f"bench__{day}", {"dry_run": True}), warehouse=warehouse)
    result = run()
    return {"seconds": run.seconds, "rows": {k: dict(v) for k, v in profiled.rows.items()}, "record": result["record"]}


def table(results: dict[int, dict[str, Any]]) -> str:
    shown = sorted(results)
    first, last = shown[0], shown[-1]
    steps = list(results[first]["seconds"])
    lines = ["| step | " + " | ".join(f"run {n} s" for n in shown) + f" | run {last} / run {first} | "
             + " | ".join(f"run {n} rows read" for n in shown) + f" | rows run {last} / run {first} |",
             "|" + "---|" * (2 + 2 * len(shown) + 1)]
    for s in [*steps, "total"]:
        secs = [sum(results[n]["seconds"].values()) if s == "total" else results[n]["seconds"][s] for n in shown]
        rows = [sum(sum(t.values()) for t in results[n]["rows"].values()) if s == "total"
                else sum(results[n]["rows"].get(s, {}).values()) for n in shown]
        ratio_s = f"{secs[-1] / secs[0]:.2f}" if secs[0] else "-"
        ratio_r = f"{rows[-1] / rows[0]:.2f}" if rows[0] else "-"
        lines.append(f"| {s} | " + " | ".join(f"{x:.2f}" for x in secs) + f" | {ratio_s} | "
                     + " | ".join(f"{x:,}" for x in rows) + f" | {ratio_r} |")
    return "\n".join(lines)


def per_table(results: dict[int, dict[str, Any]]) -> str:
    shown = sorted(results)
    lines = []
    for s in results[shown[0]]["rows"]:
        tables = sorted({t for n in shown for t in results[n]["rows"].get(s, {})})
        for t in tables:
            counts = [results[n]["rows"].get(s, {}).get(t, 0) for n in shown]
            lines.append(f"  {s:26} {t:28} " + " ".join(f"{c:>12,}" for c in counts))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--adjust-per-day", type=int, default=ADJUST_PER_DAY)
    parser.add_argument("--events-per-day", type=int, default=EVENTS_PER_DAY)
    parser.add_argument("--base-devices", type=int, default=BASE_DEVICES)
    parser.add_argument("--warm-up", type=int, default=WARM_UP, help="uncounted runs before run 1")
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    args = parser.parse_args()
    shown = SHOWN if args.runs == RUNS else tuple(sorted({1, (args.runs + 1) // 2, args.runs}))
    import duckdb

    with tempfile.TemporaryDirectory(prefix="adjust-history-") as tmp:
        path, reports = Path(tmp) / "history.duckdb", Path(tmp) / "reports"
        os.environ["AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS"] = json.dumps(
            {"report_dir": str(reports), "adjust_partition_column": "partition_day"})
        os.environ.pop("AIRFLOW_CONN_AMPLITUDE_ATTRIBUTION", None)
        profiled = Profiled(path, Path(tmp) / "profile.json")
        t0 = time.perf_counter()
        with duckdb.connect(str(path)) as con:
            create_inputs(con, args.base_devices, FIRST_DAY - dt.timedelta(days=args.warm_up))
        results, every = {}, {}
        for n in range(1 - args.warm_up, args.runs + 1):
            day = FIRST_DAY + dt.timedelta(days=n - 1)
            with duckdb.connect(str(path)) as con:
                arrive(con, day, n, args.adjust_per_day, args.events_per_day, args.base_devices)
            result = run_one(profiled, day)
            every[n] = {"seconds": result["seconds"], "rows": result["rows"]}
            with duckdb.connect(str(path), read_only=True) as con:
                index_rows = con.execute("SELECT COUNT(*) FROM attribution.amplitude_identity_index").fetchone()[0]
                ledger_rows = con.execute("SELECT COUNT(*) FROM attribution.sync_ledger").fetchone()[0]
            every[n].update(index_rows=index_rows, ledger_rows=ledger_rows)
            if n == 1 - args.warm_up:
                print(f"the first run built the identity index from {args.base_devices:,} devices' past; "
                      f"set-up and first run {time.perf_counter() - t0:.1f} s", flush=True)
            print(f"run {n:>3} ({day}): {sum(result['seconds'].values()):6.2f} s, "
                  f"{sum(sum(t.values()) for t in result['rows'].values()):>12,} rows read; ledger {ledger_rows:,}, "
                  f"index {index_rows:,}", flush=True)
            if n in shown:
                results[n] = result
        print()
        print(f"{args.adjust_per_day:,} Adjust rows and {args.events_per_day:,} Amplitude events a day, "
              f"{args.base_devices:,} devices of history, {args.warm_up} runs before run 1")
        print(table(results))
        print()
        print("rows read by step and table, runs " + ", ".join(map(str, sorted(results))))
        print(per_table(results))
        print("identity index rows after runs " + ", ".join(f"{n}: {every[n]['index_rows']:,}" for n in sorted(results))
              + "; ledger rows " + ", ".join(f"{every[n]['ledger_rows']:,}" for n in sorted(results)))
        if args.json:
            args.json.write_text(json.dumps(every, indent=1, default=str))
        first, last = min(results), max(results)
        secs = [sum(results[n]["seconds"].values()) for n in (first, last)]
        rows = [sum(sum(t.values()) for t in results[n]["rows"].values()) for n in (first, last)]
        print(f"\nrun {last} / run {first}: wall time {secs[1] / secs[0]:.2f}x, rows read {rows[1] / rows[0]:.2f}x "
              f"(target: within 1.3x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`make bench`: one day of 1,000,000 Adjust rows (with duplicates and noise) against 5,000,000
Amplitude events, run end to end in dry-run mode on the embedded DuckDB warehouse; then the run
three days later, which closes every window of that day and writes its report.

Prints wall seconds, rows per second and peak memory of the pipeline process. The data is
generated in a separate process first so its memory does not count.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAY = dt.date(2026, 11, 20)
ADJUST_ROWS = 1_000_000
AMPLITUDE_EVENTS = 5_000_000
# The generator writes about 2.07 table rows per valid attribution row (noise: duplicates,
# sandbox, session/event rows, malformed rows); aim the total at ADJUST_ROWS.
SCALE = int(ADJUST_ROWS / 2.075)


def generate(path: Path) -> None:
    from adjust_amplitude.sample_warehouse import generate_frames, write_warehouse

    # Amplitude events of the attributed devices average ~3.5; unrelated users fill up to 5M.
    _, events, _, _ = generate_frames(DAY, 1, 1000)
    per_row = len(events) / 1000
    extra = max(0, AMPLITUDE_EVENTS - int(per_row * SCALE))
    write_warehouse(path, DAY, 1, SCALE, extra_events=extra, replace=True)


def run_pipeline(path: Path, report_dir: Path) -> dict:
    os.environ["AIRFLOW_CONN_ADJUST_AMPLITUDE_WAREHOUSE"] = json.dumps({"conn_type": "duckdb", "host": str(path)})
    os.environ["AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS"] = json.dumps({"report_dir": str(report_dir)})
    os.environ.pop("AIRFLOW_CONN_AMPLITUDE_ATTRIBUTION", None)
    from adjust_amplitude import pipeline

    started = time.perf_counter()
    timings: dict[str, float] = {}
    peaks = {"start": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}

    def step(name, work):
        t0 = time.perf_counter()
        result = work()
        timings[name] = time.perf_counter() - t0
        peaks[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        return result

    run = pipeline.Run(pipeline.make_plan(DAY, "bench", dry_run=True, lookback_days=None))

    def check_inputs():
        present = pipeline.check_inputs(run)
        pipeline.prepare_outputs(run)
        return present

    present = step("check_inputs", check_inputs)
    staged = step("stage_rows", lambda: pipeline.stage_rows(run, present))
    as_of = step("match_and_close", lambda: pipeline.match_and_close(run))
    pushed = step("push_dry_run", lambda: pipeline.push(run))
    record = step("summarise", lambda: pipeline.summarise(run, as_of, [pushed], staged, []))
    step("write_report", lambda: pipeline.write_report(run, record))
    main_wall = time.perf_counter() - started

    # The run three days later closes the 72-hour window of every row of DAY: the report's run.
    closing = pipeline.Run(pipeline.make_plan(DAY + dt.timedelta(days=3), "bench-close", dry_run=True, lookback_days=None))
    closing_started = time.perf_counter()
    closing_present = step("close:check_inputs", lambda: pipeline.check_inputs(closing))
    closing_staged = step("close:stage_rows", lambda: pipeline.stage_rows(closing, closing_present))
    closing_as_of = step("close:match_and_close", lambda: pipeline.match_and_close(closing))
    closing_pushed = step("close:push_dry_run", lambda: pipeline.push(closing))
    closing_record = step("close:summarise",
                          lambda: pipeline.summarise(closing, closing_as_of, [closing_pushed], closing_staged, []))
    report = step("close:write_report", lambda: pipeline.write_report(closing, closing_record))
    return {
        "wall_seconds": main_wall,
        "closing_wall_seconds": time.perf_counter() - closing_started,
        "closing_report": report["headline"],
        "steps": timings,
        "peaks": peaks,
        "record": record,
        "outbox_events": pushed["outbox_events"],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--generate":
        generate(Path(sys.argv[2]))
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "--pipeline":
        print(json.dumps(run_pipeline(Path(sys.argv[2]), Path(sys.argv[3])), default=str))
        return 0
    with tempfile.TemporaryDirectory(prefix="adjust-bench-") as tmp:
        path = Path(tmp) / "bench.duckdb"
        t0 = time.perf_counter()
        # Both phases in child processes: Linux carries a parent's peak RSS into a forked child.
        subprocess.run([sys.executable, __file__, "--generate", str(path)], check=True)
        import duckdb

        with duckdb.connect(str(path), read_only=True) as con:
            adjust_rows = con.table("adjust.raw_events").count("*").fetchall()[0][0]
            amplitude_rows = con.table("amplitude.events").count("*").fetchall()[0][0]
        print(f"generated {adjust_rows:,} Adjust rows and {amplitude_rows:,} Amplitude events in {time.perf_counter() - t0:.1f} s")
        done = subprocess.run(
            [sys.executable, __file__, "--pipeline", str(path), str(Path(tmp) / "reports")],
            capture_output=True, text=True,
        )
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-6000:])
            return done.returncode
        result = json.loads(done.stdout.strip().splitlines()[-1])
    wall = result["wall_seconds"]
    print("step seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result["steps"].items()))
    print("peak MiB after each step: " + ", ".join(f"{k} {v}" for k, v in result["peaks"].items()))
    print(f"ledger: matched {result['record']['matched_by_run']:,}, "
          f"duplicates {result['record']['duplicate_rows']:,}, invalid {result['record']['invalid_rows']:,}; "
          f"outbox events {result['outbox_events']:,}")
    print(f"wall seconds:     {wall:.1f}   (target <= 60)")
    print(f"rows per second:  {adjust_rows / wall:,.0f}   (Adjust table rows / wall)")
    print(f"peak memory:      {result['peak_rss_mib']:,.0f} MiB   (target <= 2048; both runs)")
    closed = result["closing_report"]
    print(f"closing run (day + 3): {result['closing_wall_seconds']:.1f} s; its report covers "
          f"{closed['adjust_rows']:,} rows: {closed['matched']:,} matched, {closed['unmatched']:,} unmatched, "
          f"{closed['no_identifier']:,} no identifier, {closed['rejected']:,} rejected")
    return 0


if __name__ == "__main__":
    sys.exit(main())

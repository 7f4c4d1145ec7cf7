"""The benchmarks still run: each measures the product's own steps, so a change to a step's
signature broke `make bench` without any test noticing (it happened once). Tiny sizes here; the
figures come from the make targets."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from project_files import REPO

sys.path.insert(0, str(REPO / "bench"))

import bench_pipeline  # noqa: E402

pytestmark = pytest.mark.slow  # the benchmarks on small data


def test_the_pipeline_benchmark_measures_both_dags_on_a_cold_and_a_steady_day(tmp_path, airflow_home):
    """`make bench` runs `airflow dags test` of this DAG and of the plain one-task DAG, on copies of
    one warehouse of the production shape; here on tiny days."""
    path = tmp_path / "bench.duckdb"
    bench_pipeline.add_day(path, bench_pipeline.DAY, 300, 2000)
    result = bench_pipeline.measure(path, tmp_path, rows=300, events=2000)
    assert set(result["runs"]) == {"cold", "steady"}
    for run in result["runs"].values():
        tasks, floors, plain = run["tasks"], run["floors"], run["plain"]
        assert {"stage_adjust_rows", "update_amplitude_index", "match_and_close_windows", "push_to_amplitude",
                "write_report"} <= set(floors) <= set(tasks)
        assert all(seconds > 0 for seconds in tasks.values())
        assert all(f["read"] > 0 or step == "push_to_amplitude" for step, f in floors.items())
        assert plain["tasks"] and plain["wall_seconds"] > 0 and plain["peak_mib"] > 0 and run["peak_mib"] > 0
    # both DAGs matched rows of the cold day, and wrote them to their outboxes
    assert result["matched_rows"] > 0
    assert (tmp_path / f"plain_outbox_{bench_pipeline.DAY}.jsonl").read_text().count("\n") > 0
    text = bench_pipeline.report(result, 300, 2000)
    assert "cold day (" in text and "steady day (" in text and "the plain DAG" in text


def test_the_history_benchmark_counts_the_rows_every_step_reads(tmp_path):
    """`make bench-history` on five tiny days (the last closes the windows of the second): every
    step's reads are counted, the warehouse's exports (the dry run's outbox, the report's rows) too."""
    out = tmp_path / "history.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench_history.py"), "--runs", "4", "--warm-up", "1",
         "--adjust-per-day", "300", "--events-per-day", "3000", "--base-devices", "2000", "--json", str(out)],
        env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "run 4 / run 1: wall time" in done.stdout
    last = json.loads(out.read_text())["4"]
    rows = {step: sum(tables.values()) for step, tables in last["rows"].items()}
    assert last["rows"]["write_report"]["discrepancy_rows"] > 0  # select_report_rows, an export
    assert all(rows.get(step, 0) > 0 for step in ("stage_adjust_rows", "update_amplitude_index", "match_and_close_windows",
                                           "push_to_amplitude[0]", "summarise_run", "write_report")), rows

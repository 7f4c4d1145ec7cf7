"""The benchmarks still run: each measures the product's own steps, so a change to a step's
signature broke `make bench` without any test noticing (it happened once). Tiny sizes here; the
figures come from the make targets."""

from __future__ import annotations

import sys

from adjust_amplitude.sample_warehouse import write_warehouse
from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))

import bench_pipeline  # noqa: E402


def test_the_pipeline_benchmark_measures_a_dags_test_run_and_its_floors(tmp_path, airflow_home):
    """`make bench` runs `airflow dags test`; here on a tiny day (without the closing run)."""
    path = tmp_path / "bench.duckdb"
    write_warehouse(path, bench_pipeline.DAY, 1, scale=50, seed=3)
    # A tiny day's few malformed rows are above the validation gate's 5%, whose retries would wait.
    result = bench_pipeline.measure(path, tmp_path, closing=False, max_invalid_ratio=1.0)
    run = result["runs"]["day"]
    tasks, floors = run["tasks"], run["floors"]
    assert {"stage_adjust_rows", "update_amplitude_index", "match_and_close_windows", "push_to_amplitude",
            "write_report"} <= set(floors) <= set(tasks)
    assert all(seconds > 0 for seconds in tasks.values())
    assert all(f["read"] > 0 or step == "push_to_amplitude" for step, f in floors.items())
    assert all(f["write"] > 0 for f in floors.values())  # the day's run wrote in every step
    assert result["matched_rows"] > 0 and (tmp_path / "floor.jsonl").read_text().count("\n") == result["matched_rows"]
    # the report floor wrote the rows closed that day: none yet (no window of the day has closed)
    assert (tmp_path / "floor.csv").read_text().count("\n") == 1
    assert "worst against floor: " in bench_pipeline.report(result, 100, 100)

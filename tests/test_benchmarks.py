"""The benchmarks still run: each measures the product's own steps, so a change to a step's
signature broke `make bench` without any test noticing (it happened once). Tiny sizes here; the
figures come from the make targets."""

from __future__ import annotations

import sys

from adjust_amplitude.sample_warehouse import write_warehouse
from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))

import bench_pipeline  # noqa: E402


def test_the_pipeline_benchmark_runs_both_of_its_runs(tmp_path, monkeypatch):
    for name in ("AIRFLOW_CONN_ADJUST_AMPLITUDE_WAREHOUSE", "AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS",
                 "AIRFLOW_CONN_AMPLITUDE_ATTRIBUTION"):
        monkeypatch.delenv(name, raising=False)  # restored after the test; the benchmark sets them
    path = tmp_path / "bench.duckdb"
    write_warehouse(path, bench_pipeline.DAY, 1, scale=50, seed=3)
    result = bench_pipeline.run_pipeline(path, tmp_path / "reports")
    assert set(result["steps"]) >= {"stage_rows", "match_and_close", "push_dry_run", "summarise", "write_report",
                                    "close:write_report"}
    assert result["record"]["in_scope_rows"] > 50 and result["outbox_events"] > 0
    assert result["closing_report"]["adjust_rows"] > 0

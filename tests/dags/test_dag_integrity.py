"""Every DAG imports cleanly, is configured as the README says, and does no heavy work at parse time.

In tests/dags/, where `astro dev pytest tests/dags` looks for it: it needs only pytest and what the
DAG needs, so it also runs inside a platform's image (and under `make test-compat`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "adjust_amplitude_attribution"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.models import DagBag  # its home on every supported Airflow

    return DagBag(dag_folder=str(REPO / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert DAG_ID in dagbag.dags


def test_every_dag_has_tags_owner_and_retries_on_every_task(dagbag):
    for dag in dagbag.dags.values():
        assert dag.tags, dag.dag_id
        for task in dag.tasks:
            assert task.retries >= 1, task.task_id
            assert task.retry_exponential_backoff, task.task_id
            assert task.owner != "airflow", task.task_id


def test_schedule_and_run_limits(dagbag):
    from adjust_amplitude.airflow_compat import CronDataIntervalTimetable

    dag = dagbag.dags[DAG_ID]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    # The SDK's timetable (Airflow 3.2 on) has .expression and .timezone; 3.1's core one serialises them.
    tt = dag.timetable
    expression, timezone = (tt.expression, tt.timezone) if hasattr(tt, "expression") else tt.serialize().values()
    assert expression == "0 0 * * *"
    assert str(getattr(timezone, "name", timezone)) == "UTC"
    assert dag.max_active_runs == 1
    assert dag.catchup is False


def test_trigger_form_params_are_typed_and_described(dagbag):
    params = dagbag.dags[DAG_ID].params
    for name, kind in (("dry_run", "boolean"), ("lookback_days", ["null", "integer"])):
        param = params.get_param(name)
        assert param.schema["type"] == kind
        assert param.schema.get("title") and param.description
    assert params["dry_run"] is False and params["lookback_days"] is None


def test_task_order(dagbag):
    dag = dagbag.dags[DAG_ID]
    order = [t.task_id for t in dag.topological_sort()]
    assert order == [
        "plan_day", "check_inputs", "stage_adjust_rows", "update_amplitude_index", "match_and_close_windows",
        "push_to_amplitude", "summarise_run", "write_report", "notify_targets", "check_reject_gate",
        "check_validation_gate",
    ]
    # The index is updated beside staging, and both come before matching.
    assert dag.get_task("update_amplitude_index").upstream_task_ids == {"plan_day", "check_inputs"}
    assert dag.get_task("match_and_close_windows").upstream_task_ids == {"plan_day", "stage_adjust_rows", "update_amplitude_index"}
    gates = {"check_reject_gate", "check_validation_gate"}
    assert all(dag.get_task(g).upstream_task_ids == {"write_report", "plan_day", "summarise_run"} for g in gates)
    # Told once the report is out, beside the gates: a gate that fails does not stop the message.
    assert dag.get_task("notify_targets").upstream_task_ids == {"plan_day", "write_report"}
    assert not dag.get_task("notify_targets").downstream_task_ids


def test_only_the_report_task_produces_the_report_asset(dagbag):
    from adjust_amplitude.assets import DISCREPANCY_REPORT

    dag = dagbag.dags[DAG_ID]
    producers = [t.task_id for t in dag.tasks if DISCREPANCY_REPORT in (t.outlets or [])]
    assert producers == ["write_report"]
    assert DISCREPANCY_REPORT.name == "adjust_amplitude_discrepancy_report"


def test_parsing_the_dag_file_imports_nothing_heavy():
    """Parsing runs every few seconds in the dag-processor: no warehouse or HTTP libraries then."""
    code = (
        "import sys, runpy, json; runpy.run_path(sys.argv[1]);"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('duckdb','google','sqlglot','pandas','numpy','requests','adjust_amplitude'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "dags" / f"{DAG_ID}.py")],
        capture_output=True, text=True, env=os.environ.copy(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    heavy = [m for m in json.loads(done.stdout.strip().splitlines()[-1]) if not m.startswith(("google.protobuf", "requests"))]
    # Only the version check, the Asset definition, the settings the DAG's shape reads (with what
    # they import: the error classes and the day's arithmetic) and the deadline alert may come from
    # the project at parse time; each imports only the standard library and airflow.sdk.
    light = {"adjust_amplitude", "adjust_amplitude.airflow_compat", "adjust_amplitude.assets", "adjust_amplitude.config",
             "adjust_amplitude.adjust_columns", "adjust_amplitude.failures", "adjust_amplitude.run_day", "adjust_amplitude.deadline"}
    assert [m for m in heavy if m.split(".")[0] in ("duckdb", "sqlglot", "pandas", "adjust_amplitude") and m not in light] == []
    assert not any(m.startswith("google.cloud") for m in heavy)


def test_the_readme_example_dag_is_scheduled_on_the_report_asset(tmp_path):
    """The README's consumer DAG parses and waits for the asset the report task produces."""
    from airflow.models import DagBag  # its home on every supported Airflow

    from adjust_amplitude.assets import DISCREPANCY_REPORT

    from project_files import readme_asset_example

    (tmp_path / "notify_marketing.py").write_text(readme_asset_example())
    bag = DagBag(dag_folder=str(tmp_path))
    assert bag.import_errors == {}
    dag = bag.dags["notify_marketing"]
    assert [a.name for a in dag.timetable.asset_condition.objects] == [DISCREPANCY_REPORT.name]


def _parsed(monkeypatch, settings: str | None, argv: list[str] | None = None):
    """The DAG as a dag-processor parses it with the settings Variable `settings` (None: unset)."""
    from airflow.models import DagBag

    if settings is None:
        monkeypatch.delenv("AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS", settings)
    monkeypatch.setattr(sys, "argv", argv or ["airflow", "dag-processor"])
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags[DAG_ID]
    alerts = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline] if dag.deadline else []
    return dag.get_task("push_to_amplitude"), alerts


def test_the_push_runs_at_most_push_partitions_at_once_across_runs(monkeypatch):
    """One rate limit for every run: the scheduler runs at most push_partitions pushes of the DAG
    at once, whichever runs they belong to (the setting as the DAG was parsed), and each sends at
    that share of the limit (adjust_amplitude.push.senders)."""
    push, _ = _parsed(monkeypatch, None)
    assert push.max_active_tis_per_dag == 1
    push, _ = _parsed(monkeypatch, json.dumps({"push_partitions": 3}))
    assert push.max_active_tis_per_dag == 3
    # Its time limit is set from its rows when it starts; until then, 12 h.
    assert push.partial_kwargs["pre_execute"].__name__ == "limit_push_time"
    # Settings the DAG cannot read (not JSON, or refused) leave it with the defaults: it still loads,
    # and its first task fails with the settings' own error.
    for broken in ("{not json", json.dumps({"push_partitions": 0})):
        push, _ = _parsed(monkeypatch, broken)
        assert push.max_active_tis_per_dag == 1


def test_the_report_deadline_is_an_airflow_deadline_alert(monkeypatch):
    import datetime as dt

    from adjust_amplitude.airflow_compat import DeadlineReference

    _, alerts = _parsed(monkeypatch, None)
    assert len(alerts) == 1
    (alert,) = alerts
    # Due at 06:00 UTC the day after the run's day, which starts at its logical date.
    assert alert.interval == dt.timedelta(days=1, hours=6)
    assert type(alert.reference) is type(DeadlineReference.DAGRUN_LOGICAL_DATE)
    assert alert.callback.path == "adjust_amplitude.deadline.report_late"
    _, alerts = _parsed(monkeypatch, json.dumps({"report_deadline_utc": "07:30:15"}))
    assert alerts[0].interval == dt.timedelta(days=1, hours=7, minutes=30, seconds=15)
    _, alerts = _parsed(monkeypatch, json.dumps({"report_deadline_utc": None}))
    assert alerts == []
    # `airflow dags test` runs no scheduler to miss a deadline (and Airflow 3.3's fails on one).
    _, alerts = _parsed(monkeypatch, None, argv=["airflow", "dags", "test", DAG_ID, "2026-11-20"])
    assert alerts == []

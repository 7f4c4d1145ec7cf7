"""Daily Adjust -> Amplitude attribution sync.

The run with logical date D processes the Adjust rows created on D (UTC), re-reads the
`lookback_days` before it for late rows, sends matched rows to Amplitude's Attribution API
exactly once, and reports the rows whose 72-hour window closed without a match.
All work lives in plugins/adjust_amplitude; this file only wires it.
"""

from __future__ import annotations

import datetime as dt

from adjust_amplitude.assets import DISCREPANCY_REPORT
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

DOC = __doc__

default_args = {
    "owner": "data-platform",
    "retries": 3,
    "retry_delay": dt.timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=30),
}


@dag(
    dag_id="adjust_amplitude_attribution",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["adjust", "amplitude", "attribution"],
    doc_md=DOC,
    params={
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Send nothing to Amplitude; write the events that would be sent to the outbox file in the report folder.",
        ),
        "lookback_days": Param(
            None,
            type=["null", "integer"],
            minimum=0,
            maximum=30,
            title="Lookback days",
            description="Earlier days to re-read for late Adjust rows. Empty: the lookback_days setting (default 2).",
        ),
    },
)
def adjust_amplitude_attribution():
    @task
    def plan_day() -> dict:
        from adjust_amplitude.pipeline import make_plan
        from adjust_amplitude.run_day import day_from_context

        context = get_current_context()
        params = context["params"]
        return make_plan(
            day_from_context(context),
            context["run_id"],
            dry_run=params.get("dry_run", False),
            lookback_days=params.get("lookback_days"),
        )

    @task
    def check_inputs(plan: dict) -> list[str]:
        from adjust_amplitude import pipeline

        run = pipeline.Run(plan)
        present = pipeline.check_inputs(run)
        pipeline.prepare_outputs(run)
        return present

    @task
    def stage_adjust_rows(plan: dict, present_optional: list[str]) -> None:
        from adjust_amplitude import pipeline

        pipeline.stage_rows(pipeline.Run(plan), present_optional)

    @task
    def match_and_close_windows(plan: dict) -> int:
        from adjust_amplitude import pipeline

        return pipeline.match_and_close(pipeline.Run(plan))

    @task
    def push_partitions(plan: dict) -> list[int]:
        from adjust_amplitude import pipeline

        return pipeline.push_partitions(pipeline.Run(plan))

    @task
    def push_to_amplitude(plan: dict, partition: int) -> dict:
        from adjust_amplitude import pipeline

        return pipeline.push(pipeline.Run(plan), partition)

    @task
    def summarise_run(plan: dict, as_of: int, push_stats: list[dict]) -> dict:
        from adjust_amplitude import pipeline

        return pipeline.summarise(pipeline.Run(plan), as_of, list(push_stats))

    @task(outlets=[DISCREPANCY_REPORT])
    def write_report(plan: dict, record: dict) -> dict:
        from adjust_amplitude import pipeline

        written = pipeline.write_report(pipeline.Run(plan), record)
        get_current_context()["outlet_events"][DISCREPANCY_REPORT].extra = written
        return written

    @task
    def check_reject_gate(plan: dict, record: dict) -> None:
        from adjust_amplitude import pipeline

        pipeline.check_reject_gate(pipeline.Run(plan), record)

    plan = plan_day()
    present = check_inputs(plan)
    staged = stage_adjust_rows(plan, present)
    as_of = match_and_close_windows(plan)
    staged >> as_of
    partitions = push_partitions(plan)
    as_of >> partitions
    pushed = push_to_amplitude.partial(plan=plan).expand(partition=partitions)
    record = summarise_run(plan, as_of, pushed)
    # The report is written even when the gate then fails the run.
    write_report(plan, record) >> check_reject_gate(plan, record)


adjust_amplitude_attribution()

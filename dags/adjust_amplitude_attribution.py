"""Daily Adjust -> Amplitude attribution sync.

The run with logical date D processes the Adjust rows created on D (UTC), re-reads the
`lookback_days` before it for late rows, sends matched rows to Amplitude's Attribution API
exactly once, and reports the rows whose attribution window (`window_hours`, 72 by default)
closed without a match.
All work lives in plugins/adjust_amplitude; this file only wires it.
"""

from __future__ import annotations

import datetime as dt

# First: on an unsupported Airflow this import fails with one clear sentence (the DAG's import error).
from adjust_amplitude.airflow_compat import CronDataIntervalTimetable
from adjust_amplitude.assets import DISCREPANCY_REPORT
from adjust_amplitude.config import settings_at_parse
from adjust_amplitude.deadline import report_deadline
from airflow.sdk import Param, dag, get_current_context, task

DOC = __doc__

# The two settings that shape the DAG itself, read when the file is parsed (one Variable read; the
# defaults when it cannot be read): how many pushes may send at once across every run, and when a
# day's report is due. Tasks read all settings again when they run.
AT_PARSE = settings_at_parse()


def limit_push_time(context) -> None:
    """The push's execution_timeout, derived from its rows and its share of the rate (adjust_amplitude.push)."""
    from adjust_amplitude.push import limit_time

    limit_time(context)


def tell_failure(context) -> None:
    """A task that failed for good is told to the notify targets (adjust_amplitude.notify)."""
    from adjust_amplitude.notify import task_failed

    task_failed(context)


default_args = {
    "owner": "data-platform",
    "retries": 3,
    "retry_delay": dt.timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=30),
    "on_failure_callback": tell_failure,
    # What a task of a production day (a million rows) takes, several times over: a task stuck on a
    # dead connection fails and is retried instead of holding its slot for good. Tasks whose work
    # grows with the export or with the rows to send have their own, below.
    "execution_timeout": dt.timedelta(minutes=30),
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
    # report_deadline_utc: a run not done by then the day after its day is told to the notify targets.
    deadline=report_deadline(AT_PARSE),
    params={
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Send nothing to Amplitude, and tell no notify target; write the events that would be sent "
            "to the outbox file in the report folder.",
        ),
        "lookback_days": Param(
            None,
            type=["null", "integer"],
            minimum=0,
            maximum=30,
            title="Lookback days",
            description="Earlier days to re-read for late Adjust rows. Empty: the lookback_days setting (default 2).",
        ),
        "notify": Param(
            True,
            type="boolean",
            title="Notify",
            description="Send the report's headline (and its alerts) to the notify targets. Untick for a backfill "
            "nobody needs to hear about; each report is told to each target once in any case.",
        ),
        "resend_rejected": Param(
            False,
            type="boolean",
            title="Re-send refused rows",
            description="Send again, once, the rows Amplitude refused (an HTTP 4xx) in this run's open days: after "
            "fixing what made it refuse them (the Connection's host, the API key's project). Their old refusals "
            "leave rejected_rows.",
        ),
        "rebuild_amplitude_index": Param(
            False,
            type="boolean",
            title="Rebuild the Amplitude identity index",
            description="Read the whole Amplitude export again instead of only what is new (after restating "
            "old Amplitude data, or events uploaded later than amplitude_late_days).",
        ),
    },
)
def adjust_amplitude_attribution():
    # Each task makes its Run from the plan (adjust_amplitude.run.step), returns its data, and keeps
    # its warehouse usage beside it for summarise_run. adjust_amplitude.local_run runs the same
    # steps in the same order in one process, for tests and benchmarks.
    @task
    def plan_day() -> dict:
        from adjust_amplitude.run import Plan
        from adjust_amplitude.run_day import day_from_context

        context = get_current_context()
        return Plan.from_params(day_from_context(context), context["run_id"], context["params"]).to_xcom()

    @task
    def check_inputs(plan: dict) -> dict:
        from adjust_amplitude import pipeline
        from adjust_amplitude.run import step

        with step(plan, "check_inputs") as run:
            inputs = pipeline.check_inputs(run)
            pipeline.prepare_outputs(run)
            return inputs

    @task(execution_timeout=dt.timedelta(hours=2))
    def stage_adjust_rows(plan: dict, inputs: dict) -> dict:
        from adjust_amplitude import pipeline
        from adjust_amplitude.run import step

        with step(plan, "stage_adjust_rows") as run:
            return pipeline.stage_rows(run, inputs)

    # A rebuild reads the whole Amplitude export: years of events.
    @task(execution_timeout=dt.timedelta(hours=6))
    def update_amplitude_index(plan: dict) -> dict:
        from adjust_amplitude import pipeline
        from adjust_amplitude.run import step

        with step(plan, "update_amplitude_index") as run:
            return pipeline.update_amplitude_index(run)

    # Returns what the push maps over: each push partition, with the rows it may have to send.
    @task(execution_timeout=dt.timedelta(hours=2))
    def match_and_close_windows(plan: dict, index: dict) -> list[dict]:
        from adjust_amplitude import pipeline
        from adjust_amplitude.run import step

        with step(plan, "match_and_close_windows") as run:
            pipeline.match_and_close(run, index["newest_event_seconds"])
            return pipeline.push_parts(run)

    # One rate limit for every run: the scheduler runs at most push_partitions pushes of this DAG at
    # once, whichever runs they belong to, and each sends at that share of the limit. The time limit
    # is set when the task starts, from its rows (limit_push_time); 12 h stands until then. A retry
    # resumes where the push stopped.
    @task(execution_timeout=dt.timedelta(hours=12), max_active_tis_per_dag=AT_PARSE.push_partitions,
          pre_execute=limit_push_time)
    def push_to_amplitude(plan: dict, part: dict) -> dict:
        from adjust_amplitude import pipeline
        from adjust_amplitude.run import step

        with step(plan, f"push_to_amplitude[{part['partition']}]") as run:
            return pipeline.push(run, part["partition"])

    @task
    def summarise_run(plan: dict, stage_counts: dict, index: dict, pushed: list[dict]) -> dict:
        from adjust_amplitude import pipeline
        from adjust_amplitude.run import recorded_usage, step

        with step(plan, "summarise_run") as run:
            return pipeline.summarise(run, index["newest_event_seconds"], list(pushed), stage_counts,
                                      recorded_usage(get_current_context()))

    @task(outlets=[DISCREPANCY_REPORT])
    def write_report(plan: dict, record: dict) -> dict:
        from adjust_amplitude import pipeline
        from adjust_amplitude.run import step

        with step(plan, "write_report") as run:
            written = pipeline.write_report(run, record)
        # The Asset event carries where the report is and its headline, not the messages.
        get_current_context()["outlet_events"][DISCREPANCY_REPORT].extra = {k: v for k, v in written.items() if k != "notices"}
        return written

    # Never fails the run for a target that cannot be reached: notify.py retries it, then records it.
    @task
    def notify_targets(plan: dict, report: dict) -> list[dict]:
        from adjust_amplitude.notify import notify_targets
        from adjust_amplitude.run import step

        with step(plan, "notify_targets") as run:
            return notify_targets(run, report["notices"])

    @task
    def check_reject_gate(plan: dict, record: dict) -> None:
        from adjust_amplitude import pipeline
        from adjust_amplitude.run import step

        with step(plan, "check_reject_gate") as run:
            pipeline.check_reject_gate(run, record)

    @task
    def check_validation_gate(plan: dict, record: dict) -> None:
        from adjust_amplitude import pipeline
        from adjust_amplitude.run import step

        with step(plan, "check_validation_gate") as run:
            pipeline.check_validation_gate(run, record)

    plan = plan_day()
    inputs = check_inputs(plan)
    staged = stage_adjust_rows(plan, inputs)
    index = update_amplitude_index(plan)
    inputs >> index
    parts = match_and_close_windows(plan, index)
    staged >> parts
    pushed = push_to_amplitude.partial(plan=plan).expand(part=parts)
    record = summarise_run(plan, staged, index, pushed)
    # The report is written, and told, even when a gate then fails the run.
    report = write_report(plan, record)
    notify_targets(plan, report)
    report >> [check_reject_gate(plan, record), check_validation_gate(plan, record)]


adjust_amplitude_attribution()

"""Daily Adjust -> Amplitude attribution sync.

The run with logical date D processes the Adjust rows created on D (UTC), re-reads the
`lookback_days` before it for late rows, sends matched rows to Amplitude's Attribution API
exactly once, and reports the rows whose 72-hour window closed without a match.
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
    """The push's execution_timeout, derived from its rows and its share of the rate (adjust_amplitude.pipeline)."""
    from adjust_amplitude.pipeline import push_time_limit

    push_time_limit(context)


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
            rebuild_amplitude_index=params.get("rebuild_amplitude_index", False),
            notify=params.get("notify", True),
        )

    # Each step returns its values and what its warehouse statements cost (pipeline.with_usage);
    # summarise_run writes the costs into the run record.
    @task
    def check_inputs(plan: dict) -> dict:
        from adjust_amplitude import pipeline

        run = pipeline.Run(plan)
        inputs = pipeline.check_inputs(run)
        pipeline.prepare_outputs(run)
        return pipeline.with_usage(run, "check_inputs", inputs=inputs)

    @task(execution_timeout=dt.timedelta(hours=2))
    def stage_adjust_rows(plan: dict, checked: dict) -> dict:
        from adjust_amplitude import pipeline

        run = pipeline.Run(plan)
        counts = pipeline.stage_rows(run, checked["inputs"])
        return pipeline.with_usage(run, "stage_adjust_rows", counts=counts)

    # A rebuild reads the whole Amplitude export: years of events.
    @task(execution_timeout=dt.timedelta(hours=6))
    def update_amplitude_index(plan: dict) -> dict:
        from adjust_amplitude import pipeline

        run = pipeline.Run(plan)
        index = pipeline.update_amplitude_index(run, rebuild=plan.get("rebuild_amplitude_index", False))
        return pipeline.with_usage(run, "update_amplitude_index", index=index)

    @task(execution_timeout=dt.timedelta(hours=2))
    def match_and_close_windows(plan: dict, indexed: dict) -> dict:
        from adjust_amplitude import pipeline

        run = pipeline.Run(plan)
        as_of = pipeline.match_and_close(run, indexed["index"]["newest_event_seconds"])
        # The rows each push partition may have to send: its time limit comes from them.
        return pipeline.with_usage(run, "match_and_close_windows", as_of=as_of, parts=pipeline.push_partitions(run))

    # What the push maps over: one part per partition, with its rows.
    @task
    def push_partitions(matched: dict) -> list[dict]:
        return matched["parts"]

    # One rate limit for every run: the scheduler runs at most push_partitions pushes of this DAG at
    # once, whichever runs they belong to, and each sends at that share of the limit. The time limit
    # is set when the task starts, from its rows (limit_push_time); 12 h stands until then. A retry
    # resumes where the push stopped.
    @task(execution_timeout=dt.timedelta(hours=12), max_active_tis_per_dag=AT_PARSE.push_partitions,
          pre_execute=limit_push_time)
    def push_to_amplitude(plan: dict, part: dict) -> dict:
        from adjust_amplitude import pipeline

        run = pipeline.Run(plan)
        partition = part["partition"]
        return pipeline.with_usage(run, f"push_to_amplitude[{partition}]", **pipeline.push(run, partition))

    @task
    def summarise_run(plan: dict, checked: dict, staged: dict, indexed: dict, matched: dict, pushed: list[dict]) -> dict:
        from adjust_amplitude import pipeline

        pushed = list(pushed)
        usage = [checked["usage"], staged["usage"], indexed["usage"], matched["usage"], *(p["usage"] for p in pushed)]
        return pipeline.summarise(pipeline.Run(plan), matched["as_of"], pushed, staged["counts"], usage)

    @task(outlets=[DISCREPANCY_REPORT])
    def write_report(plan: dict, record: dict) -> dict:
        from adjust_amplitude import pipeline

        written = pipeline.write_report(pipeline.Run(plan), record)
        # The Asset event carries where the report is and its headline, not the messages.
        get_current_context()["outlet_events"][DISCREPANCY_REPORT].extra = {k: v for k, v in written.items() if k != "notices"}
        return written

    # Never fails the run for a target that cannot be reached: notify.py retries it, then records it.
    @task
    def notify_targets(plan: dict, report: dict) -> list[dict]:
        from adjust_amplitude import pipeline

        return pipeline.notify(pipeline.Run(plan), report["notices"])

    @task
    def check_reject_gate(plan: dict, record: dict) -> None:
        from adjust_amplitude import pipeline

        pipeline.check_reject_gate(pipeline.Run(plan), record)

    @task
    def check_validation_gate(plan: dict, record: dict) -> None:
        from adjust_amplitude import pipeline

        pipeline.check_validation_gate(pipeline.Run(plan), record)

    plan = plan_day()
    checked = check_inputs(plan)
    staged = stage_adjust_rows(plan, checked)
    indexed = update_amplitude_index(plan)
    checked >> indexed
    matched = match_and_close_windows(plan, indexed)
    staged >> matched
    pushed = push_to_amplitude.partial(plan=plan).expand(part=push_partitions(matched))
    record = summarise_run(plan, checked, staged, indexed, matched, pushed)
    # The report is written, and told, even when a gate then fails the run.
    report = write_report(plan, record)
    notify_targets(plan, report)
    report >> [check_reject_gate(plan, record), check_validation_gate(plan, record)]


adjust_amplitude_attribution()

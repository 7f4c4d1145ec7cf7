"""The report's deadline: an Airflow deadline alert on the DAG (setting report_deadline_utc) whose
callback tells the notify targets when a run has not finished by then.

Airflow measures the deadline from the run's logical date, the start of the day it processes for a
scheduled or backfill run, so a day's report is due at report_deadline_utc the day after. Airflow
drops the deadline of a run that ends before it, and hands a missed one to the triggerer, which runs
`report_late`. A run made after its deadline had passed (a backfill of earlier days, a re-run a week
on) was late before it began: nobody is told about it. A run that fails before its deadline was told
by its failing task already.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Any
from urllib.parse import quote

from adjust_amplitude.config import Settings

log = logging.getLogger(__name__)

CALLBACK = "adjust_amplitude.deadline.report_late"


def report_deadline(settings: Settings):
    """The DAG's deadline alert, or None when report_deadline_utc is off or under `airflow dags
    test`: that runs no scheduler, so no deadline can be missed there, and Airflow 3.3's `dags test`
    fails, after the run, on any DAG with a deadline (apache/airflow#73428)."""
    if settings.report_deadline is None or _in_dags_test():
        return None
    from adjust_amplitude.airflow_compat import AsyncCallback, DeadlineAlert, DeadlineReference

    # The callback by its path: the triggerer imports it (plugins/ is on every component's path).
    return DeadlineAlert(reference=DeadlineReference.DAGRUN_LOGICAL_DATE, interval=settings.report_deadline,
                         callback=AsyncCallback(CALLBACK))


async def report_late(context: dict[str, Any] | None = None, **_: Any) -> str:
    """The deadline alert's callback, run by the triggerer. The warehouse, the Variable and the
    notifiers are synchronous: they run in a thread beside the triggerer's event loop, through
    asgiref, which lets their Connection and Variable reads reach the triggerer's supervisor."""
    from asgiref.sync import sync_to_async

    return await sync_to_async(tell_late)(context or {})


def tell_late(context: dict[str, Any]) -> str:
    """Tell the notify targets that a run's report is late, once per run and target. Returns what
    it did (Airflow keeps it with the callback). Never raises."""
    from adjust_amplitude.notify import describe

    try:
        return _tell_late(context)
    except Exception as exc:  # noqa: BLE001  a callback's error tells nobody; it is logged instead
        log.error("Could not tell the notify targets that a report is late: %s", describe(exc))
        return f"not told: {describe(exc)}"


def _tell_late(context: dict[str, Any]) -> str:
    from adjust_amplitude.notify import tell
    from adjust_amplitude.report.notice import late_notice
    from adjust_amplitude.run import Plan
    from adjust_amplitude.run_day import day_from_logical_date, default_zone

    run, due = context["dag_run"], _when(context["deadline"]["deadline_time"])
    run_id = run.get("dag_run_id") or run["run_id"]
    queued = _when(run.get("queued_at"))
    if queued is not None and queued >= due:
        log.info("Run %s was made at %s, after its report's deadline %s: nobody is told", run_id, queued, due)
        return "made after its deadline: not told"
    day = day_from_logical_date(_when(run.get("logical_date")), _when(run.get("run_after")), default_zone())
    plan = Plan.from_params(day, run_id, run.get("conf") or {})
    notice = late_notice(day.isoformat(), f"{due:%Y-%m-%d %H:%M:%S} UTC", run_url(run["dag_id"], run_id))
    tell(plan, f"late {run_id}", notice)
    return f"told: report of {day} late"


def _in_dags_test() -> bool:
    args = sys.argv[1:]
    return any(args[i:i + 2] == ["dags", "test"] for i in range(len(args)))


def run_url(dag_id: str, run_id: str) -> str:
    """The run's page in the Airflow UI ([api] base_url)."""
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="http://localhost:8080").rstrip("/")
    return f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def _when(value: Any) -> dt.datetime | None:
    """A time as the scheduler hands it: a datetime, or its ISO text once stored as JSON."""
    if value is None or isinstance(value, dt.datetime):
        moment = value
    else:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc) if moment is not None else None

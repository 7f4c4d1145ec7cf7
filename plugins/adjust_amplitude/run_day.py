"""Which Adjust day a DAG run processes, and the time bounds that follow from it.

The day is the date the run's logical date names. The data interval is not used: scheduled and
backfill runs of a CronDataIntervalTimetable have logical_date == interval start, but `airflow
dags test DAG D` and manual runs get the interval that *ends* at D, and a plain cron schedule gives
an empty interval. The logical date names the same day in all four.

Airflow reads a date given without a time (`airflow dags test DAG 2026-10-05`) as midnight in its
default time zone ([core] default_timezone): east of UTC that midnight falls on the UTC day before.
So a logical date that is a midnight there names that zone's date; any other names its UTC date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from adjust_amplitude.failures import NotRetryable

UTC = dt.timezone.utc


def day_from_logical_date(logical_date: dt.datetime | None, run_after: dt.datetime | None = None,
                          zone: dt.tzinfo = UTC) -> dt.date:
    """The date the logical date names: its UTC date, unless it is a midnight in `zone` (Airflow's
    default time zone, default_zone()) and not one in UTC; then `zone`'s date. A scheduled or
    backfill run (of the DAG's UTC timetable) is at a UTC midnight; a manual run at an arbitrary
    time keeps its UTC date.

    Airflow 3 allows manual runs without a logical date; such a run processes the last
    complete UTC day before it was triggered, which is what a person pressing Trigger expects.
    """
    if logical_date is not None:
        utc = _as_utc(logical_date)
        local = logical_date.astimezone(zone)
        if _is_midnight(local) and not _is_midnight(utc):
            return local.date()
        return utc.date()
    if run_after is None:
        raise ValueError("the DAG run has neither a logical date nor a run_after time; cannot tell which day to process")
    return _as_utc(run_after).date() - dt.timedelta(days=1)


def day_from_context(context: dict[str, Any]) -> dt.date:
    dag_run = context.get("dag_run")
    return day_from_logical_date(context.get("logical_date"), getattr(dag_run, "run_after", None), default_zone())


def default_zone() -> dt.tzinfo:
    """Airflow's default time zone, the one it reads dates given without a zone in: [core]
    default_timezone, "system" (the machine's) or a zone name ("utc", "Asia/Tokyo"), read as Airflow
    reads it."""
    import pendulum
    from airflow.configuration import conf

    name = conf.get("core", "default_timezone")
    return pendulum.local_timezone() if name == "system" else pendulum.timezone(name)


def _is_midnight(value: dt.datetime) -> bool:
    return value.time() == dt.time()


def _as_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: Airflow dates are always timezone-aware")
    return value.astimezone(UTC)


# The adjust_day of the rows whose created_at names no day (unreadable, or implausible): one group
# for them all, the same whichever run reads them first, outside every real day's figures. After
# every real day, so that each statement's read of the open days (adjust_day >= open_from_day, a
# filter BigQuery prunes partitions by) sees the group too, while a day's range never does.
UNDATED_DAY = dt.date(9999, 12, 31)


def day_start(day: dt.date) -> int:
    """Unix seconds of a day's UTC midnight."""
    return int(dt.datetime.combine(day, dt.time(), tzinfo=UTC).timestamp())


class FutureDayError(ValueError, NotRetryable):
    """The run's day had not begun (in UTC) when the run was planned."""


def check_day_has_begun(day: dt.date, planned_at: int) -> None:
    """Refuse a run planned before its day began (UTC): it would find none of the day's rows, and
    would move the identity index's bookkeeping ahead of the clock. A run of today is fine: its
    windows stay open. Judged by the plan's clock, so every retry of the run gives the same answer."""
    begins = day_start(day)
    if planned_at >= begins:
        return
    planned = dt.datetime.fromtimestamp(planned_at, UTC)
    hours = (begins - planned_at) / 3600
    raise FutureDayError(
        f"run day {day} has not begun (UTC): the run was planned at {planned:%Y-%m-%d %H:%M} UTC, {hours:.1f} h "
        "before the day begins. Trigger the day once it has begun in UTC (a run for today is allowed; its "
        "windows stay open), or check the date given"
    )


@dataclasses.dataclass(frozen=True)
class RunWindow:
    """Bounds of one run, all in Unix seconds except the dates.

    The run re-reads `lookback_days` earlier days for late Adjust rows, and refreshes the
    summary back to the oldest day whose rows this run can still close.
    """

    day: dt.date
    lookback_days: int
    window_hours: int
    open_days: int = 10

    @property
    def read_from_day(self) -> dt.date:
        return self.day - dt.timedelta(days=self.lookback_days)

    @property
    def read_start(self) -> int:
        return day_start(self.read_from_day)

    @property
    def day_end(self) -> int:
        return day_start(self.day + dt.timedelta(days=1))

    @property
    def window_days(self) -> int:
        """Whole days a window can reach past its row's day."""
        return -(-self.window_hours // 24)

    @property
    def open_from_day(self) -> dt.date:
        """The oldest day whose rows this run may still change (the open_days setting): every
        statement on a partitioned output table reads only from here on."""
        return self.day - dt.timedelta(days=self.open_days)

    @property
    def days(self) -> dict[str, dt.date]:
        """The run's day and the oldest day it may still change: what most statements filter on."""
        return {"run_day": self.day, "open_from_day": self.open_from_day}

    @property
    def summary_from_day(self) -> dt.date:
        return self.read_from_day - dt.timedelta(days=self.window_days + 1)

    def as_of(self, newest_amplitude_event: int | None) -> int:
        """End of the day, capped at the newest Amplitude event (Unix seconds): a window the
        Amplitude data does not cover yet must stay open. No Amplitude data at all closes nothing."""
        if newest_amplitude_event is None:
            return 0
        return min(self.day_end, int(newest_amplitude_event))

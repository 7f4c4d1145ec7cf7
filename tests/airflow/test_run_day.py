"""The run with logical date D processes day D, whatever kind of run it is."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from adjust_amplitude.run_day import RunWindow, day_from_context, day_from_logical_date

UTC = dt.timezone.utc
D = dt.date(2026, 11, 20)
MIDNIGHT = dt.datetime(2026, 11, 20, tzinfo=UTC)


def core_timetable(timetable):
    """The form of a timetable the scheduler asks: from Airflow 3.2 the SDK's timetables are
    turned into core ones; on 3.1 the DAG already holds a core one."""
    try:
        from airflow.serialization.encoders import coerce_to_core_timetable
    except ImportError:  # Airflow 3.1
        return timetable
    return coerce_to_core_timetable(timetable)


@pytest.fixture(scope="module")
def dag():
    from airflow.models import DagBag  # its home on every supported Airflow

    from project_files import REPO

    return DagBag(dag_folder=str(REPO / "dags")).dags["adjust_amplitude_attribution"]


@pytest.fixture(scope="module")
def timetable(dag):
    return core_timetable(dag.timetable)


def test_every_task_has_a_timeout_and_tells_its_failure(dag):
    """A task stuck on a dead connection fails (and is retried) instead of holding its slot for
    good; a task that fails for good is told to the notify targets (test_fail_at_once)."""
    from adjust_amplitude import notify

    timeouts = {t.task_id: t.execution_timeout for t in dag.tasks}
    assert all(timeouts.values()), timeouts
    assert timeouts["push_to_amplitude"] == dt.timedelta(hours=12)
    assert timeouts["update_amplitude_index"] == dt.timedelta(hours=6)
    assert max(timeouts.values()) <= dt.timedelta(hours=12)
    for t in dag.tasks:
        callbacks = t.on_failure_callback if isinstance(t.on_failure_callback, list) else [t.on_failure_callback]
        assert any(getattr(c, "__name__", "") == "tell_failure" for c in callbacks), t.task_id
    assert callable(notify.task_failed)


def test_scheduled_and_backfill_runs(timetable):
    """Scheduled and backfill runs get logical_date == data_interval_start == D 00:00."""
    from airflow.timetables.base import DataInterval, TimeRestriction

    previous = DataInterval(MIDNIGHT - dt.timedelta(days=1), MIDNIGHT)
    info = timetable.next_dagrun_info(
        last_automated_data_interval=previous, restriction=TimeRestriction(earliest=None, latest=None, catchup=True)
    )
    assert info.logical_date == MIDNIGHT
    assert day_from_logical_date(info.logical_date) == D


def test_manual_and_dags_test_runs(timetable):
    """`airflow dags test DAG D` and a manual trigger at D get the interval that ends at D."""
    interval = timetable.infer_manual_data_interval(run_after=MIDNIGHT)
    assert interval.end == MIDNIGHT and interval.start == MIDNIGHT - dt.timedelta(days=1)
    # the day comes from the logical date, not from data_interval_start (which names D-1 here)
    assert day_from_logical_date(MIDNIGHT) == D
    assert interval.start.date() != D


def test_plain_cron_interval_is_empty_so_the_logical_date_is_used():
    try:
        from airflow.sdk import CronTriggerTimetable
    except ImportError:  # Airflow 3.1
        from airflow.timetables.trigger import CronTriggerTimetable

    interval = core_timetable(CronTriggerTimetable("0 0 * * *", timezone="UTC")).infer_manual_data_interval(
        run_after=MIDNIGHT
    )
    assert interval.start == interval.end
    assert day_from_logical_date(MIDNIGHT) == D


def test_logical_date_in_another_timezone_is_converted_to_utc():
    tokyo = dt.timezone(dt.timedelta(hours=9))
    assert day_from_logical_date(dt.datetime(2026, 11, 21, 8, 59, tzinfo=tokyo)) == D


# --- Airflow's default time zone (issue 26, part 1) --------------------------------------------------

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize("zone", [TOKYO, NEW_YORK], ids=["east of UTC", "west of UTC"])
def test_a_midnight_of_the_default_time_zone_names_that_zones_date(zone):
    """`airflow dags test DAG D` with a default time zone gives D 00:00 there: east of UTC, the UTC
    day before. Before: Tokyo's 2026-11-20 00:00 (2026-11-19 15:00 UTC) processed 2026-11-19."""
    assert day_from_logical_date(dt.datetime(2026, 11, 20, tzinfo=zone), zone=zone) == D


def test_a_utc_midnight_names_its_utc_date_whatever_the_default_time_zone():
    """Scheduled and backfill runs of the DAG's UTC timetable are at UTC midnights: as before."""
    assert day_from_logical_date(MIDNIGHT, zone=TOKYO) == D
    assert day_from_logical_date(MIDNIGHT.astimezone(TOKYO), zone=TOKYO) == D  # 09:00 in Tokyo


def test_a_manual_run_at_any_other_time_names_its_utc_date():
    assert day_from_logical_date(dt.datetime(2026, 11, 21, 8, 59, tzinfo=TOKYO), zone=TOKYO) == D
    assert day_from_logical_date(dt.datetime(2026, 11, 20, 23, 0, tzinfo=UTC), zone=TOKYO) == D


@pytest.mark.parametrize("configured", ["Asia/Tokyo", "utc", "UTC"])
def test_the_default_time_zone_is_read_from_airflows_configuration(configured, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__DEFAULT_TIMEZONE", configured)
    tokyo_midnight = dt.datetime(2026, 11, 20, tzinfo=TOKYO)
    expected = D if configured == "Asia/Tokyo" else D - dt.timedelta(days=1)
    assert day_from_context({"logical_date": tokyo_midnight, "dag_run": None}) == expected
    assert day_from_context({"logical_date": MIDNIGHT, "dag_run": None}) == D


@pytest.mark.slow
def test_dags_test_of_a_date_processes_that_date_with_a_default_time_zone_east_of_utc(tmp_path, airflow_home):
    """Before: with AIRFLOW__CORE__DEFAULT_TIMEZONE=Asia/Tokyo, `airflow dags test DAG 2026-10-05`
    processed 2026-10-04, and never 2026-10-05."""
    from pipeline_helpers import adjust_row, query, ts, write_inputs
    from test_fail_at_once import dags_test_tries

    day = dt.date(2026, 10, 5)
    db = tmp_path / "w.duckdb"
    write_inputs(db, [adjust_row(adid="a1", idfv="V1", created_at=ts(day, 10))], [])
    code, _, output = dags_test_tries(tmp_path, airflow_home, {
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Tokyo",
        "AIRFLOW_CONN_ADJUST_AMPLITUDE_WAREHOUSE": json.dumps({"conn_type": "duckdb", "host": str(db)}),
        "AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS": json.dumps({"report_dir": str(tmp_path / "reports")}),
    }, day=day)
    assert code == 0, output[-3000:]
    assert [r["run_day"] for r in query(db, "SELECT run_day FROM attribution.sync_runs")] == [day]
    assert (tmp_path / "reports" / f"discrepancy_{day}.html").exists()


def test_manual_run_without_logical_date_processes_the_last_complete_day():
    class DagRun:
        run_after = dt.datetime(2026, 11, 21, 9, 30, tzinfo=UTC)

    assert day_from_context({"logical_date": None, "dag_run": DagRun()}) == D


def test_naive_dates_are_refused():
    with pytest.raises(ValueError, match="naive"):
        day_from_logical_date(dt.datetime(2026, 11, 20))


def test_window_bounds():
    window = RunWindow(D, lookback_days=2, window_hours=72)
    assert window.read_from_day == dt.date(2026, 11, 18)
    assert window.read_start == int(dt.datetime(2026, 11, 18, tzinfo=UTC).timestamp())
    assert window.day_end == int(dt.datetime(2026, 11, 21, tzinfo=UTC).timestamp())
    assert window.summary_from_day == dt.date(2026, 11, 14)
    newest = int(dt.datetime(2026, 11, 20, 18, tzinfo=UTC).timestamp())
    assert window.as_of(newest) == newest
    assert window.as_of(int(dt.datetime(2026, 12, 1, tzinfo=UTC).timestamp())) == window.day_end
    assert window.as_of(None) == 0

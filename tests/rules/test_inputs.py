"""Bad input is caught at the door, named, and counted: the input contract (column types checked
before anything is written), plausibility of created_at, the validation gate, and no scratch
table left behind by a failed step. One test per finding of issue 11."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from adjust_amplitude import pipeline
from adjust_amplitude.config import Settings, SettingsError
from adjust_amplitude.run_day import UNDATED_DAY
from adjust_amplitude.warehouse.base import ColumnType
from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse
from pipeline_helpers import DAY, adjust_row, amplitude_event, ledger, query, run_day, ts, write_inputs

IDFV = "6F1A2B3C-0000-4000-8000-00000000AAAA"
LENIENT = {"max_invalid_ratio": 1.0}  # for tests of what happens to the rows, not of the gate


@pytest.fixture
def db(tmp_path):
    return tmp_path / "warehouse.duckdb"


def settings(tmp_path, **values) -> Settings:
    return Settings(report_dir=str(tmp_path / "reports"), **values)


def rejected(db) -> dict[str, tuple[str, dt.date]]:
    rows = query(db, "SELECT adid, reason, adjust_day FROM attribution.rejected_rows WHERE stage = 'validation'")
    return {r["adid"]: (r["reason"], r["adjust_day"]) for r in rows}


def tables(db) -> set[str]:
    return {r["table_name"] for r in query(db, "SELECT table_name FROM information_schema.tables")}


def alter(db, sql: str) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute(sql)


# --- created_at: plausibility, milliseconds, fractions ---------------------------------------------


def test_implausible_and_millisecond_created_at_are_rejected_with_their_own_reasons(db, tmp_path, checked_against_zetasql):
    """Before: rows in neither the ledger nor rejected_rows, run green, in_scope_rows 0."""
    ms = ts(DAY, 10) * 1000 + 123
    rows = [
        adjust_row(adid="ok"),
        adjust_row(adid="milliseconds", created_at=ms),
        adjust_row(adid="1970", created_at=1),
        adjust_row(adid="2100", created_at=int(dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc).timestamp())),
        adjust_row(adid="before-floor", created_at=ts(dt.date(2011, 12, 31), 23)),
        adjust_row(adid="ms-of-another-day", created_at=ts(DAY + dt.timedelta(days=5), 1) * 1000),
    ]
    write_inputs(db, rows, [])
    result = run_day(db, settings=settings(tmp_path, **LENIENT))
    assert rejected(db) == {
        "milliseconds": ("created_at_in_milliseconds", DAY),  # under the day it names, once read as seconds
        "1970": ("implausible_created_at", UNDATED_DAY),  # no day: the undated group
        "2100": ("implausible_created_at", UNDATED_DAY),
        "before-floor": ("implausible_created_at", UNDATED_DAY),
    }
    assert [r["adid"] for r in ledger(db).values()] == ["ok"]
    assert result["record"]["in_scope_rows"] == 5 and result["record"]["invalid_rows"] == 4
    assert result["record"]["undated_rows"] == 3 and result["record"]["day_invalid_rows"] == 1
    # The other day's milliseconds belong to that day's run, like any row of that day.
    run_day(db, DAY + dt.timedelta(days=5), settings=settings(tmp_path, **LENIENT))
    assert rejected(db)["ms-of-another-day"] == ("created_at_in_milliseconds", DAY + dt.timedelta(days=5))


def test_the_floor_is_a_setting_and_the_ceiling_a_day_after_the_run(db, tmp_path):
    rows = [adjust_row(adid="2015", created_at=ts(dt.date(2015, 6, 1))),
            adjust_row(adid="in-a-week", created_at=ts(DAY + dt.timedelta(days=7)))]
    write_inputs(db, rows, [])
    run_day(db, settings=settings(tmp_path, created_at_floor="2016-01-01", **LENIENT))
    # The test's clock is after DAY + 7, so the second row is just a later day's row, not read.
    assert rejected(db) == {"2015": ("implausible_created_at", UNDATED_DAY)}
    with pytest.raises(SettingsError, match="created_at_floor = '2016-13-01' is not a date"):
        Settings(created_at_floor="2016-13-01")


def test_a_created_at_far_in_the_future_is_rejected_and_stays_rejected_when_its_day_comes(db, tmp_path):
    """The ceiling moves with the clock (when the run was planned); a row found implausible once
    never also enters the ledger."""
    future = ts(DAY + dt.timedelta(days=3), 5)
    write_inputs(db, [adjust_row(adid="future", created_at=future), adjust_row(adid="tomorrow", created_at=ts(DAY, 30))], [])
    run_day(db, settings=settings(tmp_path, **LENIENT), planned_at=ts(DAY, 12))
    assert rejected(db) == {"future": ("implausible_created_at", UNDATED_DAY)}  # tomorrow's row is not 24 h ahead
    run_day(db, DAY + dt.timedelta(days=3), settings=settings(tmp_path, **LENIENT), planned_at=ts(DAY, 100))
    assert [r["adid"] for r in ledger(db).values()] == ["tomorrow"]
    assert rejected(db) == {"future": ("implausible_created_at", UNDATED_DAY)}


def test_fractional_seconds_are_truncated_not_rounded(db, tmp_path, checked_against_zetasql):
    """Before: a DOUBLE 1791158401.7 became …402."""
    created = ts(DAY, 10)
    write_inputs(db, [adjust_row(adid="fraction", created_at=created + 0.7)], [], created_at_type="DOUBLE")
    run_day(db, settings=settings(tmp_path))
    (row,) = ledger(db).values()
    assert row["created_at"] == created and row["row_key"].endswith(f"|{created}")


def test_a_decimal_created_at_is_read_as_seconds(db, tmp_path):
    created = ts(DAY, 10)
    write_inputs(db, [adjust_row(adid="decimal", created_at=f"{created}.999")], [], created_at_type="DECIMAL(15, 3)")
    run_day(db, settings=settings(tmp_path))
    assert [r["created_at"] for r in ledger(db).values()] == [created]


# --- the input contract: types checked before anything is written ------------------------------------


@pytest.mark.parametrize(("table", "column", "new_type", "shown"), [
    ("adjust.raw_events", "created_at", "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"),
    ("adjust.raw_events", "created_at", "TIMESTAMP", "TIMESTAMP"),
    ("adjust.raw_events", "created_at", "DATE", "DATE"),
    ("adjust.raw_events", "os_name", "BOOLEAN", "BOOLEAN"),
    ("adjust.raw_events", "idfa", "VARCHAR[]", "VARCHAR[]"),
    ("amplitude.events", "event_time", "BIGINT", "BIGINT"),
    ("amplitude.events", "event_time", "VARCHAR", "VARCHAR"),
    ("amplitude.events", "event_time", "DATE", "DATE"),
    ("amplitude.events", "device_id", "BIGINT", "BIGINT"),
])
def test_a_column_of_the_wrong_type_fails_the_run_at_once_naming_it(db, tmp_path, table, column, new_type, shown):
    """Before: a TIMESTAMP created_at made every row invalid on a green run; an INT64 or VARCHAR
    event_time crashed with AttributeError after rows were staged."""
    write_inputs(db, [adjust_row()], [amplitude_event(ts(DAY, 12), device_id=IDFV)])
    alter(db, f"ALTER TABLE {table} ALTER {column} SET DATA TYPE {new_type} USING NULL")
    key = f"{table.split('.')[0]}_table"
    with pytest.raises(pipeline.InputError) as caught:
        run_day(db, settings=settings(tmp_path))
    message = str(caught.value)
    assert message.startswith(f"{key} {table}: column {column} is {shown}, which the sync cannot read; accepted: ")
    assert "point " + key + " at a view" in message
    assert "attribution" not in {r["schema_name"] for r in query(db, "SELECT schema_name FROM information_schema.schemata")}


def test_the_accepted_types_are_listed_in_the_error(db, tmp_path):
    write_inputs(db, [adjust_row()], [])
    alter(db, "ALTER TABLE adjust.raw_events ALTER created_at SET DATA TYPE TIMESTAMPTZ USING NULL")
    with pytest.raises(pipeline.InputError, match=r"accepted: an integer .*; a number with a fraction .*; text .*"
                                                  r"UNIX_SECONDS\(created_at\) AS created_at"):
        run_day(db, settings=settings(tmp_path))


# TIMESTAMPTZ is checked on the reference engine by every rule test already.
@pytest.mark.parametrize(("event_type", "on_bigquery_too"), [
    ("TIMESTAMP", True), ("TIMESTAMPTZ", False), ("TIMESTAMP_MS", False), ("TIMESTAMP_NS", False)])
def test_event_time_with_or_without_time_zone_matches_alike_read_as_utc(db, tmp_path, request, event_type, on_bigquery_too):
    """Before: a plain TIMESTAMP, the type the README documents, crashed match_and_close_windows
    (naive datetime) after rows were staged. A naive time is UTC: an event 71 h 59 m after the
    attribution matches, one at 72 h 01 m is after the window. DuckDB's TIMESTAMP is BigQuery's
    DATETIME, so those runs are also checked on ZetaSQL's reference engine."""
    if on_bigquery_too:
        request.getfixturevalue("checked_against_zetasql")
    created = ts(DAY, 1)
    rows = [adjust_row(adid="inside", idfv="IDFV-IN", created_at=created),
            adjust_row(adid="outside", idfv="IDFV-OUT", created_at=created)]
    events = [amplitude_event(created + 72 * 3600 - 60, device_id="IDFV-IN"),
              amplitude_event(created + 72 * 3600 + 60, device_id="IDFV-OUT")]
    write_inputs(db, rows, events)
    if event_type != "TIMESTAMPTZ":
        alter(db, f"ALTER TABLE amplitude.events ALTER event_time SET DATA TYPE {event_type} "
                  f"USING CAST(timezone('UTC', event_time) AS {event_type})")
    for offset in range(4):
        run_day(db, DAY + dt.timedelta(days=offset), settings=settings(tmp_path), dry_run=True)
    status = {r["adid"]: r["status"] for r in ledger(db).values()}
    assert status == {"inside": "matched", "outside": "unmatched"}
    (seen,) = query(db, "SELECT amplitude_event_time FROM attribution.sync_ledger WHERE adid = 'inside'")
    assert seen["amplitude_event_time"] == dt.datetime.fromtimestamp(created + 72 * 3600 - 60, dt.timezone.utc)


def test_duckdb_reports_each_kind_of_column(db):
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE t (a BIGINT, b INTEGER, c UBIGINT, d DOUBLE, e DECIMAL(18, 3), f VARCHAR, "
                    "g TIMESTAMPTZ, h TIMESTAMP, i TIMESTAMP_NS, j DATE, k BOOLEAN, l VARCHAR[], m BLOB)")
    with DuckDBWarehouse(db).session() as wh:
        kinds = {name: c.kind for name, c in wh.columns("t").items()}
        assert wh.columns("t")["e"] == ColumnType("DECIMAL(18,3)", "number")
        assert wh.columns("nope") is None
    assert kinds == {"a": "integer", "b": "integer", "c": "integer", "d": "number", "e": "number", "f": "text",
                     "g": "timestamp", "h": "naive_timestamp", "i": "naive_timestamp", "j": "date", "k": "other",
                     "l": "other", "m": "other"}


# --- the validation gate ------------------------------------------------------------------------------


def test_iso_text_in_created_at_trips_the_validation_gate_after_the_report_naming_reason_and_example(db, tmp_path):
    """Before: every row of the day rejected invalid_created_at, run green, nothing said the
    column had changed. Text is an accepted type, so the contract lets it in; the gate stops it."""
    rows = [adjust_row(adid=f"a{i}", created_at=f"2026-11-20T10:{i:02d}:00Z") for i in range(20)]
    rows.append(adjust_row(adid="ok", created_at=str(ts(DAY, 10))))
    write_inputs(db, rows, [], created_at_type="VARCHAR")
    with pytest.raises(pipeline.ValidationGateError) as caught:
        run_day(db, settings=settings(tmp_path))
    message = str(caught.value)
    assert message.startswith("20 of the 21 Adjust rows this run read have a created_at that names no day (95.2%; "
                              "they are in rejected_rows with adjust_day 9999-12-31), above max_invalid_ratio 5.0%")
    assert "Most common reasons: invalid_created_at x20 (created_at is empty or holds no whole number of seconds" in message
    assert "Example of invalid_created_at: app_token='app1', " \
           "activity_kind='install', created_at='2026-11-20T10:" in message
    assert (tmp_path / "reports" / f"discrepancy_{DAY}.html").exists()  # written before the gate failed
    assert len(rejected(db)) == 20


def test_the_gate_counts_the_rows_of_its_day_and_holds_at_the_ratio(db, tmp_path):
    rows = [adjust_row(adid=f"v{i}", created_at=ts(DAY, 1) + i) for i in range(19)]
    rows.append(adjust_row(adid="bad", os_name="windows"))
    write_inputs(db, rows, [])
    run_day(db, settings=settings(tmp_path))  # 1 of 20 = 5.0%: at the limit, not above it
    run_day(db, settings=settings(tmp_path))  # a re-run counts the same rows the same way
    with pytest.raises(pipeline.ValidationGateError, match=rf"rejected 1 of the 20 Adjust rows of {DAY} .*invalid_os_name x1"):
        run_day(db, settings=settings(tmp_path, max_invalid_ratio=0.04))
    # The next day read nothing new: nothing to gate.
    run_day(db, DAY + dt.timedelta(days=1), settings=settings(tmp_path, max_invalid_ratio=0.0))


# --- a day that has not begun (issue 26, part 2) ------------------------------------------------------


def test_a_run_for_a_day_that_has_not_begun_fails_at_once_before_anything_is_written(db, tmp_path):
    """Before: it was accepted silently, read nothing, and moved the identity index's bookkeeping ahead."""
    from adjust_amplitude.failures import NotRetryable

    write_inputs(db, [adjust_row()], [])
    with pytest.raises(NotRetryable) as refused:  # the same answer on every retry: failed at once
        run_day(db, settings=settings(tmp_path), planned_at=ts(DAY) - 3600)
    assert str(refused.value).startswith(
        f"run day {DAY} has not begun (UTC): the run was planned at {DAY - dt.timedelta(days=1)} 23:00 UTC, 1.0 h "
        "before the day begins. Trigger the day once it has begun in UTC")
    assert "attribution" not in {r["schema_name"] for r in query(db, "SELECT schema_name FROM duckdb_schemas()")}
    assert not (tmp_path / "reports").exists()
    run_day(db, settings=settings(tmp_path), planned_at=ts(DAY))  # a run of today: its windows stay open
    assert len(ledger(db)) == 1


# --- scratch tables -----------------------------------------------------------------------------------


def test_a_failed_staging_step_leaves_no_scratch_table(db, tmp_path, monkeypatch):
    """Before: _stage_adjust_<day> stayed behind after a failure."""
    write_inputs(db, [adjust_row()], [])
    real = DuckDBWarehouse._execute

    def failing(self, name, sql, params):
        if name == "merge_new_ledger_rows":
            raise RuntimeError("the warehouse went away")
        return real(self, name, sql, params)

    monkeypatch.setattr(DuckDBWarehouse, "_execute", failing)
    with pytest.raises(RuntimeError, match="went away"):
        run_day(db, settings=settings(tmp_path))
    assert "sync_ledger" in tables(db) and not any(t.startswith("_stage") for t in tables(db))
    monkeypatch.setattr(DuckDBWarehouse, "_execute", real)
    run_day(db, settings=settings(tmp_path))  # the retry does the work
    assert len(ledger(db)) == 1 and not any(t.startswith("_stage") for t in tables(db))


def test_a_scratch_table_left_by_a_run_killed_while_staging_is_dropped_by_the_next_run(db, tmp_path):
    """Before: a process killed while staging left its _stage_adjust_<day>_<run> for good: the next
    run names its own, and the killed run's retry may never come."""
    from adjust_amplitude.tables import run_tables

    write_inputs(db, [adjust_row()], [])
    killed = run_tables(settings(tmp_path), DAY - dt.timedelta(days=1), "scheduled__killed").stage
    alter(db, f"CREATE SCHEMA attribution; CREATE TABLE {killed} AS SELECT 'half-staged' AS row_key")
    assert killed.split(".")[1] in tables(db)
    run_day(db, settings=settings(tmp_path), run_id="manual__next")
    assert len(ledger(db)) == 1 and not any(t.startswith("_stage") for t in tables(db))


def test_every_adjust_column_is_read_whatever_its_accepted_type(db, tmp_path):
    """Other Adjust columns may be text or whole numbers (Adjust writes its times as seconds)."""
    write_inputs(db, [adjust_row(installed_at=str(ts(DAY, 9)))], [])
    alter(db, "ALTER TABLE adjust.raw_events ALTER installed_at SET DATA TYPE BIGINT")
    run_day(db, settings=settings(tmp_path))
    assert [r["installed_at"] for r in ledger(db).values()] == [str(ts(DAY, 9))]

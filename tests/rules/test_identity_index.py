"""The Amplitude identity index and what a run reads through it: each run merges in only the events
after the index's watermark less amplitude_late_days, a rebuild reads the whole export again and
leaves the same ledger, placeholder values are no identifiers, and an identifier on more devices
than max_devices_per_identifier is no match key. (test_zetasql checks these statements on ZetaSQL.)"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from adjust_amplitude import pipeline
from adjust_amplitude.config import Settings
from adjust_amplitude.run import Plan, Run
from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse
from pipeline_helpers import DAY, adjust_row, amplitude_event, index_and_match, ledger, query, ts, write_events, write_inputs

IDFV = "6F1A2B3C-0000-4000-8000-00000000AAAA"


@pytest.fixture
def db(tmp_path):
    return tmp_path / "warehouse.duckdb"


def settings(db, **values) -> Settings:
    return Settings(report_dir=str(db.parent / "reports"), max_invalid_ratio=1.0, **values)


def match_day(db, day: dt.date, s: Settings, rebuild: bool = False) -> None:
    """The steps of a day's run up to matching and closing windows: all that decides a row's
    status and reason (run_day runs the whole DAG; these tests need only this part)."""
    plan = Plan(day, f"test__{day}", s, dry_run=True, rebuild_amplitude_index=rebuild)
    run = Run(plan, warehouse=DuckDBWarehouse(db))
    pipeline.prepare_outputs(run)
    pipeline.stage_rows(run, pipeline.check_inputs(run))
    index_and_match(run)


def add_events(db, events: list[dict]) -> None:
    """Events uploaded to the export after the runs so far."""
    with duckdb.connect(str(db)) as con:
        write_events(con, events)


def later(days: int) -> dt.date:
    return DAY + dt.timedelta(days=days)


def row(db, adid: str) -> dict:
    (found,) = [r for r in ledger(db).values() if r["adid"] == adid]
    return found


def status(db, adid: str) -> str:
    return row(db, adid)["status"]


def reasons(db) -> dict[str, str]:
    return {r["adid"]: r["reason"] for r in query(db, "SELECT adid, reason FROM attribution.discrepancy_rows")}


def index_runs(db) -> list[dict]:
    return query(db, "SELECT run_day, rebuilt, read_after, newest_event_time FROM attribution.amplitude_index_runs ORDER BY run_day")


# -- reading only what is new ---------------------------------------------------------------------

@pytest.mark.parametrize("late_days, found", [(3, "matched"), (1, "pending")])
def test_an_event_uploaded_late_is_read_when_it_is_within_the_margin(db, late_days, found):
    """The first run builds the index up to DAY 23:00. An event of the row's device at 02:00 the
    day before is uploaded afterwards, 45 hours behind the watermark: the next run reads it with a
    margin of 3 days, not with one of 1 day."""
    write_inputs(db, [adjust_row(adid="late", idfv=IDFV)], [amplitude_event(ts(DAY, 23), device_id="other")])
    s = settings(db, amplitude_late_days=late_days)
    match_day(db, DAY, s)
    assert status(db, "late") == "pending"
    add_events(db, [amplitude_event(ts(later(1), 23), device_id="other"),
                    amplitude_event(ts(later(-1), 2), device_id=IDFV)])
    match_day(db, later(1), s)
    assert status(db, "late") == found
    runs = index_runs(db)
    assert [r["rebuilt"] for r in runs] == [True, False]
    assert runs[1]["read_after"] == dt.datetime.fromtimestamp(ts(DAY, 23) - late_days * 86400, dt.timezone.utc)


def test_a_rebuild_reads_what_the_margin_missed_and_keeps_every_other_outcome(db):
    write_inputs(db, [adjust_row(adid="late", idfv=IDFV), adjust_row(adid="seen", idfv="SEEN-1")],
                 [amplitude_event(ts(DAY, 23), device_id="other"), amplitude_event(ts(DAY, 11), device_id="SEEN-1")])
    s = settings(db, amplitude_late_days=0)
    match_day(db, DAY, s)
    add_events(db, [amplitude_event(ts(later(1), 23), device_id="other"), amplitude_event(ts(DAY, 12), device_id=IDFV)])
    match_day(db, later(1), s)
    assert status(db, "late") == "pending"  # the event is older than the watermark, and no margin
    match_day(db, later(1), s, rebuild=True)
    assert status(db, "late") == "matched" and status(db, "seen") == "matched"
    assert [r["rebuilt"] for r in index_runs(db)] == [True, True]  # one row per run: the retry replaced it


def test_the_index_holds_each_devices_first_and_last_event_and_no_event_twice(db):
    events = [amplitude_event(ts(DAY, h), device_id="D1", user_id=u, idfa="A1") for h, u in ((5, "u2"), (5, "u1"), (9, "u3"))]
    write_inputs(db, [], events + [amplitude_event(ts(DAY, 20), device_id="D2", idfa=" a1 ")])
    match_day(db, DAY, settings(db))
    match_day(db, DAY, settings(db))  # the same events merged again change nothing
    rows = query(db, "SELECT amplitude_key, id, device_id, user_id, first_event_time, last_event_time "
                     "FROM attribution.amplitude_identity_index ORDER BY ALL")
    at = lambda h: dt.datetime.fromtimestamp(ts(DAY, h), dt.timezone.utc)  # noqa: E731
    assert [tuple(r.values()) for r in rows] == [
        ("device_id", "D1", "D1", "u1", at(5), at(9)),
        ("device_id", "D2", "D2", None, at(20), at(20)),
        ("idfa", "A1", "D1", "u1", at(5), at(9)),
        ("idfa", "A1", "D2", None, at(20), at(20)),
        ("user_id", "U1", "D1", "u1", at(5), at(5)),
        ("user_id", "U2", "D1", "u2", at(5), at(5)),
        ("user_id", "U3", "D1", "u3", at(9), at(9)),
    ]


# -- placeholders and shared identifiers -----------------------------------------------------------

def close_day(db, s: Settings, rows: list[dict], events: list[dict]) -> None:
    """Runs DAY, then DAY + 3 with Amplitude reaching its end, which closes DAY's windows."""
    write_inputs(db, rows, events + [amplitude_event(ts(later(3), 23), device_id="clock")])
    match_day(db, DAY, s)
    match_day(db, later(3), s)


def test_placeholder_values_are_no_identifiers_and_have_their_own_reason(db):
    rows = [
        adjust_row(adid="unknown", idfv="unknown"),
        adjust_row(adid="null-text", idfv=" (NULL) ", gps_adid="Undefined"),
        adjust_row(adid="real", idfv=IDFV, idfa="unknown"),
        adjust_row(adid="empty", idfv=""),
    ]
    close_day(db, settings(db), rows, [amplitude_event(ts(DAY, 11), device_id=d) for d in ("UNKNOWN", "(null)", IDFV)])
    assert {a: status(db, a) for a in ("unknown", "null-text", "real", "empty")} == {
        "unknown": "no_identifier", "null-text": "no_identifier", "real": "matched", "empty": "no_identifier"}
    assert reasons(db) == {"unknown": "placeholder_identifier", "null-text": "placeholder_identifier",
                           "empty": "no_identifier"}


def test_the_placeholder_list_is_a_setting(db):
    rows = [adjust_row(adid="unknown", idfv="unknown"), adjust_row(adid="mine", idfv="not-set")]
    close_day(db, settings(db, placeholder_identifiers=["NOT-SET"]), rows,
              [amplitude_event(ts(DAY, 11), device_id=d) for d in ("unknown", "not-set")])
    assert (status(db, "unknown"), status(db, "mine")) == ("matched", "no_identifier")
    assert reasons(db) == {"mine": "placeholder_identifier"}


@pytest.mark.parametrize("devices, outcome", [(10, "matched"), (11, "shared_identifier")])
def test_an_identifier_on_more_devices_than_the_limit_is_no_match_key(db, devices, outcome):
    rows = [adjust_row(adid="team", external_device_id="qa-team", idfv="NEVER-SEEN")]
    events = [amplitude_event(ts(DAY, 11) + i, device_id=f"D{i}", user_id="qa-team") for i in range(devices)]
    close_day(db, settings(db), rows, events)
    if outcome == "matched":
        assert status(db, "team") == "matched"
        assert row(db, "team")["amplitude_device_id"] == "D0"  # the earliest of the ten
    else:
        assert status(db, "team") == "unmatched"
        assert reasons(db) == {"team": "shared_identifier"}


def test_a_shared_identifier_does_not_hide_a_usable_one(db):
    rows = [adjust_row(adid="both", external_device_id="qa-team", idfv=IDFV)]
    events = [amplitude_event(ts(DAY, 11), device_id=f"D{i}", user_id="qa-team") for i in range(50)]
    close_day(db, settings(db), rows, events + [amplitude_event(ts(later(3), 20), device_id=IDFV)])
    assert status(db, "both") == "unmatched"
    assert reasons(db) == {"both": "opened_after_window"}  # its IDFV showed up, after the window


def test_the_limit_is_a_setting(db):
    rows = [adjust_row(adid="team", external_device_id="qa-team")]
    events = [amplitude_event(ts(DAY, 11) + i, device_id=f"D{i}", user_id="qa-team") for i in range(3)]
    close_day(db, settings(db, max_devices_per_identifier=2), rows, events)
    assert reasons(db) == {"team": "shared_identifier"}


def test_an_index_merged_day_by_day_and_one_rebuilt_every_day_leave_the_same_tables(tmp_path):
    """Five generated days whose Amplitude events arrive day by day, some late (those of devices
    whose id ends in 7 arrive with the next day's upload): one warehouse's index is merged run by
    run, the other's rebuilt at every run. Their ledgers and discrepancy rows are equal, row for row."""
    from demo.sample_warehouse import write_warehouse

    first, days = dt.date(2026, 11, 16), 5
    paths = [tmp_path / "merged.duckdb", tmp_path / "rebuilt.duckdb"]
    for path in paths:
        write_warehouse(path, first, days, scale=40, seed=5)
        with duckdb.connect(str(path)) as con:
            con.execute("CREATE TABLE hidden AS SELECT * FROM amplitude.events")
    s = Settings(report_dir=str(tmp_path / "reports"), max_invalid_ratio=1.0)
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        for path, rebuild in zip(paths, (False, True)):
            with duckdb.connect(str(path)) as con:
                con.execute("DELETE FROM amplitude.events")
                con.execute("INSERT INTO amplitude.events SELECT * FROM hidden WHERE event_time < ? "
                            "OR (event_time < ? AND IFNULL(RIGHT(device_id, 1), '') <> '7')", [end_of(day - dt.timedelta(days=1)), end_of(day)])
            match_day(path, day, s, rebuild=rebuild)
    tables = {"sync_ledger": "row_key", "discrepancy_rows": "row_key"}
    for table, order in tables.items():
        merged, rebuilt = (query(p, f"SELECT * FROM attribution.{table} ORDER BY {order}") for p in paths)
        assert merged == rebuilt and merged, table
    assert [r["rebuilt"] for r in index_runs(paths[0])] == [True] + [False] * (days - 1)


def end_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)

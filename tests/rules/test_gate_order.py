"""The validation gate gives each day the same verdict whichever run reads its rows first: day by
day, in reverse order, and as a backfill beside the scheduled run (issue 23, part 1).

Before: the gate counted the invalid rows a run read first, so three rows with no usable
created_at failed whichever run met them first (100% of a quiet day), and a day's verdict moved
with the order the runs came in."""

from __future__ import annotations

import datetime as dt

import pytest

from adjust_amplitude import pipeline
from adjust_amplitude.config import Settings
from adjust_amplitude.run_day import UNDATED_DAY
from pipeline_helpers import DAY, adjust_row, day_steps, query, snapshot, ts, write_inputs

D1, D2, D3, SCHEDULED = (DAY + dt.timedelta(days=n) for n in range(4))
QUIET = DAY + dt.timedelta(days=7)  # a day whose read window holds no row at all
DAYS = (D1, D2, D3, SCHEDULED, QUIET)


def valid(day: dt.date, n: int, prefix: str) -> list[dict]:
    return [adjust_row(adid=f"{prefix}{i}", created_at=ts(day, 1) + i, idfv=f"IDFV-{prefix}{i}") for i in range(n)]


def export(undated: int = 3) -> list[dict]:
    """D1 2.4% invalid, D2 16.7% (over 5%), D3 3.2%, the scheduled day and the quiet day none,
    and `undated` rows whose created_at names no day (NULL, 0, -5, ...)."""
    no_day = [None, 0, -5, *range(-6, -6 - max(0, undated - 3), -1)][:undated]
    return [
        *valid(D1, 40, "a"), adjust_row(adid="a-bad", os_name="windows", created_at=ts(D1, 2)),
        *valid(D2, 10, "b"), adjust_row(adid="", created_at=ts(D2, 2)), adjust_row(adid=" ", created_at=ts(D2, 3)),
        *valid(D3, 30, "c"), adjust_row(adid="c-ms", created_at=ts(D3, 2) * 1000),
        *(adjust_row(adid=f"undated{i}", created_at=c) for i, c in enumerate(no_day)),
    ]


def verdict(steps) -> str:
    try:
        while True:
            next(steps)
    except StopIteration:
        return "pass"
    except pipeline.ValidationGateError as failed:
        return "fail: " + str(failed).split(",")[0]


def settings(db) -> Settings:
    return Settings(report_dir=str(db.parent / "reports"))


def in_order(db, days) -> dict[dt.date, str]:
    return {day: verdict(day_steps(db, day, settings=settings(db), run_id=f"run__{day}")) for day in days}


def beside(db) -> dict[dt.date, str]:
    """The scheduled run and a three-day backfill, their steps taken in turn: each stage of one
    lands between two steps of the other."""
    runs = {SCHEDULED: day_steps(db, SCHEDULED, settings=settings(db), run_id="scheduled"),
            **{d: day_steps(db, d, settings=settings(db), run_id=f"backfill__{d}") for d in (D1, D2, D3)}}
    outcome: dict[dt.date, str] = {}
    backfill = [D1, D2, D3]
    while len(outcome) < len(runs):
        for day in ([SCHEDULED] if SCHEDULED not in outcome else []) + backfill[:1]:
            try:
                next(runs[day])
                continue
            except StopIteration:
                outcome[day] = "pass"
            except pipeline.ValidationGateError as failed:
                outcome[day] = "fail: " + str(failed).split(",")[0]
            if day in backfill:
                backfill.pop(0)
    return {**outcome, QUIET: verdict(day_steps(db, QUIET, settings=settings(db), run_id="quiet"))}


ORDERS = {
    "day by day": lambda db: in_order(db, DAYS),
    "reverse": lambda db: in_order(db, reversed(DAYS)),
    "backfill beside the scheduled run": beside,
}


def test_each_day_gets_the_same_verdict_and_the_tables_end_the_same_in_any_order(tmp_path):
    outcomes, tables = {}, {}
    for name, run_all in ORDERS.items():
        db = tmp_path / name.replace(" ", "_") / "warehouse.duckdb"
        db.parent.mkdir()
        write_inputs(db, export(), [])
        outcomes[name] = run_all(db)
        # Who read a row first is the one thing order changes, and is kept as what it is: provenance.
        tables[name] = snapshot(db, also_drop={"first_seen_run_day"})
        undated = query(db, "SELECT adjust_day, COUNT(*) AS n FROM attribution.rejected_rows "
                            "WHERE adid LIKE 'undated%' GROUP BY adjust_day")
        assert undated == [{"adjust_day": UNDATED_DAY, "n": 3}], name
        page = (db.parent / "reports" / f"discrepancy_{QUIET}.html").read_text()
        assert "rows whose created_at names no day (in no day&#x27;s figures)</td><td class=\"num\">3<" in page, name
    expected = {day: "pass" for day in DAYS}
    expected[D2] = f"fail: Validation rejected 2 of the 12 Adjust rows of {D2} (16.7%)"
    for name in ORDERS:
        assert outcomes[name] == expected, name
        assert tables[name] == tables["day by day"], name


@pytest.mark.parametrize("undated", [19, 20])
def test_the_undated_group_is_judged_against_the_rows_read_once_it_holds_twenty(tmp_path, undated):
    """A handful beside a quiet window is no schema change; a flood is, on any day that reads it."""
    db = tmp_path / "warehouse.duckdb"
    write_inputs(db, export(undated=undated), [])
    got = in_order(db, [QUIET, D1])
    if undated < pipeline.UNDATED_MIN_ROWS:
        assert got == {QUIET: "pass", D1: "pass"}
    else:
        assert got == {QUIET: f"fail: {undated} of the {undated} Adjust rows this run read have a created_at that names no day (100.0%; they are in rejected_rows with adjust_day {UNDATED_DAY})",
                       D1: f"fail: {undated} of the {undated + 41} Adjust rows this run read have a created_at that names no day ({undated / (undated + 41):.1%}; they are in rejected_rows with adjust_day {UNDATED_DAY})"}

"""The DuckDB backend's append (the push journal's writes): one statement over an array of
structs, which must keep every value as given, whatever mix of NULLs and types a batch holds."""

from __future__ import annotations

import datetime as dt

import pytest

from adjust_amplitude.config import Settings
from adjust_amplitude.tables import run_tables
from adjust_amplitude.warehouse.base import WarehouseError
from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse
from pipeline_helpers import query

UTC = dt.timezone.utc
COLUMNS = ("row_key", "outcome", "sent_at", "http_status", "attempts", "reject_reason", "response_body",
           "run_day", "pushed_by", "appended_at")


def journal_row(i: int, **values) -> dict:
    base = dict.fromkeys(COLUMNS)
    base.update(row_key=f"k{i}", outcome="sent", run_day=dt.date(2026, 11, 20), pushed_by="run|0|1",
                appended_at=dt.datetime(2026, 11, 21, 1, 2, 3, 456789, tzinfo=UTC))
    return {**base, **values}


@pytest.fixture
def warehouse(tmp_path):
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    t = run_tables(Settings(), dt.date(2026, 11, 20), "run").quoted()
    with wh.session() as s:
        s.ensure_dataset("attribution")
        s.run("create_push_journal", t=t)
    return wh


def test_a_batch_mixing_nulls_and_values_reads_back_exactly(warehouse):
    sent = dt.datetime(2026, 11, 21, 0, 0, 1, 250000, tzinfo=UTC)
    rows = [
        journal_row(0, outcome="rejected", reject_reason="no_sendable_identifier", attempts=0),  # NULL status first
        journal_row(1, sent_at=sent, http_status=200, attempts=1),
        journal_row(2, outcome="rejected", http_status=400, attempts=1, reject_reason="amplitude_http_400",
                    response_body='bad "event", line\nnext; \'quoted\' \\ é 🚀 \u202eRTL' + "x" * 10_000),
        journal_row(3, row_key="", outcome="alive"),
    ]
    with warehouse.session() as wh:
        wh.append_rows("attribution.push_journal", rows, [f"id{i}" for i in range(4)])
        wh.append_rows("attribution.push_journal", [], [])
    got = query(warehouse.path, "SELECT * FROM attribution.push_journal ORDER BY row_key")
    assert got == sorted(rows, key=lambda r: r["row_key"])


def test_naive_times_are_refused(warehouse):
    with warehouse.session() as wh, pytest.raises(WarehouseError, match="naive datetime"):
        wh.append_rows("attribution.push_journal", [journal_row(0, sent_at=dt.datetime(2026, 1, 1))], ["id"])

"""The two exports as their vendors document them (demo.vendor_schemas), read unchanged: Amplitude's
BigQuery Event table (amplitude_id BIGNUMERIC, the advertising id spelled `Adid`, JSON columns,
duplicate rows of one uuid, the deduplicated_ table function behind a view) and Adjust's CSV upload
loaded as text. Every test compares with the same day on a plainer table, so a difference in what
the sync makes of the rows fails it, not only an error."""

from __future__ import annotations

import duckdb
import pytest

from adjust_amplitude.config import Settings
from pipeline_helpers import DAY, adjust_row, amplitude_event, ledger, query, run_day, snapshot, ts, write_events, write_inputs

IDFV = "6F1A2B3C-0000-4000-8000-00000000AAAA"
GPS = "a1b2c3d4-0000-4000-8000-000000000001"


def rows_and_events():
    """An iOS row matched by IDFV, an Android row matched through the export's `Adid`, and one never seen."""
    rows = [adjust_row(adid="ios", idfv=IDFV),
            adjust_row(adid="android", os_name="android", gps_adid=GPS),
            adjust_row(adid="gone", idfv="6F1A2B3C-0000-4000-8000-00000000BBBB")]
    events = [amplitude_event(ts(DAY, 11), device_id=IDFV.lower()),
              amplitude_event(ts(DAY, 12), device_id="1f0e3c5a-2d4b-4c6e-8f10-aa55aa55aa55R", adid=GPS.upper(),
                              platform="Android")]
    return rows, events


def statuses(db) -> dict[str, tuple[str, str | None]]:
    return {r["adid"]: (r["status"], r["match_pair"]) for r in ledger(db).values()}


def run(db, tmp_path, **settings):
    return run_day(db, settings=Settings(report_dir=str(tmp_path / "reports"), **settings), dry_run=True)


EXPECTED = {"ios": ("matched", "idfv=device_id"), "android": ("matched", "gps_adid=adid"), "gone": ("pending", None)}


def test_the_fixture_tables_have_the_documented_columns_and_types(tmp_path):
    db = tmp_path / "w.duckdb"
    write_inputs(db, *rows_and_events())
    amplitude = {r["column_name"]: r["data_type"] for r in query(
        db, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'events'")}
    assert amplitude["amplitude_id"] == "DECIMAL(38,0)" and amplitude["Adid"] == "VARCHAR"
    assert amplitude["user_properties"] == "JSON" and amplitude["session_id"] == "DECIMAL(38,0)"
    assert {"uuid", "event_type", "is_attribution_event", "server_upload_time"} <= set(amplitude)
    adjust = {r["column_name"]: r["data_type"] for r in query(
        db, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'raw_events'")}
    assert {"is_organic", "tracking_limited", "att_status", "google_app_set_id", "nonce"} <= set(adjust)


@pytest.mark.parametrize("amplitude_id", ["DECIMAL(38,0)", "HUGEINT", "BIGINT", "VARCHAR", "DOUBLE"])
def test_amplitude_id_of_any_type_is_read_unchanged(tmp_path, amplitude_id):
    """Before: check_inputs refused DECIMAL(38,0) (BigQuery's BIGNUMERIC) and HUGEINT: "column
    amplitude_id is DECIMAL(38,0), which the sync cannot read". The sync never reads it."""
    db = tmp_path / "w.duckdb"
    write_inputs(db, *rows_and_events())
    with duckdb.connect(str(db)) as con:
        con.execute(f"ALTER TABLE amplitude.events ALTER amplitude_id SET DATA TYPE {amplitude_id}")
    run(db, tmp_path)
    assert statuses(db) == EXPECTED


def test_column_names_are_matched_whatever_their_case(tmp_path):
    """The export spells `Adid`; a view or a load may spell others differently. The Android row is
    matched through `Adid` (gps_adid=adid), which only a case-blind lookup finds."""
    db = tmp_path / "w.duckdb"
    write_inputs(db, *rows_and_events())
    with duckdb.connect(str(db)) as con:
        for table, old, new in (("amplitude.events", "device_id", "Device_ID"), ("amplitude.events", "idfa", "IDFA"),
                                ("adjust.raw_events", "gps_adid", "GPS_ADID"), ("adjust.raw_events", "os_name", "OS_Name")):
            con.execute(f"ALTER TABLE {table} RENAME {old} TO {new}")
    run(db, tmp_path)
    assert statuses(db) == EXPECTED


def test_the_exports_duplicate_rows_are_never_counted_twice(tmp_path):
    """Every event written a second time with its uuid (Amplitude's backfill), some a day later:
    the output tables are exactly those of the export without the copies."""
    db, copy = tmp_path / "w.duckdb", tmp_path / "dup.duckdb"
    rows, events = rows_and_events()
    write_inputs(db, rows, events)
    write_inputs(copy, rows, events)
    with duckdb.connect(str(copy)) as con:
        con.execute("INSERT INTO amplitude.events SELECT * REPLACE (server_upload_time + INTERVAL 1 DAY AS server_upload_time) "
                    "FROM amplitude.events")
        assert con.execute("SELECT COUNT(*), COUNT(DISTINCT uuid) FROM amplitude.events").fetchone() == (4, 2)
    run(db, tmp_path)
    run(copy, tmp_path)
    assert snapshot(copy, also_drop={"amplitude_event_time"}) == snapshot(db, also_drop={"amplitude_event_time"})
    assert query(copy, "SELECT * FROM attribution.amplitude_identity_index ORDER BY ALL") == \
        query(db, "SELECT * FROM attribution.amplitude_identity_index ORDER BY ALL")


def test_amplitude_table_may_name_a_view_of_the_deduplicated_table_function(tmp_path):
    """Amplitude creates deduplicated_<appid>(from, to), a table function keeping one row per uuid.
    A view over it (DuckDB: a table macro) is read like the table."""
    db, plain = tmp_path / "w.duckdb", tmp_path / "plain.duckdb"
    rows, events = rows_and_events()
    write_inputs(plain, rows, events)
    write_inputs(db, rows, events)
    with duckdb.connect(str(db)) as con:
        write_events(con, events)  # every event exported twice
        con.execute("CREATE MACRO amplitude.deduplicated_events(from_day, to_day) AS TABLE "
                    "SELECT * FROM amplitude.events WHERE CAST(event_time AS DATE) BETWEEN from_day AND to_day "
                    "QUALIFY ROW_NUMBER() OVER (PARTITION BY uuid ORDER BY server_upload_time) = 1")
        con.execute("CREATE VIEW amplitude.events_deduplicated AS "
                    "SELECT * FROM amplitude.deduplicated_events(DATE '2012-01-01', DATE '2100-01-01')")
        assert con.execute("SELECT COUNT(*) FROM amplitude.events_deduplicated").fetchone() == (2,)
    run(db, tmp_path, amplitude_table="amplitude.events_deduplicated")
    run(plain, tmp_path)
    assert statuses(db) == EXPECTED
    assert snapshot(db) == snapshot(plain)


def test_an_adjust_csv_upload_loaded_as_text_works_unchanged(tmp_path):
    """Every Adjust column STRING, created_at and the flags included, as a CSV load leaves them:
    the same ledger as with created_at an integer."""
    db, typed = tmp_path / "w.duckdb", tmp_path / "typed.duckdb"
    rows, events = rows_and_events()
    for row in rows:
        row.update(installed_at=str(row["created_at"] - 60), is_organic="0", tracking_limited="1", att_status="2",
                   random="123", nonce="ab12")
    write_inputs(typed, rows, events)
    write_inputs(db, [{**r, "created_at": str(r["created_at"])} for r in rows], events, created_at_type="VARCHAR")
    assert query(db, "SELECT DISTINCT data_type FROM information_schema.columns WHERE table_name = 'raw_events'") == \
        [{"data_type": "VARCHAR"}]
    run(db, tmp_path)
    run(typed, tmp_path)
    assert statuses(db) == EXPECTED
    assert snapshot(db) == snapshot(typed)

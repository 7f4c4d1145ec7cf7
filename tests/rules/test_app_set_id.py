"""App Set ID end to end: Adjust's google_app_set_id is matched with Amplitude's device_id, with or
without the "S" that Amplitude's Android SDK (useAppSetIdForDeviceId) appends, normalised like the
other ids; it is sent as android_app_set_id (with adid when there is one); an Android row with only
an App Set ID is sendable; and tables made before App Set ID get its columns in place."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from adjust_amplitude.config import Settings
from pipeline_helpers import (
    ADDED_COLUMNS,
    DAY,
    adjust_row,
    amplitude_event,
    ledger,
    made_by_earlier_version,
    query,
    run_day,
    ts,
    write_inputs,
)

APP_SET = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
GPS = "a1b2c3d4-0000-4000-8000-000000000001"


def android(adid: str, **values):
    return adjust_row(adid=adid, os_name="android", **values)


def day_run(db, tmp_path):
    """The day as a dry run: {adid: (status, match_pair)}, and the events of its outbox."""
    run_day(db, settings=Settings(report_dir=str(tmp_path / "reports")), dry_run=True)
    outbox = tmp_path / "reports" / f"outbox_{DAY}.jsonl"
    events = [json.loads(line) for line in outbox.read_text().splitlines()] if outbox.exists() else []
    return {r["adid"]: (r["status"], r["match_pair"]) for r in ledger(db).values()}, events


@pytest.mark.parametrize("device_id", [f"{APP_SET}S", APP_SET.upper() + "S", f"  {APP_SET}  ", APP_SET.upper()])
def test_an_app_set_id_matches_a_device_id_with_or_without_its_s(tmp_path, device_id):
    """Before: the row was `no_sendable_identifier` at best, never matched by its App Set ID."""
    db = tmp_path / "w.duckdb"
    write_inputs(db, [android("only-set", google_app_set_id=f" {APP_SET.upper()} ")],
                 [amplitude_event(ts(DAY, 11), device_id=device_id, platform="Android")])
    statuses, outbox = day_run(db, tmp_path)
    assert statuses == {"only-set": ("matched", "google_app_set_id=device_id")}
    (event,) = outbox
    # Sent in Amplitude's spelling of the device id, without its "S"; no adid to send.
    assert event["android_app_set_id"] == device_id.strip()[:36]
    assert "adid" not in event and event["platform"] == "android"


def test_the_event_carries_the_app_set_id_beside_the_advertising_id(tmp_path):
    db = tmp_path / "w.duckdb"
    write_inputs(db, [android("both", gps_adid=GPS, google_app_set_id=APP_SET)],
                 [amplitude_event(ts(DAY, 11), device_id=GPS, platform="Android")])
    statuses, outbox = day_run(db, tmp_path)
    assert statuses == {"both": ("matched", "gps_adid=device_id")}
    (event,) = outbox
    assert event["adid"] == GPS and event["android_app_set_id"] == APP_SET


def test_other_device_ids_and_placeholders_match_no_app_set_id(tmp_path):
    """A random id + "R", an id with an "S" that is no UUID, an all-zero App Set ID: no match."""
    db = tmp_path / "w.duckdb"
    zero = "00000000-0000-0000-0000-000000000000"
    write_inputs(db, [android("r", google_app_set_id=APP_SET), android("zero", google_app_set_id=zero),
                      android("short", google_app_set_id="abcS")],
                 [amplitude_event(ts(DAY, 11), device_id=f"{APP_SET}R", platform="Android"),
                  amplitude_event(ts(DAY, 11), device_id=f"{zero}S", platform="Android"),
                  amplitude_event(ts(DAY, 11), device_id="abcSS", platform="Android")])
    statuses, _ = day_run(db, tmp_path)
    assert statuses == {"r": ("pending", None), "zero": ("pending", None), "short": ("pending", None)}
    index = query(db, "SELECT id FROM attribution.amplitude_identity_index WHERE amplitude_key = 'app_set_id'")
    assert index == []


def test_tables_made_by_an_earlier_version_get_the_new_columns_and_keep_their_rows(tmp_path):
    db = tmp_path / "w.duckdb"
    s = Settings(report_dir=str(tmp_path / "reports"))
    write_inputs(db, [android("old", gps_adid=GPS)], [amplitude_event(ts(DAY, 11), device_id=GPS, platform="Android")])
    made_by_earlier_version(db, s)
    columns = lambda table: {r["column_name"] for r in query(  # noqa: E731
        db, "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table])}
    assert not set(ADDED_COLUMNS["sync_ledger"]) & columns("sync_ledger")
    run_day(db, settings=s, dry_run=True)
    for table, added in ADDED_COLUMNS.items():
        assert set(added) <= columns(table), table
    assert {r["adid"]: r["status"] for r in ledger(db).values()} == {"old": "matched"}


def test_the_report_breaks_matched_rows_down_by_pair(tmp_path):
    """The report closing the day: JSON `match_pairs` and the page's table name the App Set ID pair."""
    db = tmp_path / "w.duckdb"
    write_inputs(db, [android("set", google_app_set_id=APP_SET), android("gps", gps_adid=GPS),
                      android("set2", google_app_set_id=APP_SET.replace("1", "2"))],
                 [amplitude_event(ts(DAY, 11), device_id=f"{APP_SET}S", platform="Android"),
                  amplitude_event(ts(DAY, 11), device_id=GPS, platform="Android"),
                  amplitude_event(ts(DAY, 11), device_id=APP_SET.replace("1", "2") + "S", platform="Android"),
                  amplitude_event(ts(DAY, 95), device_id="later-device")])  # the export reaches past the windows
    s = Settings(report_dir=str(tmp_path / "reports"))
    for offset in range(4):
        result = run_day(db, DAY + dt.timedelta(days=offset), settings=s, dry_run=True)
    closing = DAY + dt.timedelta(days=3)
    headline = json.loads((tmp_path / "reports" / f"discrepancy_{closing}.json").read_text())
    assert headline["match_pairs"] == [
        {"platform": "android", "match_pair": "google_app_set_id=device_id", "rows": 2, "share": 2 / 3},
        {"platform": "android", "match_pair": "gps_adid=device_id", "rows": 1, "share": 1 / 3},
    ]
    page = Path(result["paths"]["html"]).read_text()
    assert 'id="by-match-pair"' in page and "google_app_set_id=device_id" in page

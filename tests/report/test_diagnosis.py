"""The report's diagnosis (issue 22, part 4): each cause shown on a generated export made to show
it, and only there; a healthy export shows none; each threshold holds at its edge."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from adjust_amplitude.config import Settings
from adjust_amplitude.report import diagnosis
from adjust_amplitude.report.diagnosis import diagnose
from demo.sample_warehouse import Proportions, write_warehouse
from pipeline_helpers import run_day
from report_html import ReportPage

FIRST = dt.date(2026, 11, 10)
# A setup where every id links the two exports: iOS keyed by IDFV with ATT mostly granted, Android by
# the advertising id, the export keeping some advertising ids, and few late opens.
HEALTHY = Proportions(ios_att_granted=0.9, android_missing_gps_adid=0.02, android_app_set_id_device=0.0,
                      android_adid_device=1.0, opens_after_window=0.01)
# Each cause's export: the healthy one with one thing changed, and the report that shows it.
CASES = {
    "healthy": (HEALTHY, 3, set()),
    "android_random_device_id": (dataclasses.replace(HEALTHY, android_adid_device=0.5), 3,
                                 {("android_random_device_id", "android")}),
    "android_app_set_id_device_id": (dataclasses.replace(HEALTHY, android_app_set_id_device=0.5), 3,
                                     {("android_app_set_id_device_id", "android")}),
    "ios_device_id_not_idfv": (dataclasses.replace(HEALTHY, ios_random_device=0.5), 3,
                               {("ios_device_id_not_idfv", "ios")}),
    "advertising_ids_stripped": (dataclasses.replace(HEALTHY, amplitude_idfa_kept=0.0, amplitude_adid_kept=0.0), 3,
                                 {("advertising_ids_stripped", "ios"), ("advertising_ids_stripped", "android")}),
    "att_limited": (dataclasses.replace(HEALTHY, ios_att_granted=0.2), 3, {("att_limited", "ios")}),
    # Late opens show once Amplitude's data reaches past the windows: the day's windows closed by a
    # run two days late.
    "late_opens": (dataclasses.replace(HEALTHY, opens_after_window=0.4), 5,
                   {("late_opens", "ios"), ("late_opens", "android")}),
}


def _report(tmp_path, proportions: Proportions, closing_offset: int) -> tuple[dict, str, list[str]]:
    """The report of the run that closes FIRST's windows, on a generated export: (JSON, page,
    its notification's lines)."""
    db = tmp_path / "w.duckdb"
    write_warehouse(db, FIRST, 2, scale=300, seed=21, proportions=proportions)
    settings = Settings(report_dir=str(tmp_path / "reports"))
    run_day(db, FIRST, settings=settings, dry_run=True)
    closing = FIRST + dt.timedelta(days=closing_offset)
    notices = run_day(db, closing, settings=settings, dry_run=True)["paths"]["notices"]
    stem = tmp_path / "reports" / f"discrepancy_{closing}"
    return (json.loads(stem.with_suffix(".json").read_text()), stem.with_suffix(".html").read_text(),
            notices["report"]["lines"])


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_cause_shows_on_the_export_made_to_show_it_and_nothing_else(tmp_path, case):
    proportions, closing_offset, expected = CASES[case]
    headline, page, told = _report(tmp_path, proportions, closing_offset)
    assert headline["adjust_rows"] > 200
    found = {(d["cause"], d["platform"]) for d in headline["diagnosis"]}
    assert found == expected, json.dumps(headline["diagnosis"], indent=1)
    for d in headline["diagnosis"]:
        assert set(d) == {"cause", "platform", "rows", "share", "evidence", "fix"}
        assert d["rows"] > 0 and 0 < d["share"] <= 1 and d["fix"]
        assert f"{d['share'] * 100:.1f}%" in d["evidence"]  # the counts behind the share are stated
    read = ReportPage(page)
    if expected:
        shown = [(r.cells[0], r.cells[4]) for r in read.body_rows("diagnosis")]
        assert shown == [(diagnosis.TITLES[d["cause"]], " ".join(d["evidence"].split())) for d in headline["diagnosis"]]
        (line,) = [x for x in told if x.startswith("What the exports show: ")]
        assert all(diagnosis.TITLES[d["cause"]] in line for d in headline["diagnosis"])
    else:
        assert not any("What the exports show" in x for x in told)
        assert "diagnosis" not in read.tables and "No setup problem shows in the exports" in page


def test_every_cause_has_a_title():
    assert set(diagnosis.TITLES) == {cause for _, _, expected in CASES.values() for cause, _ in expected}


def test_a_report_that_closes_no_window_has_no_diagnosis(tmp_path):
    db = tmp_path / "w.duckdb"
    write_warehouse(db, FIRST, 1, scale=100, seed=21, proportions=dataclasses.replace(HEALTHY, android_adid_device=0.0))
    run_day(db, FIRST, settings=Settings(report_dir=str(tmp_path / "reports")), dry_run=True)
    headline = json.loads((tmp_path / "reports" / f"discrepancy_{FIRST}.json").read_text())
    assert headline["adjust_rows"] == 0 and headline["diagnosis"] == []


def _shapes(platform: str, devices: int, **counts: int) -> dict:
    return {"platform": platform, "devices": devices, "random_device_ids": 0, "app_set_device_ids": 0,
            "uuid_device_ids": devices, "with_idfa": devices, "with_adid": devices, **counts}


def _coverage(platform: str, outcome: str, rows: int, with_idfa: int = 0, with_gps_adid: int = 0, att_status=None) -> dict:
    return {"platform": platform, "outcome": outcome, "att_status": att_status, "row_count": rows,
            "with_idfa": with_idfa, "with_gps_adid": with_gps_adid}


def _causes(devices=(), coverage=(), reasons=(), pairs=None) -> set[tuple[str, str]]:
    found = diagnose({"day": FIRST, "platforms": list(devices)}, list(coverage), list(reasons), pairs or {})
    return {(d.cause, d.platform) for d in found}


@pytest.mark.parametrize("cause, column, threshold", [
    ("android_random_device_id", "random_device_ids", diagnosis.RANDOM_DEVICE_SHARE),
    ("android_app_set_id_device_id", "app_set_device_ids", diagnosis.APP_SET_DEVICE_SHARE),
])
def test_an_android_device_id_cause_needs_its_share_of_devices(cause, column, threshold):
    missed = [("unmatched", "no_amplitude_match", "android", 5)]
    at = int(threshold * 1000)
    assert (cause, "android") in _causes([_shapes("android", 1000, **{column: at})], reasons=missed)
    assert (cause, "android") not in _causes([_shapes("android", 1000, **{column: at - 1})], reasons=missed)
    # too few devices to judge by
    small = diagnosis.MIN_DEVICES - 1
    assert not _causes([_shapes("android", small, **{column: small})], reasons=missed)


def test_random_android_ids_are_a_cause_only_when_android_rows_went_unseen():
    shapes = [_shapes("android", 100, random_device_ids=90)]
    assert not _causes(shapes, reasons=[("unmatched", "opened_after_window", "android", 5)])
    assert _causes(shapes, reasons=[("unmatched", "no_amplitude_match", "android", 5)]) == {
        ("android_random_device_id", "android")}


def test_ios_device_ids_that_are_no_idfv():
    missed = [("unmatched", "no_amplitude_match", "ios", 3)]
    assert _causes([_shapes("ios", 100, uuid_device_ids=90)], reasons=missed) == {("ios_device_id_not_idfv", "ios")}
    assert not _causes([_shapes("ios", 100, uuid_device_ids=91)], reasons=missed)


def test_stripped_advertising_ids_need_adjust_rows_that_carry_them():
    shapes = [_shapes("ios", 1000, with_idfa=10)]
    carried = [_coverage("ios", "unmatched", 5, with_idfa=5)]
    assert _causes(shapes, carried) == {("advertising_ids_stripped", "ios")}
    assert not _causes([_shapes("ios", 1000, with_idfa=11)], carried)
    assert not _causes(shapes, [_coverage("ios", "unmatched", 5)])  # Adjust has no IDFA either: nothing lost


def test_att_limited_counts_the_rows_without_an_idfa_by_att_status():
    coverage = [_coverage("ios", "matched", 40, with_idfa=20, att_status="3"),
                _coverage("ios", "matched", 10, att_status="2"), _coverage("ios", "unmatched", 10, att_status="2"),
                _coverage("ios", "unmatched", 5)]
    (found,) = diagnose(None, coverage, [], {})
    assert (found.cause, found.rows, round(found.share, 4)) == ("att_limited", 45, round(45 / 65, 4))
    assert "20 authorized, 20 denied, 5 absent" in found.evidence and "30 of them were matched anyway" in found.evidence
    assert not diagnose(None, [_coverage("ios", "matched", 100, with_idfa=51)], [], {})


def test_late_opens_need_their_share_of_the_platforms_decided_rows():
    coverage = [_coverage("android", "matched", 80), _coverage("android", "unmatched", 20)]
    assert _causes(coverage=coverage, reasons=[("unmatched", "opened_after_window", "android", 5)]) == {
        ("late_opens", "android")}
    assert not _causes(coverage=coverage, reasons=[("unmatched", "opened_after_window", "android", 4)])
    few = [_coverage("android", "unmatched", diagnosis.MIN_ROWS - 1)]
    assert not _causes(coverage=few, reasons=[("unmatched", "opened_after_window", "android", 10)])

"""Each rule of the pipeline on small hand-built DuckDB fixtures whose outcome is written out."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from adjust_amplitude.config import ADJUST_REQUIRED_COLUMNS, Settings
from adjust_amplitude.pipeline import InputError
from adjust_amplitude.run import Plan, Run
from adjust_amplitude.run_day import UNDATED_DAY
from pipeline_helpers import DAY, ZERO, adjust_row, amplitude_event, ledger, query, run_day, snapshot, ts, write_inputs

H = 3600
IDFV = "6F1A2B3C-0000-4000-8000-00000000AAAA"
IDFA = "1E2D3C4B-0000-4000-8000-00000000BBBB"
GPS = "a1b2c3d4-0000-4000-8000-00000000cccc"


# Every statement of every fixture's runs is also checked by ZetaSQL (rules/conftest.py).
pytestmark = pytest.mark.usefixtures("checked_against_zetasql")


@pytest.fixture
def db(tmp_path):
    return tmp_path / "warehouse.duckdb"


def lenient(db, **values) -> Settings:
    """Settings for fixtures built of invalid rows: the validation gate would stop their runs
    (test_inputs tests the gate)."""
    return Settings(report_dir=str(db.parent / "reports"), max_invalid_ratio=1.0, **values)


def keys(path, status=None):
    rows = ledger(path).values()
    return sorted(r["adid"] for r in rows if status is None or r["status"] == status)


# -- rule 1: scope ------------------------------------------------------------------------------

def test_scope_keeps_production_installs_and_reattributions_of_the_read_days(db):
    rows = [
        adjust_row(adid="install"),
        adjust_row(adid="reattr", activity_kind="reattribution"),
        adjust_row(adid="caps", activity_kind=" Install ", environment="Production"),
        adjust_row(adid="no-env", environment=None),
        adjust_row(adid="empty-env", environment=""),
        adjust_row(adid="sandbox", environment="sandbox"),
        adjust_row(adid="session", activity_kind="session"),
        adjust_row(adid="event", activity_kind="event"),
        adjust_row(adid="rejected-install", activity_kind="rejected install"),
        adjust_row(adid="lookback-2", created_at=ts(DAY - dt.timedelta(days=2), 1)),
        adjust_row(adid="lookback-3", created_at=ts(DAY - dt.timedelta(days=3), 23)),
        adjust_row(adid="tomorrow", created_at=ts(DAY + dt.timedelta(days=1))),
        adjust_row(adid="last-second", created_at=ts(DAY + dt.timedelta(days=1)) - 1),
    ]
    write_inputs(db, rows, [])
    result = run_day(db)
    assert keys(db) == sorted(["install", "reattr", "caps", "no-env", "empty-env", "lookback-2", "last-second"])
    assert result["record"]["in_scope_rows"] == 7
    assert ledger(db)["app1|install|caps|" + str(ts(DAY, 10))]["activity_kind"] == "install"


def test_lookback_days_setting_widens_the_read(db, tmp_path):
    write_inputs(db, [adjust_row(adid="old", created_at=ts(DAY - dt.timedelta(days=3), 5))], [])
    run_day(db, settings=Settings(lookback_days=3, report_dir=str(tmp_path / "r")))
    assert keys(db) == ["old"]


# -- rule 2: validation ----------------------------------------------------------------------------

def test_invalid_rows_are_rejected_with_a_reason_and_never_enter_the_ledger(db):
    rows = [
        adjust_row(adid="ok"),
        adjust_row(adid="null-created", created_at=None),
        adjust_row(adid="zero-created", created_at=0),
        adjust_row(adid="negative-created", created_at=-5),
        adjust_row(adid=""),
        adjust_row(adid="   ", network_name="blank adid"),
        adjust_row(adid="windows", os_name="windows"),
        adjust_row(adid="no-os", os_name=None),
        adjust_row(adid="upper-ios", os_name="iOS"),
    ]
    write_inputs(db, rows, [])
    result = run_day(db, settings=lenient(db))
    rejected = query(db, "SELECT adid, reason, stage FROM attribution.rejected_rows ORDER BY adid, reason")
    assert [(r["adid"], r["reason"]) for r in rejected] == [
        ("", "missing_adid"),
        ("   ", "missing_adid"),
        ("negative-created", "implausible_created_at"),
        ("no-os", "invalid_os_name"),
        ("null-created", "invalid_created_at"),
        ("windows", "invalid_os_name"),
        ("zero-created", "implausible_created_at"),
    ]
    assert {r["stage"] for r in rejected} == {"validation"}
    assert keys(db) == ["ok", "upper-ios"]
    assert result["record"]["invalid_rows"] == 7


def test_unparseable_created_at_text_is_rejected_not_dropped(db):
    rows = [adjust_row(adid="text", created_at="yesterday"), adjust_row(adid="ok", created_at=str(ts(DAY, 3)))]
    write_inputs(db, rows, [], created_at_type="VARCHAR")
    run_day(db, settings=lenient(db))
    assert [r["reason"] for r in query(db, "SELECT reason FROM attribution.rejected_rows")] == ["invalid_created_at"]
    assert keys(db) == ["ok"]


def test_rows_without_a_day_are_rejected_once_across_runs(db):
    """Before: dated with the day of the run that read them first, and stored again once that day
    had left the open days."""
    write_inputs(db, [adjust_row(adid="null-created", created_at=None)], [])
    for day in (DAY + dt.timedelta(days=1), DAY, DAY + dt.timedelta(days=30)):
        # each run planned the day after its day, whatever today's date (a day not begun is refused)
        run_day(db, day, settings=lenient(db), planned_at=ts(day + dt.timedelta(days=1)))
    rows = query(db, "SELECT adjust_day, first_seen_run_day FROM attribution.rejected_rows")
    assert rows == [{"adjust_day": UNDATED_DAY, "first_seen_run_day": DAY + dt.timedelta(days=1)}]


# -- rule 3: dedupe ----------------------------------------------------------------------------------

def test_duplicates_on_app_activity_adid_created_at_keep_one_row_and_are_counted(db):
    rows = [
        adjust_row(adid="dup"),
        adjust_row(adid="dup"),
        adjust_row(adid="dup", tracker_name="re-delivered with another tracker"),
        adjust_row(adid="dup", created_at=ts(DAY, 11)),
        adjust_row(adid="dup", activity_kind="reattribution"),
        adjust_row(adid="dup", app_token="other-app"),
    ]
    write_inputs(db, rows, [])
    result = run_day(db)
    assert len(ledger(db)) == 4
    assert result["record"]["duplicate_rows"] == 2


# -- rule 4 and 5: identifiers and matching ----------------------------------------------------------

@pytest.mark.parametrize(
    ("adjust_ids", "event", "pair"),
    [
        ({"idfv": IDFV.lower()}, {"device_id": f"  {IDFV}  "}, "idfv=device_id"),
        ({"idfa": IDFA}, {"idfa": IDFA.lower(), "device_id": "other"}, "idfa=idfa"),
        ({"idfa": IDFA}, {"device_id": IDFA}, "idfa=device_id"),
        ({"gps_adid": GPS, "os_name": "android"}, {"adid": GPS.upper(), "device_id": "x"}, "gps_adid=adid"),
        ({"gps_adid": GPS, "os_name": "android"}, {"device_id": GPS}, "gps_adid=device_id"),
        ({"external_device_id": "user-42", "idfv": IDFV}, {"device_id": "USER-42"}, "external_device_id=device_id"),
        ({"external_device_id": "user-42", "idfv": IDFV}, {"user_id": "user-42", "device_id": "zzz"}, "external_device_id=user_id"),
    ],
)
def test_each_identifier_pair_matches_case_insensitively(db, adjust_ids, event, pair):
    write_inputs(db, [adjust_row(adid="a", **adjust_ids)], [amplitude_event(ts(DAY, 12), **event)])
    run_day(db, dry_run=True)
    (row,) = ledger(db).values()
    assert (row["status"], row["match_pair"]) == ("matched", pair)
    assert row["amplitude_device_id"] == event.get("device_id")
    assert row["amplitude_user_id"] == event.get("user_id")
    assert row["matched_run_day"] == DAY


def test_pairs_outside_the_rules_do_not_match(db):
    # IDFV is never compared with Amplitude's idfa column, nor GPS ADID with user_id.
    write_inputs(
        db,
        [adjust_row(adid="a", idfv=IDFV), adjust_row(adid="b", gps_adid=GPS, os_name="android")],
        [amplitude_event(ts(DAY, 12), idfa=IDFV, device_id="d1"), amplitude_event(ts(DAY, 12), user_id=GPS, device_id="d2")],
    )
    run_day(db)
    assert keys(db, "pending") == ["a", "b"]


def test_missing_identifiers_are_empty_all_zero_or_blank(db):
    rows = [
        adjust_row(adid="att-limited", idfa=ZERO, idfv=""),
        adjust_row(adid="blank", idfa="  ", idfv=None, gps_adid="", external_device_id=" "),
        adjust_row(adid="android-zero", os_name="android", gps_adid=ZERO),
    ]
    # Amplitude rows with all-zero / empty ids must not match each other either.
    events = [amplitude_event(ts(DAY, 1), device_id=ZERO, idfa=ZERO, adid="", user_id="")]
    write_inputs(db, rows, events)
    run_day(db)
    assert {r["adid"]: r["has_identifier"] for r in ledger(db).values()} == {
        "att-limited": False, "blank": False, "android-zero": False,
    }
    assert keys(db, "pending") == ["android-zero", "att-limited", "blank"]


def test_window_boundary_and_earlier_events(db):
    created = ts(DAY - dt.timedelta(days=2), 6)  # inside the lookback
    rows = [
        adjust_row(adid="at-72h", idfv="V1", created_at=created),
        adjust_row(adid="after-72h", idfv="V2", created_at=created),
        adjust_row(adid="existing-user", idfv="V3", created_at=created, activity_kind="reattribution"),
    ]
    events = [
        amplitude_event(created + 72 * H, device_id="V1"),
        amplitude_event(created + 72 * H + 1, device_id="V2"),
        amplitude_event(created - 30 * 24 * H, device_id="V3"),
        amplitude_event(ts(DAY + dt.timedelta(days=4)), device_id="coverage"),
    ]
    write_inputs(db, rows, events)
    # Run three days later so every window has closed.
    run_day(db, DAY + dt.timedelta(days=1), settings=Settings(lookback_days=3, report_dir=str(db.parent / "r")))
    status = {r["adid"]: r["status"] for r in ledger(db).values()}
    assert status == {"at-72h": "matched", "after-72h": "unmatched", "existing-user": "matched"}


def test_best_pair_wins_then_earliest_event(db):
    write_inputs(
        db,
        [adjust_row(adid="a", idfv=IDFV, external_device_id="user-1")],
        [
            amplitude_event(ts(DAY, 11), user_id="user-1", device_id="web"),
            amplitude_event(ts(DAY, 13), device_id=IDFV, user_id="late"),
            amplitude_event(ts(DAY, 12), device_id=IDFV, user_id="early"),
        ],
    )
    run_day(db, dry_run=True)
    (row,) = ledger(db).values()
    assert (row["match_pair"], row["amplitude_user_id"]) == ("idfv=device_id", "early")


# -- rule 6: window and as_of ----------------------------------------------------------------------

def test_windows_close_only_when_amplitude_data_covers_them(db, tmp_path):
    created = ts(DAY, 1)
    rows = [adjust_row(adid="quiet", idfv="Q1", created_at=created), adjust_row(adid="no-id", created_at=created)]
    # Amplitude export ends 10 hours into DAY+3: the 72-hour window (ends DAY+3 01:00) is covered.
    events = [amplitude_event(ts(DAY + dt.timedelta(days=3), 10), device_id="someone-else")]
    write_inputs(db, rows, events)
    settings = Settings(lookback_days=3, report_dir=str(tmp_path / "r"))
    run_day(db, DAY, settings=settings)
    assert keys(db, "pending") == ["no-id", "quiet"]
    run_day(db, DAY + dt.timedelta(days=2), settings=settings)
    assert keys(db, "pending") == ["no-id", "quiet"]
    r3 = run_day(db, DAY + dt.timedelta(days=3), settings=settings)
    assert r3["as_of"] == ts(DAY + dt.timedelta(days=3), 10)
    rows = ledger(db)
    assert {r["adid"]: r["status"] for r in rows.values()} == {"quiet": "unmatched", "no-id": "no_identifier"}
    closed = query(db, "SELECT adid, reason, window_closed_at, closed_run_day, created_at FROM attribution.discrepancy_rows ORDER BY adid")
    assert [(c["adid"], c["reason"], c["closed_run_day"]) for c in closed] == [
        ("no-id", "no_identifier", DAY + dt.timedelta(days=3)),
        ("quiet", "no_amplitude_match", DAY + dt.timedelta(days=3)),
    ]
    assert all(c["created_at"] == created for c in closed)
    assert all(c["window_closed_at"] == dt.datetime.fromtimestamp(created + 72 * H, dt.timezone.utc) for c in closed)


def test_a_device_seen_only_after_its_window_is_reported_as_opened_after_window(db, tmp_path):
    created = ts(DAY, 1)
    rows = [adjust_row(adid="late", idfv="L1", created_at=created), adjust_row(adid="never", idfv="N1", created_at=created),
            adjust_row(adid="late-user", external_device_id="user-9", os_name="android", created_at=created)]
    events = [amplitude_event(created + 72 * H + 60, device_id="l1"),  # lower case, one minute late
              amplitude_event(created + 80 * H, user_id="USER-9"),
              amplitude_event(ts(DAY + dt.timedelta(days=3), 10), device_id="someone-else")]
    write_inputs(db, rows, events)
    run_day(db, DAY + dt.timedelta(days=3), settings=Settings(lookback_days=3, report_dir=str(tmp_path / "r")))
    closed = {c["adid"]: c for c in query(db, "SELECT adid, reason, amplitude_seen_at FROM attribution.discrepancy_rows")}
    assert {k: v["reason"] for k, v in closed.items()} == {
        "late": "opened_after_window", "late-user": "opened_after_window", "never": "no_amplitude_match"}
    assert closed["late"]["amplitude_seen_at"] == dt.datetime.fromtimestamp(created + 72 * H + 60, dt.timezone.utc)
    assert closed["late-user"]["amplitude_seen_at"] == dt.datetime.fromtimestamp(created + 80 * H, dt.timezone.utc)
    assert closed["never"]["amplitude_seen_at"] is None
    assert {r["adid"]: r["status"] for r in ledger(db).values()} == {"late": "unmatched", "never": "unmatched", "late-user": "unmatched"}


def test_matched_rows_belong_to_the_report_of_the_run_that_closes_their_window(db, tmp_path):
    created = ts(DAY, 1)
    rows = [adjust_row(adid="m", idfv="M1", created_at=created), adjust_row(adid="u", idfv="U1", created_at=created),
            adjust_row(adid="bad", os_name="windows", created_at=created)]
    events = [amplitude_event(created + 60, device_id="M1"), amplitude_event(ts(DAY + dt.timedelta(days=4)), device_id="x")]
    write_inputs(db, rows, events)
    settings = Settings(lookback_days=3, report_dir=str(tmp_path / "r"), max_invalid_ratio=1.0)
    for offset in range(4):
        run_day(db, DAY + dt.timedelta(days=offset), settings=settings, dry_run=True)
        summary = query(db, "SELECT report_day, sum(adjust_rows)::INT AS n, sum(matched)::INT AS m, sum(pending)::INT AS p, "
                            "sum(rejected)::INT AS r FROM attribution.discrepancy_summary GROUP BY report_day")
        if offset < 3:  # matched on DAY, but counted in no report until the window has closed
            assert summary == [{"report_day": None, "n": 3, "m": 1, "p": 1, "r": 1}]
    assert summary == [{"report_day": DAY + dt.timedelta(days=3), "n": 3, "m": 1, "p": 0, "r": 1}]
    assert {r["adid"]: r["closed_run_day"] for r in ledger(db).values()} == {"m": DAY + dt.timedelta(days=3), "u": DAY + dt.timedelta(days=3)}
    # re-running an earlier day afterwards changes no report
    run_day(db, DAY + dt.timedelta(days=1), settings=settings, dry_run=True)
    assert query(db, "SELECT count(*)::INT AS n FROM attribution.discrepancy_summary WHERE report_day IS NULL") == [{"n": 0}]


def test_amplitude_data_ending_early_keeps_windows_open(db, tmp_path):
    created = ts(DAY, 1)
    write_inputs(db, [adjust_row(adid="quiet", idfv="Q1", created_at=created)],
                 [amplitude_event(ts(DAY + dt.timedelta(days=2), 23), device_id="x")])
    result = run_day(db, DAY + dt.timedelta(days=5), settings=Settings(lookback_days=5, report_dir=str(tmp_path / "r")))
    assert result["as_of"] == ts(DAY + dt.timedelta(days=2), 23)
    assert keys(db, "pending") == ["quiet"]


# -- rule 7: push payloads (dry run); HTTP behaviour is in test_push_http.py ------------------------

def test_dry_run_writes_the_exact_events_and_changes_no_status(db, tmp_path):
    rows = [
        adjust_row(adid="ios", idfv=IDFV, idfa=ZERO, campaign_name="Black Friday <b>", adgroup_name="ag", creative_name="cr",
                   country="de", tracker_name="abc"),
        adjust_row(adid="android", os_name="android", gps_adid=GPS, android_id="f00d", activity_kind="reattribution",
                   created_at=ts(DAY, 11)),
    ]
    write_inputs(db, rows, [amplitude_event(ts(DAY, 12), device_id=IDFV), amplitude_event(ts(DAY, 12), device_id=GPS)])
    result = run_day(db, dry_run=True, report_dir=tmp_path / "reports")
    outbox = [json.loads(line) for line in open(result["push"]["outbox_paths"][0], encoding="utf-8")]
    assert sorted(outbox, key=lambda e: e["time"]) == [
        {
            "event_type": "[Adjust] Install", "platform": "ios", "idfv": IDFV, "time": ts(DAY, 10) * 1000,
            "user_properties": {"[Adjust] network": "Net A", "[Adjust] campaign": "Black Friday <b>",
                                "[Adjust] adgroup": "ag", "[Adjust] creative": "cr", "[Adjust] country": "de",
                                "[Adjust] tracker": "abc"},
        },
        {
            "event_type": "[Adjust] Reattribution", "platform": "android", "adid": GPS, "android_id": "f00d",
            "time": ts(DAY, 11) * 1000,
            "user_properties": {"[Adjust] network": "Net A", "[Adjust] campaign": "Camp 1"},
        },
    ]
    assert keys(db, "matched") == ["android", "ios"]
    assert result["record"]["sent_by_run"] == 0
    assert "api_key" not in open(result["push"]["outbox_paths"][0]).read()


def test_event_type_prefix_is_configurable(db, tmp_path):
    write_inputs(db, [adjust_row(idfv=IDFV)], [amplitude_event(ts(DAY, 12), device_id=IDFV)])
    result = run_day(db, dry_run=True, settings=Settings(event_type_prefix="[MMP]", report_dir=str(tmp_path)))
    (event,) = [json.loads(x) for x in open(result["push"]["outbox_paths"][0])]
    assert event["event_type"] == "[MMP] Install"


# -- inputs --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("missing", ADJUST_REQUIRED_COLUMNS)
def test_a_missing_required_column_fails_before_anything_is_written(db, missing):
    from adjust_amplitude import pipeline
    from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse

    columns = tuple(c for c in ("activity_kind", "created_at", "adid", "os_name", "idfv") if c != missing)
    write_inputs(db, [adjust_row()], [], adjust_columns=columns)
    plan = Plan(DAY, "r", Settings(), dry_run=True)
    with pytest.raises(InputError, match=rf"lacks required column\(s\) {missing}"):
        pipeline.check_inputs(Run(plan, warehouse=DuckDBWarehouse(db)))
    assert query(db, "SELECT schema_name FROM information_schema.schemata WHERE schema_name = 'attribution'") == []


def test_optional_columns_may_be_absent(db):
    write_inputs(db, [adjust_row(adid="min")], [], adjust_columns=ADJUST_REQUIRED_COLUMNS)
    run_day(db)
    (row,) = ledger(db).values()
    assert (row["adid"], row["app_token"], row["has_identifier"]) == ("min", None, False)


# -- rule 8: idempotence -------------------------------------------------------------------------------

def test_rerunning_a_day_or_an_earlier_day_changes_nothing(db, tmp_path):
    settings = Settings(report_dir=str(tmp_path / "r"), max_invalid_ratio=1.0)
    rows = [
        adjust_row(adid=f"d{i}", idfv=f"V{i}", created_at=ts(DAY + dt.timedelta(days=i % 3), i)) for i in range(12)
    ] + [adjust_row(adid="bad", os_name="symbian")]
    events = [amplitude_event(ts(DAY, 20) + i * H, device_id=f"V{i}") for i in range(0, 12, 2)]
    events.append(amplitude_event(ts(DAY + dt.timedelta(days=6)), device_id="coverage"))
    write_inputs(db, rows, events)
    days = [DAY + dt.timedelta(days=i) for i in range(6)]
    for day in days:
        run_day(db, day, settings=settings, dry_run=True)
    before = snapshot(db)
    csv_before = (tmp_path / "r" / f"discrepancy_{days[-1]}.csv").read_bytes()
    run_day(db, days[-1], settings=settings, dry_run=True)
    for day in days[:3]:
        run_day(db, day, settings=settings, dry_run=True)
    after = snapshot(db)
    # sync_runs keeps one record per day; only its latest-run fields (run_id, outbox_events,
    # finished_at) may differ, and snapshot() leaves them out
    assert after == before
    assert (tmp_path / "r" / f"discrepancy_{days[-1]}.csv").read_bytes() == csv_before
    assert len(before["sync_ledger"]) == 12


def test_output_tables_of_another_version_are_refused_with_a_clear_error(db):
    from adjust_amplitude.warehouse import WarehouseError

    write_inputs(db, [adjust_row()], [])
    run_day(db)
    import duckdb

    with duckdb.connect(str(db)) as con:
        con.execute("ALTER TABLE attribution.sync_runs ADD COLUMN awaiting_send BIGINT NOT NULL DEFAULT 0")
    with pytest.raises(WarehouseError, match=r"sync_runs does not have the columns .*unexpected: \['awaiting_send'\]"):
        run_day(db)


def test_late_rows_are_picked_up_by_the_lookback_and_redeliveries_change_nothing(db):
    import duckdb

    write_inputs(db, [adjust_row(adid="on-time", idfv="V1")], [amplitude_event(ts(DAY, 12), device_id="V1")])
    run_day(db, dry_run=True)
    with duckdb.connect(str(db)) as con:
        # after D ran: a late row created on D, and a re-delivery of the row already matched
        con.execute("INSERT INTO adjust.raw_events (app_token, environment, activity_kind, created_at, adid, os_name, idfv) "
                    "VALUES ('app1', 'production', 'install', ?, 'late', 'ios', 'V9'), "
                    "('app1', 'production', 'install', ?, 'on-time', 'ios', 'V1')", [ts(DAY, 20), ts(DAY, 10)])
    matched_before = ledger(db)
    run_day(db, DAY + dt.timedelta(days=1), dry_run=True)
    rows = ledger(db)
    assert sorted(r["adid"] for r in rows.values()) == ["late", "on-time"]
    assert rows["app1|install|late|" + str(ts(DAY, 20))]["first_seen_run_day"] == DAY + dt.timedelta(days=1)
    key = "app1|install|on-time|" + str(ts(DAY, 10))
    assert rows[key] == matched_before[key]

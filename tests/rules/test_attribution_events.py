"""Tests of the Attribution API event a matched ledger row becomes (the attribution_events macro,
as select_rows_to_send runs it for the real push and select_outbox_events for the dry run): on
DuckDB, each result checked against ZetaSQL's reference engine (checked_warehouse)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from adjust_amplitude.config import Settings, SettingsError
from adjust_amplitude.push import event_params
from adjust_amplitude.tables import run_tables
from project_files import REPO

DAY = dt.date(2026, 11, 20)
TABLES = run_tables(Settings(), DAY)
# The ledger columns the event does not read, as a matched row claimed by "c" holds them.
LEDGER_ROW = {"adjust_day": DAY, "adid": "adid-1", "has_identifier": True, "status": "matched",
              "first_seen_run_day": DAY, "claimed_by": "c"}
_WAREHOUSE = None


@pytest.fixture(scope="module", autouse=True)
def ledger_db(tmp_path_factory, rule_warehouse):
    global _WAREHOUSE
    _WAREHOUSE = rule_warehouse(tmp_path_factory.mktemp("events") / "events.duckdb")
    with _WAREHOUSE.session() as wh:
        wh.connection.execute("CREATE SCHEMA attribution")
        wh.run("create_sync_ledger", t=TABLES.quoted())


def build_event(ledger_row, prefix, settings=Settings()):
    """The event select_rows_to_send reads for one ledger row (a dict, as json.loads gives it), or
    None when it has none."""
    with _WAREHOUSE.session() as wh:
        wh.connection.execute(f"DELETE FROM {TABLES.quoted().ledger}")
        wh.append_rows(TABLES.ledger, [{**LEDGER_ROW, **ledger_row}], [ledger_row["row_key"]])
        params = {"claimed_by": "c", "after_key": "", "page_size": 10, "open_from_day": DAY,
                  **event_params(dataclasses.replace(settings, event_type_prefix=prefix))}
        (found,) = wh.fetch("select_rows_to_send", params, t=TABLES.quoted())
    return None if found["event"] is None else json.loads(found["event"])


PREFIX = "[Adjust]"
ZERO_ID = "00000000-0000-0000-0000-000000000000"
IDFA = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
IDFV = "7B2C1E44-0F0A-4F11-9A8E-3C1D2E3F4A5B"
GPS_ADID = "38400000-8cf0-11bd-b23e-10b96e40000d"
ANDROID_ID = "9774d56d682e549c"
CREATED_AT = 1_700_000_123


def row(**overrides):
    base = {
        "row_key": "k-1",
        "activity_kind": "install",
        "platform": "ios",
        "created_at": CREATED_AT,
        "idfa": None,
        "idfv": None,
        "gps_adid": None,
        "android_id": None,
        "network_name": None,
        "campaign_name": None,
        "adgroup_name": None,
        "creative_name": None,
        "country": None,
        "tracker_name": None,
        "match_pair": None,
        "amplitude_device_id": None,
    }
    base.update(overrides)
    return base


# ------------------------------------------------------------------------- iOS


def test_ios_with_idfa_and_idfv_full_event():
    event = build_event(
        row(
            idfa=IDFA,
            idfv=IDFV,
            gps_adid=GPS_ADID,  # Android ids on an iOS row are not sent
            android_id=ANDROID_ID,
            network_name="Facebook Installs",
            campaign_name="Spring",
            adgroup_name="Lookalike 1%",
            creative_name="Video A",
            country="de",
            tracker_name="Facebook Installs::Spring::Lookalike 1%::Video A",
        ),
        PREFIX,
    )
    assert event == {
        "event_type": "[Adjust] Install",
        "platform": "ios",
        "time": CREATED_AT * 1000,
        "idfa": IDFA,
        "idfv": IDFV,
        "user_properties": {
            "[Adjust] network": "Facebook Installs",
            "[Adjust] campaign": "Spring",
            "[Adjust] adgroup": "Lookalike 1%",
            "[Adjust] creative": "Video A",
            "[Adjust] country": "de",
            "[Adjust] tracker": "Facebook Installs::Spring::Lookalike 1%::Video A",
        },
    }
    json.dumps(event)  # serialisable as sent


def test_ios_att_limited_sends_only_idfv():
    event = build_event(row(idfa=ZERO_ID, idfv=IDFV), PREFIX)
    assert event is not None
    assert "idfa" not in event
    assert event["idfv"] == IDFV


def test_ios_idfa_only():
    event = build_event(row(idfa=IDFA, idfv=""), PREFIX)
    assert event["idfa"] == IDFA
    assert "idfv" not in event


@pytest.mark.parametrize(
    ("idfa", "idfv"),
    [(None, None), ("", ""), (ZERO_ID, ZERO_ID), (ZERO_ID, None), ("  ", "00000000000000000000000000000000")],
)
def test_ios_without_idfa_or_idfv_is_not_sendable(idfa, idfv):
    # Even with an Android id present, iOS attributes only by IDFA/IDFV.
    assert build_event(row(idfa=idfa, idfv=idfv, gps_adid=GPS_ADID), PREFIX) is None


def test_identifiers_are_trimmed():
    event = build_event(row(idfv=f"  {IDFV}\n"), PREFIX)
    assert event["idfv"] == IDFV


@pytest.mark.parametrize("value", [None, "", "   ", ZERO_ID, "0", "00000000000000000000000000000000"])
def test_missing_identifiers(value):
    assert "idfv" not in build_event(row(idfa=IDFA, idfv=value), PREFIX)


# --------------------------------------------------------------------- Android


def test_android_with_gps_adid_and_android_id():
    event = build_event(
        row(platform="android", gps_adid=GPS_ADID, android_id=ANDROID_ID, idfa=IDFA, idfv=IDFV), PREFIX
    )
    assert event == {
        "event_type": "[Adjust] Install",
        "platform": "android",
        "time": CREATED_AT * 1000,
        "adid": GPS_ADID,
        "android_id": ANDROID_ID,
    }
    assert "gps_adid" not in event  # the API's field name is adid


def test_android_with_gps_adid_only():
    event = build_event(row(platform="android", gps_adid=GPS_ADID, android_id=ZERO_ID), PREFIX)
    assert event["adid"] == GPS_ADID
    assert "android_id" not in event


@pytest.mark.parametrize("gps_adid", [None, "", ZERO_ID])
def test_android_without_gps_adid_is_not_sendable(gps_adid):
    # An android_id alone is not enough.
    assert build_event(row(platform="android", gps_adid=gps_adid, android_id=ANDROID_ID), PREFIX) is None


# ------------------------------------------------------------- event type / time


@pytest.mark.parametrize(
    ("activity_kind", "prefix", "expected"),
    [
        ("install", "[Adjust]", "[Adjust] Install"),
        ("reattribution", "[Adjust]", "[Adjust] Reattribution"),
        ("REATTRIBUTION", "[Adjust]", "[Adjust] Reattribution"),
        (" install ", "[Adjust]", "[Adjust] Install"),
        ("install", "Adjust:", "Adjust: Install"),
        ("reattribution", "[MMP]", "[MMP] Reattribution"),
    ],
)
def test_event_type_uses_prefix_and_activity_kind(activity_kind, prefix, expected):
    event = build_event(row(activity_kind=activity_kind, idfv=IDFV, network_name="Organic"), prefix)
    assert event["event_type"] == expected
    # The prefix is for the event type; user property names stay "[Adjust] ...".
    assert event["user_properties"] == {"[Adjust] network": "Organic"}


@pytest.mark.parametrize("created_at", [0, 1, CREATED_AT, 2_000_000_000])
def test_time_is_milliseconds(created_at):
    event = build_event(row(created_at=created_at, idfv=IDFV), PREFIX)
    assert event["time"] == created_at * 1000
    assert isinstance(event["time"], int)


# ----------------------------------------------------------------- user properties


def test_user_properties_omitted_when_all_none():
    event = build_event(row(idfv=IDFV), PREFIX)
    assert "user_properties" not in event


def test_user_properties_omit_none_values_only():
    event = build_event(row(idfv=IDFV, network_name="Google Ads ACI", country="", tracker_name=None), PREFIX)
    # Empty string is a value, not a missing one.
    assert event["user_properties"] == {"[Adjust] network": "Google Ads ACI", "[Adjust] country": ""}


def test_user_property_values_kept_exactly():
    campaign = "  Été 2024 – 夏 🚀 <script>alert('x')</script> & \"quotes\" =SUM(A1) "
    event = build_event(row(idfv=IDFV, campaign_name=campaign, adgroup_name="AdGroup (1)"), PREFIX)
    assert event["user_properties"]["[Adjust] campaign"] == campaign
    assert event["user_properties"]["[Adjust] adgroup"] == "AdGroup (1)"
    # and survives the JSON encoding the hook uses
    encoded = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    assert json.loads(encoded)["user_properties"]["[Adjust] campaign"] == campaign


def _properties(mapping: dict) -> Settings:
    return Settings.from_mapping({"user_properties": mapping})


def test_the_user_properties_setting_chooses_the_columns_and_their_names():
    settings = _properties({"network_name": "Network", "adid": "[Adjust] adid", "att_status": "ATT status",
                            "installed_at": "Installed"})
    event = build_event(row(idfv=IDFV, adid="a-1", network_name="Net", campaign_name="Camp", att_status="3",
                            installed_at="1700000000"), PREFIX, settings)
    # in the columns' order (config.USER_PROPERTY_COLUMNS); campaign_name is no longer sent
    assert list(event["user_properties"].items()) == [("[Adjust] adid", "a-1"), ("Network", "Net"),
                                                      ("Installed", "1700000000"), ("ATT status", "3")]


def test_no_user_properties_when_the_setting_is_empty():
    event = build_event(row(idfv=IDFV, network_name="Net", country="de"), PREFIX, _properties({}))
    assert "user_properties" not in event and event["idfv"] == IDFV


def test_a_property_name_is_sent_exactly_whatever_its_characters():
    name = 'He said "hi" \\ 夏 🚀 \' ;--'
    event = build_event(row(idfv=IDFV, country="de"), PREFIX, _properties({"country": name}))
    assert event["user_properties"] == {name: "de"}


def test_the_default_user_properties_are_the_six_the_docs_list():
    assert dict(Settings().user_properties) == {
        "tracker_name": "[Adjust] tracker", "network_name": "[Adjust] network", "campaign_name": "[Adjust] campaign",
        "adgroup_name": "[Adjust] adgroup", "creative_name": "[Adjust] creative", "country": "[Adjust] country"}
    rules = (REPO / "docs" / "rules.md").read_text()
    for column, name in Settings().user_properties:
        assert f"| `{column}` | `{name}` |" in rules


@pytest.mark.parametrize("mapping, message", [
    (["network_name"], "should be an object"),
    ({"created_at": "Time"}, "which the sync does not read"),
    ({"fb_campaign": "Campaign"}, "which the sync does not read"),
    ({"network_name": " "}, "should be the property's name"),
    ({"network_name": 3}, "should be the property's name"),
    ({"network_name": "$set"}, "starting with $"),
    ({"network_name": "Source", "tracker_name": "Source "}, "two columns the name 'Source'"),
])
def test_a_bad_user_properties_setting_is_refused_naming_it(mapping, message):
    with pytest.raises(SettingsError, match="user_properties") as refused:
        _properties(mapping)
    assert message in str(refused.value)


def test_the_user_properties_setting_survives_the_plan():
    settings = _properties({"country": "Land", "network_name": "Net"})
    again = Settings.from_mapping(json.loads(settings.to_json()))
    assert again == settings and again.user_properties == (("network_name", "Net"), ("country", "Land"))


# -------------------------------------------------------- Amplitude's spelling


def test_idfv_matched_on_device_id_uses_amplitude_spelling():
    event = build_event(
        row(idfv=IDFV.lower(), match_pair="idfv=device_id", amplitude_device_id=IDFV.upper()), PREFIX
    )
    assert event["idfv"] == IDFV.upper()


def test_amplitude_spelling_is_trimmed():
    event = build_event(row(idfv=IDFV, match_pair="idfv=device_id", amplitude_device_id=f" {IDFV.lower()} "), PREFIX)
    assert event["idfv"] == IDFV.lower()


def test_idfa_matched_on_device_id_uses_amplitude_spelling():
    event = build_event(
        row(idfa=IDFA, idfv=IDFV, match_pair="idfa=device_id", amplitude_device_id=IDFA.lower()), PREFIX
    )
    assert event["idfa"] == IDFA.lower()
    assert event["idfv"] == IDFV  # only the matched field changes


def test_gps_adid_matched_on_device_id_uses_amplitude_spelling():
    event = build_event(
        row(platform="android", gps_adid=GPS_ADID, match_pair="gps_adid=device_id", amplitude_device_id=GPS_ADID.upper()),
        PREFIX,
    )
    assert event["adid"] == GPS_ADID.upper()


def test_different_device_id_does_not_replace_the_identifier():
    event = build_event(row(idfv=IDFV, match_pair="idfv=device_id", amplitude_device_id=IDFA), PREFIX)
    assert event["idfv"] == IDFV


@pytest.mark.parametrize("match_pair", [None, "", "idfv=idfv", "idfa=idfa", "adid=adid"])
def test_other_match_pairs_keep_adjust_spelling(match_pair):
    event = build_event(row(idfv=IDFV.lower(), match_pair=match_pair, amplitude_device_id=IDFV.upper()), PREFIX)
    assert event["idfv"] == IDFV.lower()


def test_device_id_match_on_missing_identifier_does_not_add_it():
    # ATT-limited: the zero IDFA is not sent even though the pair names idfa.
    event = build_event(
        row(idfa=ZERO_ID, idfv=IDFV, match_pair="idfa=device_id", amplitude_device_id=ZERO_ID), PREFIX
    )
    assert "idfa" not in event
    assert event["idfv"] == IDFV

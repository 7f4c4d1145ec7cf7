"""Seeded generator of a realistic sample warehouse (Adjust export + Amplitude events) in DuckDB.

Used by `make demo`, the tests and the benchmark. Besides the two input tables it returns (and
can write) the ground truth of each attribution row: whether some Amplitude event can be matched
to it and when the earliest such event happened. Tests compare the pipeline's statuses with it,
so the truth is computed here from how the data was generated, not by the pipeline's SQL.

    python -m demo.sample_warehouse --path .local/warehouse.duckdb \
        --first-day 2026-11-16 --days 7 --scale 400 --replace
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import datetime as dt
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

UTC = dt.timezone.utc
ZERO_UUID = "00000000-0000-0000-0000-000000000000"
DAY = 86_400
HOUR = 3_600
NETWORKS = {
    "Facebook Installs": ["fb_us_broad", "fb_lookalike_eu", "fb_retarget_q4"],
    "Google Ads ACI": ["uac_install_us", "uac_install_row"],
    "TikTok for Business": ["tt_creators_nov", "tt_spark_ads"],
    "Apple Search Ads": ["asa_brand", "asa_generic"],
    "Unity Ads": ["unity_rewarded"],
    "Organic": [None],
}


@dataclasses.dataclass(frozen=True)
class Proportions:
    ios_share: float = 0.55
    ios_att_granted: float = 0.25  # the rest of iOS rows carry the all-zero IDFA
    ios_missing_idfv: float = 0.04
    android_missing_gps_adid: float = 0.10
    external_id_share: float = 0.15
    reattribution_share: float = 0.10
    opens_within_window: float = 0.70
    opens_after_window: float = 0.08  # the rest never open the app
    duplicate_share: float = 0.03
    sandbox_share: float = 0.02
    session_rows_per_attribution: float = 1.0
    malformed_share: float = 0.006
    amplitude_duplicate_share: float = 0.02  # events Amplitude's export wrote twice (same uuid)
    android_app_set_id: float = 0.97  # Android rows whose Adjust row carries google_app_set_id
    # Android devices whose Amplitude device_id is their App Set ID + "S" (useAppSetIdForDeviceId);
    # of the others, some use the advertising id, the rest a random id + "R".
    android_app_set_id_device: float = 1 / 3
    android_adid_device: float = 0.6  # of the other Android devices with an advertising id, those keyed by it
    ios_random_device: float = 0.0  # iOS devices whose device_id is a random id + "R" rather than the IDFV
    amplitude_idfa_kept: float = 0.3  # of ATT-authorized iOS devices, those whose events keep the IDFA
    amplitude_adid_kept: float = 0.15  # of Android devices with an advertising id, those whose events keep it


def _uuids(rng: np.random.Generator, n: int, upper: bool) -> np.ndarray:
    raw = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64).astype(np.uint64)
    out = [str(uuid.UUID(int=(int(a) << 64) | int(b))) for a, b in raw]
    arr = np.array(out, dtype=object)
    return np.char.upper(arr.astype(str)).astype(object) if upper else arr


def generate_frames(first_day: dt.date, days: int, scale: int, seed: int = 7, extra_events: int = 0,
                    p: Proportions = Proportions()):
    """Return (adjust_df, amplitude_df, truth_df). `scale` = valid attribution rows per day."""
    rng = np.random.default_rng(seed)
    n = scale * days
    start = int(dt.datetime.combine(first_day, dt.time(), tzinfo=UTC).timestamp())
    day_index = np.repeat(np.arange(days), scale)
    created = start + day_index * DAY + rng.integers(0, DAY, n)
    ios = rng.random(n) < p.ios_share
    kind = np.where(rng.random(n) < p.reattribution_share, "reattribution", "install").astype(object)

    idfv = _uuids(rng, n, upper=True)
    idfv[~ios | (rng.random(n) < p.ios_missing_idfv)] = ""
    att = ios & (rng.random(n) < p.ios_att_granted)
    idfa = np.where(att, _uuids(rng, n, upper=True), ZERO_UUID).astype(object)
    idfa[~ios] = ""
    gps = _uuids(rng, n, upper=False)
    gps[ios | (rng.random(n) < p.android_missing_gps_adid)] = ""
    android_id = np.array([f"{v:016x}" for v in rng.integers(0, 2**62, n)], dtype=object)
    android_id[ios | (rng.random(n) < 0.5)] = ""
    has_external = rng.random(n) < p.external_id_share
    external = np.array([f"user-{seed}-{i}" for i in range(n)], dtype=object)
    external[~has_external] = ""
    adid = np.array([f"{v:032x}" for v in rng.integers(0, 2**62, n)], dtype=object)

    network_names = list(NETWORKS)
    net_idx = rng.integers(0, len(network_names), n)
    network = np.array([network_names[i] for i in net_idx], dtype=object)
    campaign = np.array([NETWORKS[network_names[i]][j % len(NETWORKS[network_names[i]])]
                         for i, j in zip(net_idx, rng.integers(0, 6, n))], dtype=object)
    country = rng.choice(np.array(["us", "de", "gb", "fr", "br", "jp"], dtype=object), n)

    # How each device shows up in Amplitude.
    behaviour = rng.random(n)
    opens = behaviour < p.opens_within_window
    late = (behaviour >= p.opens_within_window) & (behaviour < p.opens_within_window + p.opens_after_window)
    existing = (kind == "reattribution") & (opens | late)
    first_event = np.where(
        existing, created - rng.integers(HOUR, 10 * DAY, n),
        np.where(opens, created + rng.integers(0, 60 * HOUR, n), created + rng.integers(73 * HOUR, 140 * HOUR, n)),
    )
    in_amplitude = opens | late
    random_device = np.array([f"{u}R" for u in _uuids(rng, n, upper=False)], dtype=object)
    lower_case_idfv = rng.random(n) < 0.2
    amp_device = np.where(ios & (idfv != ""), np.where(lower_case_idfv, np.char.lower(idfv.astype(str)), idfv), random_device)
    android_adid_device = ~ios & (gps != "") & (rng.random(n) < p.android_adid_device)
    amp_device = np.where(android_adid_device, gps, amp_device).astype(object)
    # App Set IDs from a stream of their own, so the draws above stay as they were.
    app_set = np.random.default_rng(seed + 303)
    app_set_id = _uuids(app_set, n, upper=False)
    app_set_id[ios | (app_set.random(n) >= p.android_app_set_id)] = ""
    app_set_device = (app_set_id != "") & (app_set.random(n) < p.android_app_set_id_device / p.android_app_set_id)
    amp_device = np.where(app_set_device, np.char.add(app_set_id.astype(str), "S"), amp_device).astype(object)
    # iOS devices keyed by a random id, from a stream of their own too.
    ios_random = ios & (np.random.default_rng(seed + 404).random(n) < p.ios_random_device)
    amp_device = np.where(ios_random, random_device, amp_device).astype(object)
    amp_idfa = np.where(att & (rng.random(n) < p.amplitude_idfa_kept), idfa, None).astype(object)
    amp_adid = np.where(~ios & (gps != "") & (rng.random(n) < p.amplitude_adid_kept),
                        np.char.upper(gps.astype(str)), None).astype(object)
    amp_user = np.where(has_external, external,
                        np.where(rng.random(n) < 0.4, np.array([f"u{i}" for i in range(n)], dtype=object), None)).astype(object)

    # Ground truth, pair by pair, from the generator's own view of identity.
    def norm(a):
        s = np.char.upper(np.char.strip(np.where(pd.isna(a), "", a).astype(str)))
        return np.where((s == "") | (s == ZERO_UUID), "", s)

    a_idfv, a_idfa, a_gps, a_ext, a_set = norm(idfv), norm(idfa), norm(gps), norm(external), norm(app_set_id)
    m_dev, m_idfa, m_adid, m_user = norm(amp_device), norm(amp_idfa), norm(amp_adid), norm(amp_user)
    has_identifier = (a_idfv != "") | (a_idfa != "") | (a_gps != "") | (a_ext != "") | (a_set != "")
    pair_hits = [
        (a_idfv != "") & (a_idfv == m_dev),
        (a_idfa != "") & ((a_idfa == m_idfa) | (a_idfa == m_dev)),
        (a_gps != "") & ((a_gps == m_adid) | (a_gps == m_dev)),
        (a_set != "") & ((a_set == m_dev) | (np.char.add(a_set.astype(str), "S") == m_dev)),
        (a_ext != "") & ((a_ext == m_dev) | (a_ext == m_user)),
    ]
    matchable = in_amplitude & np.logical_or.reduce(pair_hits)
    sendable = np.where(ios, (a_idfa != "") | (a_idfv != ""), (a_gps != "") | (a_set != ""))

    # Ad groups and creatives from a stream of their own, so the rows above stay as they were.
    names = np.random.default_rng(seed + 101)
    adgroup = np.array([f"{c}_{a}" for c, a in zip(campaign, names.choice(["broad", "lal_1pct", "interest"], n))], dtype=object)
    creative = names.choice(np.array(["video_15s", "video_30s", "playable", "static_1080"], dtype=object), n)

    platform = np.where(ios, "ios", "android").astype(object)
    os_name = np.where(rng.random(n) < 0.1, np.char.upper(platform.astype(str)), platform).astype(object)
    app_token = "abc123def456"
    # The placeholders the sync does not read, from a stream of their own too.
    extras = np.random.default_rng(seed + 202)
    organic = network == "Organic"
    adjust = pd.DataFrame({
        "app_token": app_token, "app_name": "Sample App", "app_version": "4.2.0", "environment": "production",
        "activity_kind": kind, "created_at": created.astype("int64"), "installed_at": created.astype("int64"),
        "reattributed_at": np.where(kind == "reattribution", created, 0).astype("int64"),
        "click_time": np.where(organic, 0, created - extras.integers(30, 3 * HOUR, n)).astype("int64"),
        "adid": adid, "os_name": os_name, "idfa": idfa, "idfv": idfv, "gps_adid": gps,
        "android_id": android_id, "google_app_set_id": app_set_id, "oaid": "", "fire_adid": "", "external_device_id": external,
        "tracker": [hashlib.md5(f"{a}::{b}".encode()).hexdigest()[:6] for a, b in zip(network, campaign)],
        "tracker_name": [f"{a}::{b}" for a, b in zip(network, campaign)],
        "network_name": network, "campaign_name": campaign,
        "adgroup_name": np.where(organic, None, adgroup).astype(object),
        "creative_name": np.where(organic, None, creative).astype(object),
        "is_organic": np.where(organic, "1", "0").astype(object),
        "country": country,
        "os_version": np.where(ios, "18.1", "15").astype(object),
        "device_type": np.where(ios, "phone", extras.choice(np.array(["phone", "tablet"], dtype=object), n)).astype(object),
        # Adjust: tracking_limited 1 when the advertising id may not be used; att_status 3 authorized, 2 denied.
        "tracking_limited": np.where(ios & ~att, "1", "0").astype(object),
        "att_status": np.where(ios, np.where(att, "3", "2"), "").astype(object),
        "random": rng.integers(0, 10**9, n).astype("int64"),
        "nonce": [f"{v:08x}" for v in extras.integers(0, 2**32, n)],
    })
    truth = pd.DataFrame({
        "row_key": [f"{app_token}|{k}|{a}|{c}" for k, a, c in zip(kind, adid, created)],
        "created_at": created.astype("int64"), "platform": platform, "has_identifier": has_identifier,
        "matchable": matchable, "sendable": sendable,
        "first_event_time": np.where(matchable, first_event, 0).astype("int64"),
    })

    noise = [adjust]
    dup = adjust.sample(frac=p.duplicate_share, random_state=seed)
    noise.append(dup.assign(random=dup["random"] + 1))  # re-delivered copies differ only in ignored columns
    noise.append(dup.iloc[: len(dup) // 2])  # exact duplicates
    sandbox = adjust.sample(frac=p.sandbox_share, random_state=seed + 1).assign(environment="sandbox")
    sandbox = sandbox.assign(adid=[f"sbx{i:029x}" for i in range(len(sandbox))])
    sessions = adjust.sample(frac=p.session_rows_per_attribution, random_state=seed + 2, replace=True)
    sessions = sessions.assign(activity_kind=rng.choice(np.array(["session", "event", "click"], dtype=object), len(sessions)),
                               created_at=sessions["created_at"] + 600)
    noise += [sandbox, sessions]
    bad_n = max(3, int(n * p.malformed_share))
    bad = adjust.sample(n=bad_n, random_state=seed + 3).assign(adid=[f"bad{i:029x}" for i in range(bad_n)])
    third = bad_n // 3
    bad["created_at"] = bad["created_at"].astype("Int64")
    bad.iloc[:third, bad.columns.get_loc("created_at")] = pd.NA
    bad.iloc[third: 2 * third, bad.columns.get_loc("adid")] = ""
    bad.iloc[2 * third:, bad.columns.get_loc("os_name")] = "windows"
    noise.append(bad)
    invalid = pd.DataFrame({"adid": bad["adid"], "reason": ["invalid_created_at"] * third
                            + ["missing_adid"] * third + ["invalid_os_name"] * (bad_n - 2 * third)})
    adjust_all = pd.concat(noise, ignore_index=True)
    adjust_all["created_at"] = adjust_all["created_at"].astype("Int64")
    adjust_all = adjust_all.sample(frac=1.0, random_state=seed + 4).reset_index(drop=True)

    # Amplitude events: several per device that ever opened the app, plus unrelated users.
    per_device = np.where(in_amplitude, rng.integers(1, 9, n), 0)
    owner = np.repeat(np.arange(n), per_device)
    offsets = rng.integers(0, 7 * DAY, owner.size)
    first_of_owner = np.r_[0, np.cumsum(per_device)[:-1]][in_amplitude]
    offsets[first_of_owner] = 0  # each device's first event is exactly first_event
    event_time = first_event[owner] + offsets
    events = pd.DataFrame({
        "amplitude_id": np.arange(owner.size, dtype=np.int64) + 10**9,
        "user_id": amp_user[owner], "device_id": amp_device[owner],
        "event_time": pd.to_datetime(event_time, unit="s", utc=True),
        "platform": np.where(ios[owner], "iOS", "Android").astype(object),
        "idfa": amp_idfa[owner], "adid": amp_adid[owner],
        "event_type": rng.choice(np.array(["session_start", "screen_view", "purchase"], dtype=object), owner.size),
    })
    if extra_events:
        others = _uuids(rng, max(1, extra_events // 8), upper=True)
        pick = rng.integers(0, others.size, extra_events)
        events = pd.concat([events, pd.DataFrame({
            "amplitude_id": np.arange(extra_events, dtype=np.int64) + 5 * 10**9,
            "user_id": None, "device_id": others[pick],
            "event_time": pd.to_datetime(start + rng.integers(-30 * DAY, (days + 3) * DAY, extra_events), unit="s", utc=True),
            "platform": "iOS", "idfa": None, "adid": None, "event_type": "session_start",
        })], ignore_index=True)
    # Amplitude's backfills export some events again, a day or more later: same event, same uuid.
    copies = events.sample(frac=p.amplitude_duplicate_share, random_state=seed + 5)
    events = pd.concat([events.assign(upload_delay_seconds=60), copies.assign(upload_delay_seconds=DAY + 60)],
                       ignore_index=True).assign(uuid=None)
    return adjust_all, events, truth, invalid


def write_warehouse(path: str | Path, first_day: dt.date, days: int, scale: int, seed: int = 7,
                    extra_events: int = 0, replace: bool = False, adjust_table: str = "adjust.raw_events",
                    amplitude_table: str = "amplitude.events", proportions: Proportions = Proportions()) -> pd.DataFrame:
    """Write both input tables, and the truth (`sample_truth.attribution_rows`, `.invalid_rows`),
    into a DuckDB file."""
    from adjust_amplitude.sql_templates import quote_table
    from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse
    from demo.vendor_schemas import ADJUST_CSV_COLUMNS, create_amplitude_events, insert_amplitude_events

    adjust, events, truth, invalid = generate_frames(first_day, days, scale, seed, extra_events, proportions)
    # Adjust's CSV upload loaded as it comes: every placeholder text, NULL where the cell was empty.
    adjust = adjust.reindex(columns=ADJUST_CSV_COLUMNS).astype("string")
    warehouse = DuckDBWarehouse(path)
    with warehouse.session() as wh:
        for table, frame in ((adjust_table, adjust), (amplitude_table, events), ("sample_truth.attribution_rows", truth),
                             ("sample_truth.invalid_rows", invalid)):
            wh.ensure_dataset(table.rsplit(".", 1)[0])
            if wh.columns(table) is not None:
                if not replace:
                    raise FileExistsError(f"{table} already exists in {path}; pass --replace to overwrite it")
                wh.run("drop_table", table=quote_table(table))
            # A text column a small sample leaves all empty is still text, as in the vendors' exports
            # (DuckDB would type an all-None column NULL).
            empty = {c: "string" for c in frame.columns if frame[c].dtype == object and frame[c].isna().all()}
            frame = frame.astype(empty)
            if table == amplitude_table:  # Amplitude's Event table, every column of it (vendor_schemas)
                wh.connection.register("generated_events", frame)
                create_amplitude_events(wh.connection, quote_table(table))
                insert_amplitude_events(wh.connection, quote_table(table), "generated_events")
                wh.connection.unregister("generated_events")
            else:
                wh.connection.from_df(frame).create(table)
    return truth


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", default=".local/warehouse.duckdb")
    parser.add_argument("--first-day", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--scale", type=int, default=400, help="valid attribution rows per day")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--extra-events", type=int, default=0, help="Amplitude events of unrelated users")
    parser.add_argument("--replace", action="store_true")
    args = parser.parse_args(argv)
    truth = write_warehouse(args.path, args.first_day, args.days, args.scale, args.seed, args.extra_events, args.replace)
    print(f"Sample warehouse {Path(args.path).resolve()}: {len(truth):,} attribution rows over {args.days} days "
          f"from {args.first_day}, {int(truth.matchable.sum()):,} matchable")


if __name__ == "__main__":
    main()

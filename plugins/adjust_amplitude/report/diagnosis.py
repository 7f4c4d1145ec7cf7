"""Why a report's rows went unmatched, from what the two exports show, with the fix.

Each cause is judged on evidence the report reads: the devices in Amplitude's export on the newest
Adjust day it covers (select_amplitude_device_shapes: their device_id shapes, whether they carry an
IDFA or an ADID), the report's own rows (select_report_identifier_coverage: which advertising ids
Adjust gave, and att_status), its reasons and its match pairs. A cause is shown only when its
evidence passes the threshold stated below, with the counts behind it; a healthy setup shows none.
"""

from __future__ import annotations

import dataclasses
from typing import Any

# Fewer devices in the export, or fewer decided rows of a platform, than these are too few to
# judge by: no cause is drawn from them.
MIN_DEVICES = 20
MIN_ROWS = 20
# A device-id cause needs at least this share of the platform's devices in the export.
RANDOM_DEVICE_SHARE = 0.10
APP_SET_DEVICE_SHARE = 0.10
IOS_NOT_IDFV_SHARE = 0.10
# Advertising ids count as stripped when at least this share of the platform's devices carries none.
STRIPPED_SHARE = 0.99
# The share of a report's iOS rows without an IDFA, and of a platform's decided rows opened late.
ATT_LIMITED_SHARE = 0.50
LATE_OPENS_SHARE = 0.05

PLATFORM_NAMES = {"ios": "iOS", "android": "Android"}
# Adjust's att_status values.
ATT_STATUS = {"0": "not determined", "1": "restricted", "2": "denied", "3": "authorized"}


# What the page and the notifications call each cause (the JSON keeps the cause's code).
TITLES = {
    "android_random_device_id": "Android device ids are random",
    "android_app_set_id_device_id": "Android device ids are App Set IDs",
    "ios_device_id_not_idfv": "iOS device ids are no IDFVs",
    "advertising_ids_stripped": "Advertising ids stripped from the export",
    "att_limited": "No IDFA (App Tracking Transparency)",
    "late_opens": "Opened after the window",
}


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """One cause: the rows of the report it bears on, the share its threshold was judged by
    (of devices in the export, or of the report's rows), what showed it, and what to do."""

    cause: str
    platform: str
    rows: int
    share: float
    evidence: str
    fix: str

    @property
    def title(self) -> str:
        return TITLES[self.cause]


@dataclasses.dataclass
class _Platform:
    """What the report's rows of one platform show (coverage rows summed)."""

    rows: int = 0
    with_idfa: int = 0
    with_gps_adid: int = 0
    unmatched_with_idfa: int = 0
    unmatched_with_gps_adid: int = 0
    without_idfa_matched: int = 0
    att: dict[str, int] = dataclasses.field(default_factory=dict)  # att_status of the rows without an IDFA


def _by_platform(coverage: list[dict[str, Any]]) -> dict[str, _Platform]:
    out: dict[str, _Platform] = {}
    for r in coverage:
        p = out.setdefault(r["platform"], _Platform())
        rows, idfa, gps = int(r["row_count"]), int(r["with_idfa"]), int(r["with_gps_adid"])
        p.rows += rows
        p.with_idfa += idfa
        p.with_gps_adid += gps
        if r["outcome"] == "unmatched":
            p.unmatched_with_idfa += idfa
            p.unmatched_with_gps_adid += gps
        if r["outcome"] == "matched":
            p.without_idfa_matched += rows - idfa
        if rows - idfa:
            status = ATT_STATUS.get(r["att_status"] or "", r["att_status"] or "absent")
            p.att[status] = p.att.get(status, 0) + rows - idfa
    return out


def _n(value: int) -> str:
    return f"{value:,}"


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def _rows(value: int) -> str:
    return f"{_n(value)} {'row' if value == 1 else 'rows'}"


def _were(value: int) -> str:
    return f"{_n(value)} {'was' if value == 1 else 'were'}"


def diagnose(devices: dict[str, Any] | None, coverage: list[dict[str, Any]],
             reasons: list[tuple[str, str, str, int]], matched_by_pair: dict[tuple[str, str], int],
             window_hours: int = 72) -> list[Diagnosis]:
    """The causes whose evidence passes its threshold, in a fixed order.

    `devices`: {"day", "platforms": select_amplitude_device_shapes' rows} or None; `reasons`: the
    report's (outcome, reason, platform, rows); `matched_by_pair`: matched rows by (platform, pair)."""
    found: list[Diagnosis] = []
    rows = _by_platform(coverage)
    never_seen = {p: n for outcome, reason, p, n in reasons if outcome == "unmatched" and reason == "no_amplitude_match"}
    late = {p: n for outcome, reason, p, n in reasons if outcome == "unmatched" and reason == "opened_after_window"}
    shapes = {r["platform"]: r for r in (devices or {}).get("platforms", []) if int(r["devices"]) >= MIN_DEVICES}
    day = devices["day"].isoformat() if devices else ""

    def of_devices(platform: str, count: int, what: str) -> str:
        total = int(shapes[platform]["devices"])
        return (f"{_n(count)} of the {_n(total)} {PLATFORM_NAMES[platform]} devices in Amplitude's export on {day} "
                f"({_pct(count / total)}) {what}")

    android = shapes.get("android")
    if android:
        total = int(android["devices"])
        random_ids, app_set = int(android["random_device_ids"]), int(android["app_set_device_ids"])
        missed = never_seen.get("android", 0)
        if random_ids / total >= RANDOM_DEVICE_SHARE and missed:
            found.append(Diagnosis(
                "android_random_device_id", "android", missed, random_ids / total,
                of_devices("android", random_ids, 'have a device_id that is a random UUID followed by "R", the Amplitude '
                           "Android SDK's default: no identifier Adjust reports can reach them. "
                           f"Of this report's Android rows, {_were(missed)} never seen in Amplitude."),
                "In the Amplitude Android SDK, set useAdvertisingIdForDeviceId or useAppSetIdForDeviceId, so that "
                "device_id is an id Adjust also reports; or set the same user id (Adjust's external device id) in "
                "both SDKs."))
        if app_set / total >= APP_SET_DEVICE_SHARE:
            through = matched_by_pair.get(("android", "google_app_set_id=device_id"), 0)
            found.append(Diagnosis(
                "android_app_set_id_device_id", "android", through, app_set / total,
                of_devices("android", app_set, 'have a device_id that is an App Set ID followed by "S" '
                           "(useAppSetIdForDeviceId), matched through Adjust's google_app_set_id: "
                           f"{_rows(through)} of this report."),
                "Nothing to fix: this setup works. Keep google_app_set_id in the Adjust export, and do not switch "
                "the SDK's device id setting back to its random default."))
    ios = shapes.get("ios")
    if ios:
        total = int(ios["devices"])
        other = total - int(ios["uuid_device_ids"])
        missed = never_seen.get("ios", 0)
        if other / total >= IOS_NOT_IDFV_SHARE and missed:
            found.append(Diagnosis(
                "ios_device_id_not_idfv", "ios", missed, other / total,
                of_devices("ios", other, "have a device_id that is no IDFV (an IDFV is a bare UUID; these are not, "
                           f'such as a random UUID followed by "R"), so Adjust\'s IDFV cannot find them. '
                           f"Of this report's iOS rows, {_were(missed)} never seen in Amplitude."),
                "Let the Amplitude iOS SDK keep the IDFV as device_id (its default when IDFV tracking is on; do not "
                "set a device id of your own), or set the same user id (Adjust's external device id) in both SDKs."))
    for platform, column, adjust_name, amplitude_name in (("ios", "with_idfa", "an IDFA", "idfa"),
                                                          ("android", "with_adid", "a GPS ADID", "Adid")):
        shape, own = shapes.get(platform), rows.get(platform)
        if not shape or not own:
            continue
        total = int(shape["devices"])
        empty = total - int(shape[column])
        carried = own.with_idfa if platform == "ios" else own.with_gps_adid
        missed = own.unmatched_with_idfa if platform == "ios" else own.unmatched_with_gps_adid
        if empty / total >= STRIPPED_SHARE and carried:
            found.append(Diagnosis(
                "advertising_ids_stripped", platform, missed, empty / total,
                of_devices(platform, empty, f"have no {amplitude_name}: Amplitude strips advertising ids after "
                           f"ingestion, so only device_id pairs can match. {_n(carried)} of this report's "
                           f"{PLATFORM_NAMES[platform]} rows carry {adjust_name}; {_were(missed)} not matched."),
                f"Match by device_id: make the Amplitude SDK's device_id an id Adjust reports ("
                + ("the IDFV" if platform == "ios" else "the advertising id or App Set ID")
                + "), or set the same user id (Adjust's external device id) in both SDKs."))
    own = rows.get("ios")
    if own and own.rows >= MIN_ROWS:
        without = own.rows - own.with_idfa
        if without / own.rows >= ATT_LIMITED_SHARE:
            statuses = ", ".join(f"{_n(n)} {name}" for name, n in sorted(own.att.items(), key=lambda kv: (-kv[1], kv[0])))
            found.append(Diagnosis(
                "att_limited", "ios", without, without / own.rows,
                f"{_n(without)} of this report's {_n(own.rows)} iOS rows ({_pct(without / own.rows)}) have an all-zero "
                f"or no IDFA, as when the user did not allow tracking (Adjust's att_status: {statuses}). "
                f"{_n(own.without_idfa_matched)} of them were matched anyway, by IDFV or another id.",
                "Nothing to fix in the export: without ATT consent there is no IDFA. These rows match only by IDFV, "
                "so keep the IDFV in the Adjust export and as the Amplitude iOS SDK's device_id."))
    for platform in ("ios", "android"):
        own = rows.get(platform)
        opened_late = late.get(platform, 0)
        if own and own.rows >= MIN_ROWS and opened_late / own.rows >= LATE_OPENS_SHARE:
            found.append(Diagnosis(
                "late_opens", platform, opened_late, opened_late / own.rows,
                f"{_n(opened_late)} of this report's {_n(own.rows)} decided {PLATFORM_NAMES[platform]} rows "
                f"({_pct(opened_late / own.rows)}) were first seen in Amplitude more than {window_hours} hours after "
                "the attribution, after Amplitude had dropped it.",
                "Nothing is broken in tracking: these users opened the app late. Find the campaigns behind them in "
                "the CSV (amplitude_seen_at); an onboarding push or deep link that brings users in sooner helps."))
    return found


def as_json(found: list[Diagnosis]) -> list[dict[str, Any]]:
    return [{**dataclasses.asdict(d), "share": round(d.share, 4)} for d in found]

"""Why a row did not reach Amplitude, in words marketing can act on.

Keys are the reason codes the SQL writes (discrepancy_rows.reason, ledger.reject_reason,
rejected_rows.reason); the platform picks the advice where it differs between iOS and Android.
`{hours}` in a text stands for the matching window's length, the window_hours setting.
"""

from __future__ import annotations

import dataclasses
import re


@dataclasses.dataclass(frozen=True)
class Explanation:
    what: str
    action: str


_MISSING = {
    ("no_amplitude_match", "ios"): Explanation(
        "These iOS devices never showed up in Amplitude: no event carries their IDFV or IDFA, "
        "within {hours} hours or since.",
        "Usually the app was installed but never opened. If iOS has many more of these than "
        "Android, check the Amplitude iOS SDK's device id setting: device_id must be the IDFV; "
        "what the exports show, below, says whether it is.",
    ),
    ("no_amplitude_match", "android"): Explanation(
        "These Android devices never showed up in Amplitude: no event carries their Google "
        "advertising ID, App Set ID or external device id, within {hours} hours or since.",
        "Usually the app was installed but never opened. If Android has many more of these than "
        "iOS, let the Amplitude Android SDK use the advertising ID or App Set ID as device id, or "
        "set the same external device id in both SDKs; what the exports show, below, says which.",
    ),
    ("no_amplitude_match", ""): Explanation(
        "These devices never showed up in Amplitude within {hours} hours or since.",
        "Usually the app was installed but never opened.",
    ),
    ("opened_after_window", ""): Explanation(
        "These devices opened the app, but more than {hours} hours after the attribution: by then "
        "Amplitude had already dropped it.",
        "Nothing is broken in tracking. A growing share points at campaigns whose installs are "
        "opened days later; the CSV shows when each device first appeared.",
    ),
    ("no_identifier", "ios"): Explanation(
        "ATT-limited iOS devices: Adjust has no IDFA (tracking not allowed) and no IDFV for them, "
        "so there is nothing to match by.",
        "Check that the Adjust SDK sends the IDFV and the export has the idfv column; setting the "
        "same external device id in both SDKs also makes these devices matchable.",
    ),
    ("no_identifier", "android"): Explanation(
        "Android devices without a Google advertising ID (the user opted out, or no Google Play "
        "services) and without an external device id.",
        "Set the same external device id in the Adjust and Amplitude SDKs to match these devices.",
    ),
    ("no_identifier", ""): Explanation(
        "Devices with no IDFA, IDFV, advertising ID or external device id.",
        "Set the same external device id in the Adjust and Amplitude SDKs.",
    ),
    ("placeholder_identifier", ""): Explanation(
        "Devices whose identifiers are placeholders such as 'unknown', '(null)' or '-' rather than "
        "real IDs: many devices share them, so they cannot tell this device from others.",
        "Check how the app or the export fills identifiers it does not have: leave them empty. The "
        "list of placeholders is the placeholder_identifiers setting.",
    ),
    ("shared_identifier", ""): Explanation(
        "Devices whose identifiers Amplitude shows on many devices (more than the "
        "max_devices_per_identifier setting), such as a test user id or a value set by a broken SDK: "
        "matching by them would attribute other people's activity.",
        "Find which value it is in the CSV (the IDs of these rows) and fix where it is set; a "
        "user_id shared by a test team is common.",
    ),
}

_REJECTED = {
    "invalid_created_at": Explanation(
        "Adjust rows with a missing or unreadable created_at time.",
        "Check the created_at placeholder of the Adjust raw export; the rows are in rejected_rows.",
    ),
    "implausible_created_at": Explanation(
        "Adjust rows whose created_at is no plausible time: before the created_at_floor setting "
        "(2012 by default) or more than a day after the run.",
        "Check the created_at placeholder of the Adjust raw export (a unit or type change?); the "
        "rows are in rejected_rows with the value received.",
    ),
    "created_at_in_milliseconds": Explanation(
        "Adjust rows whose created_at is in milliseconds where Unix seconds are expected.",
        "The export or a step before it changed the unit: send seconds, or point adjust_table at a "
        "view that divides created_at by 1,000. The rows are in rejected_rows.",
    ),
    "missing_adid": Explanation(
        "Adjust rows without Adjust's device id (adid).",
        "Check the adid placeholder of the Adjust raw export; the rows are in rejected_rows.",
    ),
    "invalid_os_name": Explanation(
        "Adjust rows whose os_name is neither iOS nor Android.",
        "Only iOS and Android can be attributed in Amplitude; the rows are in rejected_rows.",
    ),
    "no_sendable_identifier": Explanation(
        "Found in Amplitude through the external device id only, but the Attribution API "
        "attributes by IDFA, IDFV, advertising ID or App Set ID, which these rows lack.",
        "Nothing can be sent for them through this API; they are listed in rejected_rows.",
    ),
}

_HTTP = re.compile(r"amplitude_http_(\d{3})")


def explain(outcome: str, reason: str, platform: str, window_hours: int) -> Explanation:
    if outcome == "rejected":
        if reason in _REJECTED:
            return _REJECTED[reason]
        status = _HTTP.fullmatch(reason)
        if status:
            return Explanation(
                f"Amplitude refused these events (HTTP {status.group(1)}).",
                "The response body of each is in rejected_rows; fix the cause, then re-send them.",
            )
        return Explanation(f"Rejected: {reason}.", "See rejected_rows for the rows and details.")
    for key in ((reason, platform), (reason, "")):
        if key in _MISSING:
            found = _MISSING[key]
            return Explanation(found.what.format(hours=window_hours), found.action.format(hours=window_hours))
    return Explanation(f"Not matched: {reason}.", "See the CSV for the rows.")


OUTCOME_LABELS = {
    "unmatched": "Unmatched",
    "no_identifier": "No identifier",
    "rejected": "Rejected",
}

# A few words per reason, for headlines and notifications (the report's table says more).
REASON_NAMES = {
    "no_amplitude_match": "never seen in Amplitude",
    "opened_after_window": "opened after the {hours}-hour window",
    "no_identifier": "no device identifier",
    "placeholder_identifier": "placeholder identifiers",
    "shared_identifier": "identifiers shared by many devices",
    "invalid_created_at": "unreadable created_at",
    "implausible_created_at": "implausible created_at",
    "created_at_in_milliseconds": "created_at in milliseconds",
    "missing_adid": "no Adjust adid",
    "invalid_os_name": "neither iOS nor Android",
    "no_sendable_identifier": "no identifier the Attribution API takes",
}


def reason_name(reason: str, window_hours: int) -> str:
    status = _HTTP.fullmatch(reason)
    if status:
        return f"refused by Amplitude (HTTP {status.group(1)})"
    name = REASON_NAMES.get(reason)
    return name.format(hours=window_hours) if name else reason  # an unknown code, from data, as it is

"""Turn a matched ledger row into the event the Attribution API expects."""

from __future__ import annotations

import re
from typing import Any

_MISSING_ID = re.compile(r"^[0-]*$")

# Which Amplitude field a match pair found the Adjust identifier in. Amplitude matches
# attribution case-sensitively, so when the id matched its device_id we send its spelling.
_DEVICE_ID_PAIRS = {"idfv=device_id": "idfv", "idfa=device_id": "idfa", "gps_adid=device_id": "adid"}

PROPERTY_COLUMNS = (
    ("network", "network_name"),
    ("campaign", "campaign_name"),
    ("adgroup", "adgroup_name"),
    ("creative", "creative_name"),
    ("country", "country"),
    ("tracker", "tracker_name"),
)

NO_SENDABLE_IDENTIFIER = "no_sendable_identifier"


def identifier(value: Any) -> str | None:
    """A usable identifier as given (trimmed), or None for empty / all-zero."""
    if value is None:
        return None
    text = str(value).strip()
    return None if _MISSING_ID.match(text) else text


def event_type(activity_kind: str, prefix: str) -> str:
    return f"{prefix} {activity_kind.strip().lower().capitalize()}"


def build_event(row: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    """The event for one row, or None when the row has nothing Amplitude can attribute by
    (iOS needs an IDFA or IDFV, Android a Google advertising id)."""
    platform = row["platform"]
    ids: dict[str, str | None]
    if platform == "ios":
        ids = {"idfa": identifier(row.get("idfa")), "idfv": identifier(row.get("idfv"))}
        sendable = ids["idfa"] or ids["idfv"]
    else:
        ids = {"adid": identifier(row.get("gps_adid")), "android_id": identifier(row.get("android_id"))}
        sendable = ids["adid"]
    if not sendable:
        return None
    field = _DEVICE_ID_PAIRS.get(row.get("match_pair") or "")
    amplitude_spelling = row.get("amplitude_device_id")
    if field and ids.get(field) and amplitude_spelling and amplitude_spelling.strip().upper() == ids[field].upper():
        ids[field] = amplitude_spelling.strip()
    event: dict[str, Any] = {
        "event_type": event_type(row["activity_kind"], prefix),
        "platform": platform,
        "time": int(row["created_at"]) * 1000,
    }
    event.update({k: v for k, v in ids.items() if v})
    properties = {
        f"[Adjust] {name}": row[column] for name, column in PROPERTY_COLUMNS if row.get(column) is not None
    }
    if properties:
        event["user_properties"] = properties
    return event

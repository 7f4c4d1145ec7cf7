"""The report's rows as CSV: UTF-8 with a byte-order mark (Excel then reads accents right),
a header row, ISO 8601 times in UTC, and cells a spreadsheet would run as a formula defused."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

COLUMNS = (
    "row_key", "reason", "window_closed_at", "amplitude_seen_at", "closed_run_day", "closed_by_run_id",
    "adjust_day", "app_token", "activity_kind", "created_at", "adid", "os_name", "environment", "idfa", "idfv",
    "gps_adid", "android_id", "external_device_id", "tracker_name", "network_name", "campaign_name",
    "adgroup_name", "creative_name", "country", "installed_at", "reattributed_at",
)
# Adjust's Unix-seconds columns, shown as ISO times that spreadsheets sort and filter as dates.
# Adjust writes 0 (or nothing) where there is no time, e.g. reattributed_at of an install.
EPOCH_COLUMNS = {"created_at", "installed_at", "reattributed_at"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def epoch_time(value: Any) -> Any:
    """Unix seconds (an int or a string of digits) as a UTC datetime; 0 as nothing; else unchanged."""
    text = str(value).strip()
    if isinstance(value, bool) or not (text.isascii() and text.isdigit()):
        return value
    seconds = int(text)
    if seconds == 0:
        return None
    try:
        return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    except (OverflowError, OSError, ValueError):  # beyond year 9999: not a time, show it as it came
        return value


def cell(value: Any, epoch: bool = False) -> str:
    if epoch and value is not None:
        value = epoch_time(value)
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    # A leading quote makes Excel and Google Sheets show the text instead of evaluating it.
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def rows_csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([cell(row.get(c), c in EPOCH_COLUMNS) for c in COLUMNS])
    return out.getvalue().encode("utf-8-sig")

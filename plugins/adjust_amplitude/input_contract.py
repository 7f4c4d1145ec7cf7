"""What the run needs of its two input tables: the columns it reads and the kinds of value each
may hold. Checked from the warehouse's metadata before anything is written, so a column whose
type drifted upstream stops the run at the door, named, instead of turning a day of rows invalid
(or crashing after rows were staged).
"""

from __future__ import annotations

from adjust_amplitude.config import ADJUST_OPTIONAL_COLUMNS, ADJUST_REQUIRED_COLUMNS, AMPLITUDE_REQUIRED_COLUMNS
from adjust_amplitude.warehouse.base import ColumnType

# How each kind reads in a message (ColumnType.kind).
KIND_TEXT = {
    "integer": "an integer (INT64; DuckDB BIGINT or another integer type)",
    "number": "a number with a fraction (FLOAT64, NUMERIC; DuckDB DOUBLE, DECIMAL)",
    "text": "text (STRING; DuckDB VARCHAR)",
    "timestamp": "a timestamp (TIMESTAMP; DuckDB TIMESTAMP WITH TIME ZONE)",
    "naive_timestamp": "a date and time without time zone, read as UTC (DATETIME; DuckDB TIMESTAMP)",
}

# created_at is Unix seconds: an integer, text holding one, or a number whose fraction is cut off.
ADJUST_KINDS = {"created_at": ("integer", "number", "text")}
# Every other Adjust column is read as text; Adjust writes whole numbers for its times.
ADJUST_DEFAULT_KINDS = ("text", "integer")
AMPLITUDE_KINDS = {"event_time": ("timestamp", "naive_timestamp"), "amplitude_id": ("integer", "text")}
AMPLITUDE_DEFAULT_KINDS = ("text",)

# What a wrong column can be turned into, in a view the setting then names.
_FIXES = {
    "created_at": "UNIX_SECONDS(created_at) AS created_at for a timestamp",
    "event_time": "TIMESTAMP_MILLIS(event_time) AS event_time for milliseconds, or "
                  "TIMESTAMP(event_time) for text in a format BigQuery reads",
}


class InputError(ValueError):
    """An input table is missing, lacks a column the run reads, or holds it with a type the run cannot read."""


def check_table(key: str, table: str, where: str, found: dict[str, ColumnType] | None,
                required: tuple[str, ...], optional: tuple[str, ...] = ()) -> list[str]:
    """Raise InputError unless `table` (the setting `key`) exists with every required column, and
    every column the run reads has a kind it accepts. Returns the optional columns present."""
    if found is None:
        raise InputError(f"{key} {table} does not exist in {where}")
    missing = [c for c in required if c not in found]
    if missing:
        raise InputError(f"{key} {table} lacks required column(s) {', '.join(missing)}")
    present = [c for c in optional if c in found]
    kinds, default = (ADJUST_KINDS, ADJUST_DEFAULT_KINDS) if key == "adjust_table" else (AMPLITUDE_KINDS, AMPLITUDE_DEFAULT_KINDS)
    for column in (*required, *present):
        accepted = kinds.get(column, default)
        if found[column].kind not in accepted:
            fix = _FIXES.get(column)
            raise InputError(
                f"{key} {table}: column {column} is {found[column].name}, which the sync cannot read; "
                f"accepted: {'; '.join(KIND_TEXT[k] for k in accepted)}. Change the column's type upstream, or "
                f"point {key} at a view that converts it" + (f" (for example {fix})" if fix else "")
            )
    return present


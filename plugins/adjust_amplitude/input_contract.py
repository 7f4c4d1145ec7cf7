"""What the run needs of its two input tables: the columns it reads and the kinds of value each
may hold. Checked from the warehouse's metadata before anything is written, so a column whose
type drifted upstream stops the run at the door, named, instead of turning a day of rows invalid
(or crashing after rows were staged).
"""

from __future__ import annotations

import dataclasses

from adjust_amplitude.config import ADJUST_OPTIONAL_COLUMNS, ADJUST_REQUIRED_COLUMNS, AMPLITUDE_REQUIRED_COLUMNS
from adjust_amplitude.failures import NotRetryable
from adjust_amplitude.warehouse.base import ColumnType

# How each kind reads in a message (ColumnType.kind).
KIND_TEXT = {
    "integer": "an integer (INT64; DuckDB BIGINT or another integer type)",
    "number": "a number with a fraction (FLOAT64, NUMERIC; DuckDB DOUBLE, DECIMAL)",
    "text": "text (STRING; DuckDB VARCHAR)",
    "timestamp": "a timestamp (TIMESTAMP; DuckDB TIMESTAMP WITH TIME ZONE)",
    "naive_timestamp": "a date and time without time zone, read as UTC (DATETIME; DuckDB TIMESTAMP)",
    "date": "a date (DATE)",
}


@dataclasses.dataclass(frozen=True)
class TableContract:
    """One input table: the setting naming it, its columns, and the kinds each may hold."""

    key: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    kinds: dict[str, tuple[str, ...]]  # by column; others take `default`
    default: tuple[str, ...]


# created_at is Unix seconds: an integer, text holding one, or a number whose fraction is cut off.
# Every other Adjust column is read as text; Adjust writes whole numbers for its times.
ADJUST = TableContract("adjust_table", ADJUST_REQUIRED_COLUMNS, ADJUST_OPTIONAL_COLUMNS,
                       {"created_at": ("integer", "number", "text")}, ("text", "integer"))
AMPLITUDE = TableContract("amplitude_table", AMPLITUDE_REQUIRED_COLUMNS, (),
                          {"event_time": ("timestamp", "naive_timestamp")}, ("text",))

# What a wrong column can be turned into, in a view the setting then names.
_FIXES = {
    "created_at": "UNIX_SECONDS(created_at) AS created_at for a timestamp",
    "event_time": "TIMESTAMP_MILLIS(event_time) AS event_time for milliseconds, or "
                  "TIMESTAMP(event_time) for text in a format BigQuery reads",
}


class InputError(ValueError, NotRetryable):
    """An input table is missing, lacks a column the run reads, or holds it with a type the run cannot read."""


def check_table(contract: TableContract, table: str, where: str, found: dict[str, ColumnType] | None) -> list[str]:
    """Raise InputError unless `table` exists in `where` with every required column, and every
    column the run reads has a kind it accepts. Returns the optional columns present."""
    key = contract.key
    if found is None:
        raise InputError(f"{key} {table} does not exist in {where}")
    missing = [c for c in contract.required if c not in found]
    if missing:
        raise InputError(f"{key} {table} lacks required column(s) {', '.join(missing)}")
    present = [c for c in contract.optional if c in found]
    for column in (*contract.required, *present):
        accepted = contract.kinds.get(column, contract.default)
        if found[column].kind not in accepted:
            fix = _FIXES.get(column)
            raise InputError(
                f"{key} {table}: column {column} is {found[column].name}, which the sync cannot read; "
                f"accepted: {'; '.join(KIND_TEXT[k] for k in accepted)}. Change the column's type upstream, or "
                f"point {key} at a view that converts it" + (f" (for example {fix})" if fix else "")
            )
    return present


# BigQuery's pseudo-columns of an ingestion-time partitioned table, which no schema lists.
_PSEUDO_COLUMNS = {"_PARTITIONDATE": "date", "_PARTITIONTIME": "timestamp"}
_PARTITION_KINDS = ("date", "timestamp", "naive_timestamp")


def check_partition_column(column: str | None, table: str, found: dict[str, ColumnType]) -> dict[str, str] | None:
    """The adjust_partition_column setting checked against the Adjust table: None when unset, else
    the column (as the table names it) and its kind, which must be a date or a time."""
    if column is None:
        return None
    if column.upper() in _PSEUDO_COLUMNS and column.lower() not in found:
        return {"column": column.upper(), "kind": _PSEUDO_COLUMNS[column.upper()]}
    if column.lower() not in found:
        raise InputError(
            f"adjust_partition_column {column} is not a column of adjust_table {table} "
            f"(nor one of BigQuery's pseudo-columns {', '.join(_PSEUDO_COLUMNS)})"
        )
    kind = found[column.lower()].kind
    if kind not in _PARTITION_KINDS:
        raise InputError(
            f"adjust_partition_column {column} of adjust_table {table} is {found[column.lower()].name}; "
            f"a partition column is {'; '.join(KIND_TEXT[k] for k in _PARTITION_KINDS)}"
        )
    return {"column": column.lower(), "kind": kind}

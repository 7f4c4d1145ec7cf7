"""What every warehouse backend offers the pipeline."""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from adjust_amplitude import sql_templates
from adjust_amplitude.failures import NotRetryable

_PARAM_RE = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
EXPORT_FORMATS = {"csv", "lines"}
# How the runs' scratch tables are named in the output dataset (tables.run_tables): the prefix, then
# the day and the run.
STAGE_PREFIX = "_stage_adjust_"


class WarehouseError(RuntimeError):
    """A warehouse problem with a message a person can act on."""


class WarehouseConnectionError(WarehouseError, NotRetryable):
    """The warehouse Connection is missing or cannot name a warehouse: a setting to fix."""


def used_parameters(bigquery_sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters a statement refers to; a missing one is a programming error, said plainly."""
    names = set(_PARAM_RE.findall(bigquery_sql))
    missing = sorted(names - set(params))
    if missing:
        raise WarehouseError(f"query parameters {missing} are used by the SQL but were not given")
    return {name: params[name] for name in sorted(names)}


@dataclasses.dataclass(frozen=True)
class ColumnType:
    """A column's type as its warehouse names it (`name`, for messages), and the kind of value it
    holds, the same on every engine: integer, number (fractional), text, timestamp (an instant),
    naive_timestamp (a date and time without time zone), or other."""

    name: str
    kind: str


@dataclasses.dataclass
class Usage:
    """What a warehouse object's statements cost: jobs, and bytes billed (BigQuery's job
    statistics; None where nothing is billed)."""

    jobs: int = 0
    bytes_billed: int | None = None

    def add(self, bytes_billed: int | None) -> None:
        self.jobs += 1
        if bytes_billed is not None:
            self.bytes_billed = (self.bytes_billed or 0) + bytes_billed


@dataclasses.dataclass(frozen=True)
class JobOptions:
    """What every BigQuery job of a run carries: labels naming the DAG, task and day (billing is
    broken down by them) and a cap on the bytes one job may bill (None: no cap)."""

    labels: tuple[tuple[str, str], ...] = ()
    maximum_bytes_billed: int | None = None


class Warehouse(abc.ABC):
    """One backend. `session()` brackets a unit of work (for DuckDB: holds the file lock)."""

    engine: str

    def __init__(self) -> None:
        self.usage = Usage()
        self.job_options = JobOptions()

    def label_jobs(self, labels: dict[str, str], maximum_bytes_billed: int | None) -> None:
        """The run's labels and byte cap for every job from now on (run.Run sets them)."""
        self.job_options = JobOptions(tuple(sorted(labels.items())), maximum_bytes_billed)

    @contextlib.contextmanager
    def session(self) -> Iterator[Warehouse]:
        yield self

    def run(self, name: str, params: dict[str, Any] | None = None, **context: Any) -> None:
        sql = sql_templates.render(name, **context)
        self._execute(name, sql, used_parameters(sql, params or {}))

    def fetch(self, name: str, params: dict[str, Any] | None = None, **context: Any) -> list[dict[str, Any]]:
        sql = sql_templates.render(name, **context)
        return self._query(name, sql, used_parameters(sql, params or {}))

    def pages(self, name: str, params: dict[str, Any], page_size: int, **context: Any) -> Iterator[list[dict[str, Any]]]:
        """The rows of a statement that reads `row_key > @after_key ... ORDER BY row_key LIMIT
        @page_size`, a page at a time, each page read in a session of its own (DuckDB keeps its
        lock only while it reads one)."""
        after = ""
        while True:
            with self.session() as wh:
                page = wh.fetch(name, {**params, "after_key": after, "page_size": page_size}, **context)
            if not page:
                return
            yield page
            after = page[-1]["row_key"]

    def export(self, name: str, params: dict[str, Any], path: str | os.PathLike[str], fmt: str, **context: Any) -> int:
        """Write the rows of a query to the local file `path`, in statement order, as `fmt`:
        "csv" (a header row, CRLF line ends, NULL as an empty cell, quotes only where needed) or
        "lines" (a query of one text column: each row's value and a line end). Returns how many
        rows it wrote. The warehouse writes the file the cheapest way it can: a report's rows or
        a dry run's outbox never pass through Python one by one on DuckDB."""
        if fmt not in EXPORT_FORMATS:
            raise WarehouseError(f"unknown export format {fmt!r}; expected one of {sorted(EXPORT_FORMATS)}")
        sql = sql_templates.render(name, **context)
        return self._export(name, sql, used_parameters(sql, params), Path(path), fmt)

    @abc.abstractmethod
    def _export(self, name: str, bigquery_sql: str, params: dict[str, Any], path: Path, fmt: str) -> int: ...

    @abc.abstractmethod
    def _execute(self, name: str, bigquery_sql: str, params: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    def _query(self, name: str, bigquery_sql: str, params: dict[str, Any]) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def ensure_dataset(self, dataset: str) -> None: ...

    @abc.abstractmethod
    def drop_stale_stages(self, dataset: str) -> None:
        """Drop the scratch tables (STAGE_PREFIX) of `dataset` that runs killed while staging left
        behind, where that is safe; called in the staging session before it makes its own."""

    @abc.abstractmethod
    def columns(self, table: str) -> dict[str, ColumnType] | None:
        """A table's columns by lower-cased name, with their types, or None when it does not exist."""

    @abc.abstractmethod
    def append_rows(self, table: str, rows: Sequence[dict[str, Any]], row_ids: Sequence[str]) -> None:
        """Append rows (dicts keyed by column) to an existing table: no job, no DML on BigQuery.
        `row_ids` name the rows, so a repeated append of the same rows may be dropped."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where this warehouse is, for logs; never includes credentials."""

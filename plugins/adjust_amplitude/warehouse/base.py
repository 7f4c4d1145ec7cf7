"""What every warehouse backend offers the pipeline."""

from __future__ import annotations

import abc
import contextlib
import re
from collections.abc import Iterator, Sequence
from typing import Any

from adjust_amplitude import sql_templates

_PARAM_RE = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")


class WarehouseError(RuntimeError):
    """A warehouse problem with a message a person can act on."""


def used_parameters(bigquery_sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters a statement refers to; a missing one is a programming error, said plainly."""
    names = set(_PARAM_RE.findall(bigquery_sql))
    missing = sorted(names - set(params))
    if missing:
        raise WarehouseError(f"query parameters {missing} are used by the SQL but were not given")
    return {name: params[name] for name in sorted(names)}


class Warehouse(abc.ABC):
    """One backend. `session()` brackets a unit of work (for DuckDB: holds the file lock)."""

    engine: str

    @contextlib.contextmanager
    def session(self) -> Iterator[Warehouse]:
        yield self

    def run(self, name: str, params: dict[str, Any] | None = None, **context: Any) -> None:
        sql = sql_templates.render(name, **context)
        self._execute(name, sql, used_parameters(sql, params or {}))

    def fetch(self, name: str, params: dict[str, Any] | None = None, **context: Any) -> list[dict[str, Any]]:
        sql = sql_templates.render(name, **context)
        return self._query(name, sql, used_parameters(sql, params or {}))

    @abc.abstractmethod
    def _execute(self, name: str, bigquery_sql: str, params: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    def _query(self, name: str, bigquery_sql: str, params: dict[str, Any]) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def ensure_dataset(self, dataset: str) -> None: ...

    @abc.abstractmethod
    def columns(self, table: str) -> set[str] | None:
        """Lower-cased column names of a table, or None when it does not exist."""

    @abc.abstractmethod
    def append_rows(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        """Append rows (dicts keyed by column) to an existing table."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where this warehouse is, for logs; never includes credentials."""

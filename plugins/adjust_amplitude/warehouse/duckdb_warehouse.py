"""DuckDB file as the warehouse: the same BigQuery SQL files, translated by sqlglot.

DuckDB lets one process open a database file for writing at a time. Airflow runs tasks of
different runs (a scheduled run next to a backfill) in different processes, so each unit of
work takes an exclusive lock file first and waits its turn instead of failing on DuckDB's lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from adjust_amplitude import sql_templates
from adjust_amplitude.warehouse.base import STAGE_PREFIX, ColumnType, Warehouse, WarehouseError
from adjust_amplitude.warehouse.duckdb_sql import to_duckdb

log = logging.getLogger(__name__)


# Rows each paged read fetches at least (see DuckDBWarehouse.pages): about 50 MB of rows in memory.
READ_ROWS = 50_000


class DuckDBWarehouse(Warehouse):
    engine = "duckdb"

    def __init__(
        self,
        path: str | os.PathLike[str],
        lock_timeout_seconds: float = 3600.0,
        memory_limit: str = "1GB",
        threads: int | None = None,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.lock_timeout_seconds = lock_timeout_seconds
        # DuckDB defaults to 80% of RAM; a worker shares its machine, so cap it and let it spill.
        self.config = {"memory_limit": memory_limit}
        if threads:
            self.config["threads"] = int(threads)
        self._connection = None

    def describe(self) -> str:
        return f"DuckDB file {self.path}"

    @contextlib.contextmanager
    def session(self) -> Iterator[DuckDBWarehouse]:
        if self._connection is not None:
            raise WarehouseError("nested warehouse sessions would deadlock on the DuckDB lock file")
        import duckdb

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._exclusive_lock():
            self._connection = duckdb.connect(str(self.path), config=self.config)
            # BigQuery computes DATE(timestamp) and TIMESTAMP(date) in UTC; DuckDB in the machine's
            # time zone unless told (a demo on a laptop in Tokyo would shift every day boundary).
            # A connection setting, not pipeline SQL; it cannot go in `config`, which DuckDB reads
            # before its time zone extension is loaded.
            self._connection.execute("SET TimeZone = 'UTC'")
            try:
                yield self
            finally:
                self._connection.close()
                self._connection = None

    @contextlib.contextmanager
    def _exclusive_lock(self) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a+") as handle:
            deadline = time.monotonic() + self.lock_timeout_seconds
            waited = False
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not waited:
                        log.info("Waiting for another run to release %s", self.path)
                        waited = True
                    if time.monotonic() > deadline:
                        raise WarehouseError(
                            f"{self.path} stayed locked by another process for {self.lock_timeout_seconds:.0f} s"
                        ) from None
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @property
    def connection(self):
        if self._connection is None:
            raise WarehouseError("use the DuckDB warehouse inside `with warehouse.session():`")
        return self._connection

    def pages(self, name: str, params: dict[str, Any], page_size: int, **context: Any) -> Iterator[list[dict[str, Any]]]:
        """As Warehouse.pages, but each read takes at least READ_ROWS rows: every read scans the
        ledger's open days afresh (DuckDB has no job whose result pages could be read later), so
        pages of 5,000 rows made reading a day's matched rows quadratic. Pages are still yielded
        `page_size` rows at a time, and the lock is still held only while a read runs."""
        read = max(page_size, READ_ROWS)
        for rows in super().pages(name, params, read, **context):
            for start in range(0, len(rows), page_size):
                yield rows[start:start + page_size]

    def _execute(self, name: str, bigquery_sql: str, params: dict[str, Any]) -> None:
        self._run(name, bigquery_sql, params)

    def _query(self, name: str, bigquery_sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        cursor = self._run(name, bigquery_sql, params)
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]

    def _run(self, name: str, bigquery_sql: str, params: dict[str, Any]):
        return self._run_translated(name, to_duckdb(bigquery_sql), params)

    def _run_translated(self, name: str, sql: str, params: dict[str, Any]):
        import duckdb

        self.usage.add(None)  # DuckDB bills nothing
        try:
            return self.connection.execute(sql, {k: _duckdb_value(v) for k, v in params.items()})
        except duckdb.Error as exc:
            raise WarehouseError(f"{name}.sql failed on {self.describe()}: {exc}") from exc

    def _export(self, name: str, bigquery_sql: str, params: dict[str, Any], path: Path, fmt: str) -> int:
        # DuckDB's own writer: the file is written as the query runs, in parallel, nothing held.
        # "lines" is CSV of one column that is never quoted: JSON text holds no raw line break.
        options = "HEADER true, NEW_LINE '\r\n'" if fmt == "csv" else "HEADER false, QUOTE '', DELIMITER '\x01'"
        sql = f"COPY ({to_duckdb(bigquery_sql)}) TO '{_sql_text(str(path))}' (FORMAT CSV, {options})"
        cursor = self._run_translated(name, sql, params)
        return int(cursor.fetchone()[0])

    def ensure_dataset(self, dataset: str) -> None:
        self.run("create_dataset", t=None, dataset=sql_templates.quote_table(dataset))

    def drop_stale_stages(self, dataset: str) -> None:
        """Every one is stale: staging runs in one session, which holds the file's lock from making
        its table to dropping it, so a stage table found when a session starts staging was left by
        a process killed meanwhile. Its run's retry would replace it, but a new run names its own."""
        tables = self.connection.table_function("duckdb_tables").filter("database_name = current_database()")
        found = sorted(name for schema, name in tables.project("schema_name, table_name").fetchall()
                       if schema == dataset and name.startswith(STAGE_PREFIX))
        for name in found:
            log.warning("Dropping %s.%s, left by a run killed while staging", dataset, name)
            self.run("drop_table", t=None, table=sql_templates.quote_table(f"{dataset}.{name}"))

    def columns(self, table: str) -> dict[str, ColumnType] | None:
        import duckdb

        try:
            relation = self.connection.table(table)
        except duckdb.CatalogException:
            return None
        return {c.lower(): _column_type(str(t)) for c, t in zip(relation.columns, relation.types)}

    def append_rows(self, table: str, rows: Sequence[dict[str, Any]], row_ids: Sequence[str]) -> None:
        # Under the lock the rows are appended exactly once; row ids are BigQuery's business.
        if not rows:
            return
        columns = list(rows[0])
        # One statement over an array of structs: executemany costs about 1 ms a row, which at a
        # push's flush of a thousand rows held the lock for a second. Values go through DuckDB's
        # parameter binding, never into the SQL text.
        values = [{c: _duckdb_value(row[c]) for c in columns} for row in rows]
        self.connection.execute(_insert_statement(table, columns), {"rows": values})


_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "UHUGEINT"}
_NAIVE_TIMESTAMP_TYPES = {"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"}


def _column_type(name: str) -> ColumnType:
    if name in _INTEGER_TYPES:
        kind = "integer"
    elif name in ("FLOAT", "DOUBLE") or name.startswith("DECIMAL("):
        kind = "number"
    elif name == "VARCHAR":
        kind = "text"
    elif name == "TIMESTAMP WITH TIME ZONE":
        kind = "timestamp"
    elif name in _NAIVE_TIMESTAMP_TYPES:
        kind = "naive_timestamp"
    elif name == "DATE":
        kind = "date"
    else:
        kind = "other"
    return ColumnType(name, kind)


def _sql_text(text: str) -> str:
    """Text inside a DuckDB string literal (COPY takes no parameter for its file)."""
    return text.replace("'", "''")


def _insert_statement(table: str, columns: list[str]) -> str:
    return to_duckdb(
        sql_templates.render("insert_rows", table=sql_templates.quote_table(table), columns=columns)
    )


def _duckdb_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        raise WarehouseError(f"naive datetime parameter {value!r}")
    return value

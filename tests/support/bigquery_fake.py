"""A fake `google.cloud.bigquery.Client` that records every job and streaming insert.

No BigQuery is reachable from here. The BigQuery backend takes any client; tests give it this one
and check what it would have sent: SQL, typed parameters, labels, byte caps, locations, rows.
"""

from __future__ import annotations

import dataclasses
import json
import types
from typing import Any

from google.api_core import exceptions as google_errors
from google.cloud import bigquery

from demo.vendor_schemas import ADJUST_CSV_COLUMNS, AMPLITUDE_EVENT_COLUMNS

BYTES_PER_QUERY = 10 * 2**20  # what each fake query job reports as billed


# Amplitude's Event table as its BigQuery export has it (BIGNUMERIC amplitude_id, Adid, JSON columns),
# and Adjust's export loaded from its CSV (every column STRING).
AMPLITUDE_COLUMNS = [(name, bigquery_type) for name, bigquery_type, _ in AMPLITUDE_EVENT_COLUMNS]
ADJUST_COLUMNS = list(ADJUST_CSV_COLUMNS)


@dataclasses.dataclass
class Job:
    kind: str  # "query" | "load" | "stream" (insert_rows_json: not a job) | "create_dataset"
    sql: str | None = None
    params: dict[str, tuple[str, Any]] = dataclasses.field(default_factory=dict)
    wire_params: list[dict] = dataclasses.field(default_factory=list)
    location: str | None = None
    destination: str | None = None
    write_disposition: str | None = None
    rows: list[dict] | None = None
    row_ids: list[str] | None = None
    dataset: str | None = None
    exists_ok: bool | None = None
    labels: dict[str, str] | None = None
    maximum_bytes_billed: int | None = None


def _param_record(p) -> tuple[str, Any]:
    if isinstance(p, bigquery.ArrayQueryParameter):
        return f"ARRAY<{p.array_type}>", list(p.values)
    assert isinstance(p, bigquery.ScalarQueryParameter), p
    return p.type_, p.value


class _QueryJob:
    """What client.query() returns: result() gives the rows, in pages if asked."""

    total_bytes_billed = BYTES_PER_QUERY

    def __init__(self, rows: list, error: Exception | None) -> None:
        self._rows, self._error = rows, error

    def result(self, page_size: int | None = None) -> _Rows:
        if self._error is not None:
            raise self._error
        return _Rows(self._rows, page_size)


class _Rows:
    """Like the client's RowIterator: iterate the rows, or read them `pages` at a time."""

    def __init__(self, rows: list, page_size: int | None) -> None:
        self._rows, self.page_size = rows, page_size

    def __iter__(self):
        return iter(self._rows)

    @property
    def schema(self) -> list[bigquery.SchemaField]:
        """The result's columns, as far as its rows tell (a fake knows no types; an empty result, no columns)."""
        return [bigquery.SchemaField(name, "STRING") for name in (self._rows[0].keys() if self._rows else ())]

    @property
    def pages(self):
        size = self.page_size or max(len(self._rows), 1)
        return iter([self._rows[i:i + size] for i in range(0, len(self._rows), size)])


class FakeBigQueryClient:
    """Records every job in order. `rows` maps a SQL fragment to the rows a query containing it
    returns; `fail` maps a SQL fragment to (when, error, times): its query raises the error at
    query() or result(), the first `times` times (always when times is None)."""

    def __init__(self, tables: dict[str, list[str]] | None = None, project: str = "adc-project-77") -> None:
        self.project = project
        self.jobs: list[Job] = []
        self.tables = {k: list(v) for k, v in (tables or {}).items()}
        self.rows: dict[str, list[bigquery.Row]] = {}
        self.fail: dict[str, tuple[str, Exception, int | None]] = {}

    @property
    def queries(self) -> list[Job]:
        return [j for j in self.jobs if j.kind == "query"]

    def query(self, sql, job_config=None, location=None, **kwargs):
        assert not kwargs, kwargs
        assert isinstance(job_config, bigquery.QueryJobConfig)
        params = job_config.query_parameters or []
        wire = [p.to_api_repr() for p in params]
        json.dumps(wire)  # what the real client sends must be JSON
        self.jobs.append(Job(
            "query", sql=sql, params={p.name: _param_record(p) for p in params}, wire_params=wire, location=location,
            labels=dict(job_config.labels or {}), maximum_bytes_billed=job_config.maximum_bytes_billed,
        ))
        self._remember_created_table(sql)
        for fragment, (when, error, times) in self.fail.items():
            if fragment in sql and times != 0:
                if times is not None:
                    self.fail[fragment] = (when, error, times - 1)
                if when == "query":
                    raise error
                return _QueryJob([], error)
        rows = next((r for fragment, r in self.rows.items() if fragment in sql), [])
        return _QueryJob(rows, None)

    def _remember_created_table(self, sql: str) -> None:
        """Like BigQuery, a CREATE TABLE IF NOT EXISTS makes the table get_table then describes."""
        import sqlglot
        from sqlglot import exp

        statement = sqlglot.parse_one(sql, read="bigquery")
        if isinstance(statement, exp.Create) and statement.kind == "TABLE":
            table = statement.find(exp.Table)
            name = ".".join(p for p in (table.catalog, table.db, table.name) if p)
            columns = [(c.name, c.args["kind"].sql("bigquery")) for c in statement.find_all(exp.ColumnDef)]
            if columns:
                self.tables.setdefault(name, columns)

    def create_dataset(self, dataset, exists_ok=False, **kwargs):
        assert isinstance(dataset, bigquery.Dataset)
        self.jobs.append(
            Job("create_dataset", dataset=f"{dataset.project}.{dataset.dataset_id}", location=dataset.location, exists_ok=exists_ok)
        )
        return dataset

    def get_table(self, table_id):
        if table_id not in self.tables:
            raise google_errors.NotFound(f"Not found: Table {table_id}")
        # A column is a name (a STRING column) or (name, type) or (name, type, mode).
        columns = [(c, "STRING") if isinstance(c, str) else c for c in self.tables[table_id]]
        return types.SimpleNamespace(schema=[bigquery.SchemaField(*c) for c in columns])

    def insert_rows_json(self, table, json_rows, row_ids=None, **kwargs):
        assert not kwargs, kwargs
        json.dumps(json_rows)  # the real client sends the rows as JSON
        assert row_ids is not None and len(row_ids) == len(json_rows)
        self.jobs.append(Job("stream", destination=table, rows=list(json_rows), row_ids=list(row_ids)))
        return []  # no per-row errors


def row(**values) -> bigquery.Row:
    return bigquery.Row(tuple(values.values()), {k: i for i, k in enumerate(values)})

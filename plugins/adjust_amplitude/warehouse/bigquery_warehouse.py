"""BigQuery as the warehouse: the SQL files run as written, values as typed query parameters."""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adjust_amplitude import sql_templates
from adjust_amplitude.warehouse.base import ColumnType, Warehouse, WarehouseError, used_parameters

log = logging.getLogger(__name__)

SERIALIZATION_ATTEMPTS = 8
ALL_ROWS = 2**62  # the page size that reads every row in one job
EXPORT_PAGE_ROWS = 10_000  # rows of an export's results held at a time


def _extra(extras: dict[str, Any], key: str) -> Any:
    # The Google provider's UI stores extras with a long prefix; plain keys are what people type.
    return extras.get(key) or extras.get(f"extra__google_cloud_platform__{key}")


class BigQueryWarehouse(Warehouse):
    engine = "bigquery"

    def __init__(self, project: str | None, location: str | None, client: Any = None, credentials_factory=None) -> None:
        super().__init__()
        self.project = project
        self.location = location
        self._client = client
        self._credentials_factory = credentials_factory

    @classmethod
    def from_extras(cls, extras: dict[str, Any]) -> BigQueryWarehouse:
        project = _extra(extras, "project")
        location = _extra(extras, "location")
        key_path = _extra(extras, "key_path")
        keyfile = _extra(extras, "keyfile_dict")

        def credentials():
            from google.oauth2 import service_account

            if keyfile:
                info = json.loads(keyfile) if isinstance(keyfile, str) else keyfile
                return service_account.Credentials.from_service_account_info(info)
            if key_path:
                return service_account.Credentials.from_service_account_file(key_path)
            return None  # Application Default Credentials

        return cls(project=project, location=location, credentials_factory=credentials)

    def describe(self) -> str:
        return f"BigQuery project {self.project or '(default)'} location {self.location or '(default)'}"

    @property
    def client(self):
        if self._client is None:
            from google.cloud import bigquery

            credentials = self._credentials_factory() if self._credentials_factory else None
            self._client = bigquery.Client(project=self.project, credentials=credentials, location=self.location)
        return self._client

    def _job_config(self, name: str, params: dict[str, Any]):
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            query_parameters=[query_parameter(k, v) for k, v in params.items()],
            labels={**dict(self.job_options.labels), "statement": name},
        )
        if self.job_options.maximum_bytes_billed is not None:  # the client would send None as the text "None"
            config.maximum_bytes_billed = self.job_options.maximum_bytes_billed
        return config

    def _execute(self, name: str, bigquery_sql: str, params: dict[str, Any]) -> None:
        self._run(name, bigquery_sql, params)

    def _query(self, name: str, bigquery_sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return [dict(row.items()) for row in self._run(name, bigquery_sql, params)]

    def _export(self, name: str, bigquery_sql: str, params: dict[str, Any], path: Path, fmt: str) -> int:
        """One job; its results read a page at a time and written from here (EXPORT DATA would
        write to Cloud Storage, not to the report folder)."""
        rows = self._run(name, bigquery_sql, params, page_size=EXPORT_PAGE_ROWS)
        written = 0
        with open(path, "w", encoding="utf-8", newline="") as out:
            if fmt == "csv":
                writer = csv.writer(out, lineterminator="\r\n")
                writer.writerow([field.name for field in rows.schema])
                for row in rows:
                    writer.writerow(["" if v is None else v for v in row.values()])
                    written += 1
            else:
                for row in rows:
                    out.write(f"{row[0]}\n")
                    written += 1
        return written

    def pages(self, name: str, params: dict[str, Any], page_size: int, **context: Any):
        """One job for all the rows, its results read a page at a time (no job per page)."""
        sql = sql_templates.render(name, **context)
        everything = {**params, "after_key": "", "page_size": ALL_ROWS}
        rows = self._run(name, sql, used_parameters(sql, everything), page_size=page_size)
        for page in rows.pages:
            yield [dict(row.items()) for row in page]

    def _run(self, name: str, bigquery_sql: str, params: dict[str, Any], page_size: int | None = None):
        """Run one job. A DML statement that lost a race with another run's DML on the same
        table ("Could not serialize access ... due to concurrent update") changed nothing, so it
        runs again after a pause; every statement the pipeline runs is idempotent besides."""
        from google.api_core import exceptions as google_errors

        for attempt in range(1, SERIALIZATION_ATTEMPTS + 1):
            try:
                job = self.client.query(bigquery_sql, job_config=self._job_config(name, params), location=self.location)
                rows = job.result(page_size=page_size)
            except google_errors.GoogleAPIError as exc:
                self.usage.add(None)
                if "could not serialize access" in str(exc).lower() and attempt < SERIALIZATION_ATTEMPTS:
                    pause = min(2.0 ** attempt, 60.0) * (0.5 + random.random())
                    log.warning("%s.sql lost a race with another run's update (attempt %d); again in %.1f s",
                                name, attempt, pause)
                    time.sleep(pause)
                    continue
                raise WarehouseError(f"{name}.sql failed on {self.describe()}: {exc}") from exc
            self.usage.add(getattr(job, "total_bytes_billed", None))
            return rows
        raise AssertionError("unreachable")

    def ensure_dataset(self, dataset: str) -> None:
        from google.cloud import bigquery

        # Without a project in the Connection, the client's own (from the credentials) qualifies it.
        ref = dataset if "." in dataset else f"{self.project or self.client.project}.{dataset}"
        spec = bigquery.Dataset(ref)
        if self.location:
            spec.location = self.location
        self.client.create_dataset(spec, exists_ok=True)

    def drop_stale_stages(self, dataset: str) -> None:
        """Nothing to do, and nothing safe to do: BigQuery deletes a stage table a day after it was
        made (its expiration, stage_adjust_rows.sql), and with no lock between runs a stage table
        found here may be another run's, staging at this moment."""

    def columns(self, table: str) -> dict[str, ColumnType] | None:
        from google.api_core import exceptions as google_errors

        try:
            found = self.client.get_table(table)
        except google_errors.NotFound:
            return None
        return {field.name.lower(): _column_type(field) for field in found.schema}

    def append_rows(self, table: str, rows: Sequence[dict[str, Any]], row_ids: Sequence[str]) -> None:
        """Streaming insert: no job and no DML, so any number of appends a day fits BigQuery's
        quotas. The row ids let BigQuery drop a repeated insert of the same rows."""
        from google.api_core import exceptions as google_errors

        if not rows:
            return
        payload = [{k: _json_value(v) for k, v in row.items()} for row in rows]
        try:
            errors = self.client.insert_rows_json(table, payload, row_ids=list(row_ids))
        except google_errors.GoogleAPIError as exc:
            raise WarehouseError(f"appending {len(rows)} rows to {table} failed on {self.describe()}: {exc}") from exc
        if errors:
            raise WarehouseError(f"BigQuery refused rows appended to {table}: {errors[:3]}")


# The table API names types by their legacy names (INTEGER, FLOAT, BOOLEAN, RECORD) or by
# Standard SQL's; both map to one kind.
_KINDS = {"INTEGER": "integer", "INT64": "integer", "FLOAT": "number", "FLOAT64": "number", "NUMERIC": "number",
          "BIGNUMERIC": "number", "STRING": "text", "TIMESTAMP": "timestamp", "DATETIME": "naive_timestamp", "DATE": "date"}


def _column_type(field) -> ColumnType:
    name = field.field_type.upper()
    if field.mode == "REPEATED":
        return ColumnType(f"ARRAY<{name}>", "other")
    return ColumnType(name, _KINDS.get(name, "other"))


def query_parameter(name: str, value: Any):
    """The typed parameter BigQuery receives for a Python value (the ZetaSQL check declares these)."""
    from google.cloud import bigquery

    if isinstance(value, (list, tuple)):
        return bigquery.ArrayQueryParameter(name, "STRING", list(value))
    return bigquery.ScalarQueryParameter(name, _scalar_type(name, value), value)


def _scalar_type(name: str, value: Any) -> str:
    if value is None:
        return "STRING"
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise WarehouseError(f"naive datetime for @{name}")
        return "TIMESTAMP"
    if isinstance(value, dt.date):
        return "DATE"
    if isinstance(value, str):
        return "STRING"
    raise WarehouseError(f"no BigQuery type for @{name} of type {type(value).__name__}")


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value

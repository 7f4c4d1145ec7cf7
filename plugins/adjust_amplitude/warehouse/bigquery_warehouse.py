"""BigQuery as the warehouse: the SQL files run as written, values as typed query parameters."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from typing import Any

from adjust_amplitude.warehouse.base import Warehouse, WarehouseError

log = logging.getLogger(__name__)


def _extra(extras: dict[str, Any], key: str) -> Any:
    # The Google provider's UI stores extras with a long prefix; plain keys are what people type.
    return extras.get(key) or extras.get(f"extra__google_cloud_platform__{key}")


class BigQueryWarehouse(Warehouse):
    engine = "bigquery"

    def __init__(self, project: str | None, location: str | None, client: Any = None, credentials_factory=None) -> None:
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

    def _job_config(self, params: dict[str, Any]):
        from google.cloud import bigquery

        return bigquery.QueryJobConfig(query_parameters=[query_parameter(k, v) for k, v in params.items()])

    def _execute(self, name: str, bigquery_sql: str, params: dict[str, Any]) -> None:
        self._run(name, bigquery_sql, params)

    def _query(self, name: str, bigquery_sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return [dict(row.items()) for row in self._run(name, bigquery_sql, params)]

    def _run(self, name: str, bigquery_sql: str, params: dict[str, Any]):
        from google.api_core import exceptions as google_errors

        try:
            job = self.client.query(bigquery_sql, job_config=self._job_config(params), location=self.location)
            return job.result()
        except google_errors.GoogleAPIError as exc:
            raise WarehouseError(f"{name}.sql failed on {self.describe()}: {exc}") from exc

    def ensure_dataset(self, dataset: str) -> None:
        from google.cloud import bigquery

        # Without a project in the Connection, the client's own (from the credentials) qualifies it.
        ref = dataset if "." in dataset else f"{self.project or self.client.project}.{dataset}"
        spec = bigquery.Dataset(ref)
        if self.location:
            spec.location = self.location
        self.client.create_dataset(spec, exists_ok=True)

    def columns(self, table: str) -> set[str] | None:
        from google.api_core import exceptions as google_errors

        try:
            found = self.client.get_table(table)
        except google_errors.NotFound:
            return None
        return {field.name.lower() for field in found.schema}

    def append_rows(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        from google.cloud import bigquery

        if not rows:
            return
        config = bigquery.LoadJobConfig(write_disposition=bigquery.WriteDisposition.WRITE_APPEND)
        payload = [{k: _json_value(v) for k, v in row.items()} for row in rows]
        self.client.load_table_from_json(payload, table, job_config=config, location=self.location).result()


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

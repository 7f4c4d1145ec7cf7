"""Pick the backend from the `adjust_amplitude_warehouse` Connection, read when a task runs."""

from __future__ import annotations

from pathlib import PurePosixPath

from adjust_amplitude.config import WAREHOUSE_CONN_ID
from adjust_amplitude.warehouse.base import Warehouse, WarehouseConnectionError

BIGQUERY_CONN_TYPES = {"google_cloud_platform", "gcpbigquery", "bigquery"}


def warehouse_from_connection(conn_id: str = WAREHOUSE_CONN_ID) -> Warehouse:
    from airflow.sdk import BaseHook
    from airflow.exceptions import AirflowNotFoundException  # the SDK's own from 3.2; its home on 3.1

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        # No default: a DuckDB file on one worker's disk would be a different, empty warehouse on
        # the next worker of a managed platform, and the run would fail far from the cause.
        raise WarehouseConnectionError(
            f"Connection {conn_id} is not set, so the sync does not know its warehouse. Add it: conn_type "
            f"google_cloud_platform with extras project and location for BigQuery, or conn_type duckdb with host = "
            f"the absolute path of a .duckdb file (README: Configuration)"
        ) from None
    return warehouse_for(conn.conn_type, conn.host, conn.extra_dejson, conn_id)


def warehouse_for(conn_type: str | None, host: str | None, extras: dict, conn_id: str = WAREHOUSE_CONN_ID) -> Warehouse:
    kind = (conn_type or "").lower()
    if kind == "duckdb":
        from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse

        if not host or not PurePosixPath(host).is_absolute():
            raise WarehouseConnectionError(
                f"Connection {conn_id} (duckdb) needs host = the absolute path of the .duckdb file, not {host!r}: "
                f"a relative one would depend on each process's working folder"
            )
        return DuckDBWarehouse(
            host,
            lock_timeout_seconds=float(extras.get("lock_timeout_seconds", 3600)),
            memory_limit=str(extras.get("memory_limit", "1GB")),
            threads=extras.get("threads"),
        )
    if kind in BIGQUERY_CONN_TYPES:
        from adjust_amplitude.warehouse.bigquery_warehouse import BigQueryWarehouse

        return BigQueryWarehouse.from_extras(extras)
    hint = ""
    if kind == "generic":
        # What `airflow connections add --conn-type duckdb` stores: no installed provider registers
        # the duckdb type, so the CLI replaces it (with only a warning).
        hint = (" ('generic' is what the Airflow CLI stores for --conn-type duckdb; add the Connection with "
                "--conn-json '{\"conn_type\": \"duckdb\", \"host\": \"/path/to/warehouse.duckdb\"}' instead)")
    raise WarehouseConnectionError(
        f"Connection {conn_id} has conn_type {conn_type!r}; use 'duckdb' or 'google_cloud_platform'{hint}"
    )

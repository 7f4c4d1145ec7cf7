"""Pick the backend from the `adjust_amplitude_warehouse` Connection, read when a task runs."""

from __future__ import annotations

import logging

from adjust_amplitude.config import DEFAULT_DUCKDB_PATH, WAREHOUSE_CONN_ID
from adjust_amplitude.warehouse.base import Warehouse, WarehouseError

log = logging.getLogger(__name__)

BIGQUERY_CONN_TYPES = {"google_cloud_platform", "gcpbigquery", "bigquery"}


def warehouse_from_connection(conn_id: str = WAREHOUSE_CONN_ID) -> Warehouse:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse

        log.info("Connection %s is not set: using the embedded DuckDB warehouse %s", conn_id, DEFAULT_DUCKDB_PATH)
        return DuckDBWarehouse(DEFAULT_DUCKDB_PATH)
    return warehouse_for(conn.conn_type, conn.host, conn.extra_dejson, conn_id)


def warehouse_for(conn_type: str | None, host: str | None, extras: dict, conn_id: str = WAREHOUSE_CONN_ID) -> Warehouse:
    kind = (conn_type or "").lower()
    if kind == "duckdb":
        from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse

        if not host:
            raise WarehouseError(f"Connection {conn_id} (duckdb) needs host = the absolute path of the .duckdb file")
        return DuckDBWarehouse(
            host,
            lock_timeout_seconds=float(extras.get("lock_timeout_seconds", 3600)),
            memory_limit=str(extras.get("memory_limit", "1GB")),
            threads=extras.get("threads"),
        )
    if kind in BIGQUERY_CONN_TYPES:
        from adjust_amplitude.warehouse.bigquery_warehouse import BigQueryWarehouse

        return BigQueryWarehouse.from_extras(extras)
    raise WarehouseError(
        f"Connection {conn_id} has conn_type {conn_type!r}; use 'duckdb' or 'google_cloud_platform'"
    )

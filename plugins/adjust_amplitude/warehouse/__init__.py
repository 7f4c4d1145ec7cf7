"""The warehouse behind the `adjust_amplitude_warehouse` Connection: DuckDB or BigQuery.

Task code talks to `Warehouse` only and never asks which engine it is.
"""

from __future__ import annotations

from adjust_amplitude.warehouse.base import Warehouse, WarehouseError
from adjust_amplitude.warehouse.factory import warehouse_from_connection

__all__ = ["Warehouse", "WarehouseError", "warehouse_from_connection"]

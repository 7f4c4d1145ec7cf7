"""The rule tests run on DuckDB with every statement also checked by ZetaSQL: analysed as BigQuery
SQL, and what it reads run on ZetaSQL's reference engine with results equal to DuckDB's
(support/checked_warehouse.py). `--plain-duckdb` (make test-fast) runs them on DuckDB alone."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def rule_warehouse(request):
    """The warehouse class the rule tests run on."""
    from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse

    if request.config.getoption("plain_duckdb"):
        return DuckDBWarehouse
    from checked_warehouse import CheckedWarehouse

    return CheckedWarehouse


@pytest.fixture
def checked_against_zetasql(monkeypatch, rule_warehouse):
    """run_day (support/pipeline_helpers.py) on the rule tests' warehouse."""
    import pipeline_helpers

    monkeypatch.setattr(pipeline_helpers, "WAREHOUSE", rule_warehouse)

"""Every statement reads and changes only the partitions it needs: each reference to a partitioned
output table, to the Amplitude export (partitioned by event_time) and to a partitioned Adjust
table carries a filter on the partition column, with nothing but parameters and constants on its
other side, in the WHERE of the query reading it (or the ON of a MERGE, the WHERE of an UPDATE
changing it), outside any OR. Without one, BigQuery bills the whole table, and a run's cost grows
with history. The partitioned tables and their columns come from the DDL itself."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlglot
from sqlglot import exp

from adjust_amplitude import sql_templates
from adjust_amplitude.config import ADJUST_COLUMNS, Settings
from adjust_amplitude.tables import run_tables

DAY = dt.date(2026, 11, 20)
ADJUST_PARTITION = {"column": "partition_day", "kind": "date"}
COMPARISONS = (exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between)


def _context() -> dict:
    t = run_tables(Settings(), DAY, "run").quoted()
    return {"t": t, "adjust_columns": ADJUST_COLUMNS, "present": set(ADJUST_COLUMNS), "created_at_kind": "integer",
            "adjust_partition": ADJUST_PARTITION, "dataset": "`attribution`", "table": t.journal,
            "columns": ["row_key", "outcome"]}


def partitioned_tables() -> dict[str, str]:
    """dataset.table -> partition column: the output tables' from their CREATE statements, the
    Amplitude export's (event_time), and the Adjust table's when adjust_partition_column is set."""
    found = {"amplitude.events": "event_time", "adjust.raw_events": ADJUST_PARTITION["column"]}
    for name in sql_templates.statement_names():
        if not name.startswith("create_"):
            continue
        create = sqlglot.parse_one(sql_templates.render(name, **_context()), read="bigquery")
        partition = create.find(exp.PartitionedByProperty)
        if partition is not None:
            found[_name(create.find(exp.Table))] = partition.this.name
    return found


def _name(table: exp.Table) -> str:
    return f"{table.db}.{table.name}"  # a CTE's name has no dataset


def _conjuncts(condition: exp.Expression | None) -> list[exp.Expression]:
    if condition is None:
        return []
    if isinstance(condition, exp.And):
        return _conjuncts(condition.this) + _conjuncts(condition.expression)
    if isinstance(condition, exp.Paren):
        return _conjuncts(condition.this)
    return [condition]


def _is_partition_column(node: exp.Expression, alias: str, column: str) -> bool:
    while isinstance(node, exp.Cast):
        node = node.this
    return isinstance(node, exp.Column) and node.name.lower() == column and node.table in ("", alias)


def _bounds(condition: exp.Expression | None, alias: str, column: str) -> bool:
    """A conjunct of `condition` compares the partition column with parameters and constants only."""
    for part in _conjuncts(condition):
        if not isinstance(part, COMPARISONS):
            continue
        sides = [part.this, *(part.args[k] for k in ("expression", "low", "high") if part.args.get(k) is not None)]
        if _is_partition_column(sides[0], alias, column) and not any(s.find(exp.Column) for s in sides[1:]):
            return True
    return False


def unfiltered_reads(sql: str, partitioned: dict[str, str]) -> list[str]:
    """Each reference to a partitioned table in `sql` lacking a partition filter, described."""
    statement = sqlglot.parse_one(sql, read="bigquery")
    if isinstance(statement, (exp.Create, exp.Drop, exp.Insert)) and not statement.find(exp.Select):
        return []  # DDL, or an INSERT of values: no table is read
    missing = []
    for table in statement.find_all(exp.Table):
        column = partitioned.get(_name(table))
        if column is None:
            continue
        alias = table.alias_or_name
        parent = table.parent
        if isinstance(parent, exp.Merge) and parent.this is table:
            condition, where = parent.args.get("on"), "MERGE ... ON"
        elif isinstance(parent, exp.Update) and parent.this is table:
            condition, where = parent.args.get("where") and parent.args["where"].this, "UPDATE ... WHERE"
        elif isinstance(parent, (exp.Create, exp.Insert)):
            continue  # the table written, not read
        else:
            select = table.find_ancestor(exp.Select)
            where_clause = select.args.get("where") if select else None
            condition, where = (where_clause.this if where_clause else None), "the WHERE reading it"
        if not _bounds(condition, alias, column):
            missing.append(f"{_name(table)} (as {alias}) has no filter on {column} in {where}")
    return missing


def test_the_output_tables_are_partitioned_as_documented():
    partitioned = partitioned_tables()
    assert partitioned == {
        "attribution.sync_ledger": "adjust_day", "attribution.rejected_rows": "adjust_day",
        "attribution.discrepancy_rows": "closed_run_day", "attribution.discrepancy_summary": "adjust_day",
        "attribution.push_journal": "run_day", "amplitude.events": "event_time", "adjust.raw_events": "partition_day"}


@pytest.mark.parametrize("name", [n for n in sql_templates.statement_names() if n != "insert_rows"])
def test_every_statement_filters_each_partitioned_table_it_reads_or_changes(name):
    sql = sql_templates.render(name, **_context())
    assert unfiltered_reads(sql, partitioned_tables()) == []


def _drop(name: str, text: str) -> str:
    sql = sql_templates.render(name, **_context())
    assert text in sql
    return sql.replace(text, "")


@pytest.mark.parametrize("name, text", [
    ("match_pending_rows", "adjust_day BETWEEN @open_from_day AND @run_day\n      AND "),  # a CTE's read
    ("match_pending_rows", " AND ledger.adjust_day BETWEEN @open_from_day AND @run_day"),  # a MERGE's target
    ("close_windows", "adjust_day BETWEEN @open_from_day AND @run_day\n  AND "),  # an UPDATE
    ("claim_rows_to_send", "run_day >= @open_from_day AND outcome IN"),  # a subquery
    ("select_newest_amplitude_event", "WHERE CAST(event_time AS TIMESTAMP) > TIMESTAMP_SECONDS(@read_after)"),
])
def test_a_statement_without_its_filter_is_caught(name, text):
    sql = _drop(name, text)
    assert unfiltered_reads(sql, partitioned_tables())


def test_a_filter_under_an_or_or_against_a_column_does_not_count():
    partitioned = {"a.sync_ledger": "adjust_day"}
    assert unfiltered_reads("SELECT 1 FROM a.sync_ledger WHERE adjust_day >= @d OR status = 'x'", partitioned)
    assert unfiltered_reads("SELECT 1 FROM a.sync_ledger WHERE adjust_day >= first_seen_run_day", partitioned)
    assert not unfiltered_reads("SELECT 1 FROM a.sync_ledger WHERE status = 'x' AND adjust_day >= @d", partitioned)


def test_the_adjust_read_is_pruned_only_when_a_partition_column_is_set():
    partitioned = partitioned_tables()
    plain = sql_templates.render("stage_adjust_rows", **{**_context(), "adjust_partition": None})
    assert unfiltered_reads(plain, partitioned) == ["adjust.raw_events (as src) has no filter on partition_day in the WHERE reading it"]

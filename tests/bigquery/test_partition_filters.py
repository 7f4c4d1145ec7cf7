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
from adjust_amplitude.run import Plan, Run
from adjust_amplitude.tables import run_tables

DAY = dt.date(2026, 11, 20)
ADJUST_PARTITION = {"column": "partition_day", "kind": "date"}
COMPARISONS = (exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between)


def _context() -> dict:
    t = run_tables(Settings(), DAY, "run").quoted()
    return {"t": t, "present": set(ADJUST_COLUMNS), "created_at_kind": "integer",
            "adjust_partition": ADJUST_PARTITION, "dataset": "`attribution`", "table": t.journal,
            "columns": ["row_key", "outcome"], "column": "google_app_set_id", "type": "STRING"}


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
    if isinstance(statement, (exp.Create, exp.Drop, exp.Insert, exp.Alter)) and not statement.find(exp.Select):
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
        elif isinstance(parent, (exp.Update, exp.Delete)) and parent.this is table:
            kind = "UPDATE" if isinstance(parent, exp.Update) else "DELETE"
            condition, where = parent.args.get("where") and parent.args["where"].this, f"{kind} ... WHERE"
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
        "attribution.push_journal": "run_day", "attribution.notification_log": "report_day",
        "amplitude.events": "event_time", "adjust.raw_events": "partition_day"}


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
    ("claim_rows_to_send", " AND decision.run_day >= @open_from_day"),  # a correlated subquery
    ("delete_reopened_rejections", " AND adjust_day >= @open_from_day"),  # a DELETE
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


# --- the settings and checks that choose what a run reads --------------------------------------------

@pytest.mark.parametrize("values, message", [
    ({"open_days": 5}, r"open_days = 5 must be at least lookback_days \+ the window in days \+ 1 = 6"),
    ({"open_days": 8, "lookback_days": 5}, "= 9"),
    ({"adjust_partition_column": "day; DROP TABLE x"}, "adjust_partition_column .* is not a column name"),
    ({"max_devices_per_identifier": 0}, "max_devices_per_identifier must be at least 1"),
    ({"amplitude_late_days": -1}, "amplitude_late_days must be 0 or more"),
])
def test_settings_that_bound_the_reads_are_validated(values, message):
    from adjust_amplitude.config import SettingsError

    with pytest.raises(SettingsError, match=message):
        Settings(**values)
    assert Settings(open_days=6).open_days == 6  # the least allowed by default


def test_the_adjust_partition_column_is_checked_against_the_table():
    from adjust_amplitude.input_contract import InputError, check_partition_column
    from adjust_amplitude.warehouse.base import ColumnType

    found = {"created_at": ColumnType("BIGINT", "integer"), "loaded": ColumnType("DATE", "date"),
             "note": ColumnType("VARCHAR", "text")}
    assert check_partition_column(None, "adjust.raw_events", found) is None
    assert check_partition_column("Loaded", "adjust.raw_events", found) == {"column": "loaded", "kind": "date"}
    assert check_partition_column("_partitiontime", "adjust.raw_events", found) == {"column": "_PARTITIONTIME",
                                                                                     "kind": "timestamp"}
    with pytest.raises(InputError, match="adjust_partition_column nope is not a column of adjust_table adjust.raw_events"):
        check_partition_column("nope", "adjust.raw_events", found)
    with pytest.raises(InputError, match="adjust_partition_column note of adjust_table adjust.raw_events is VARCHAR"):
        check_partition_column("note", "adjust.raw_events", found)


def test_staging_reads_only_the_partitions_of_its_read_window(tmp_path):
    """With adjust_partition_column, a row in a partition outside [D - lookback, D + 1] is not read,
    even one created on D, and neither is a row whose created_at is no time."""
    import duckdb

    from adjust_amplitude import pipeline
    from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse
    from pipeline_helpers import adjust_row, ledger, query, write_inputs

    db = tmp_path / "w.duckdb"
    rows = {"on-time": 0, "a-day-late": 1, "two-days-late": 2, "from-the-lookback": -2}
    write_inputs(db, [adjust_row(adid=a) for a in rows] + [adjust_row(adid="no-time", created_at=None)], [])
    with duckdb.connect(str(db)) as con:
        con.execute("ALTER TABLE adjust.raw_events ADD COLUMN loaded DATE")
        for adid, offset in rows.items():
            con.execute("UPDATE adjust.raw_events SET loaded = ? WHERE adid = ?", [DAY + dt.timedelta(days=offset), adid])
        con.execute("UPDATE adjust.raw_events SET loaded = ? WHERE adid = 'no-time'", [DAY - dt.timedelta(days=40)])
    s = Settings(report_dir=str(tmp_path / "r"), adjust_partition_column="loaded", max_invalid_ratio=1.0)
    plan = Plan(DAY, "r", s, dry_run=True)
    run = Run(plan, warehouse=DuckDBWarehouse(db))
    pipeline.prepare_outputs(run)
    pipeline.stage_rows(run, pipeline.check_inputs(run))
    assert sorted(r["adid"] for r in ledger(db).values()) == ["a-day-late", "from-the-lookback", "on-time"]
    assert query(db, "SELECT COUNT(*) AS n FROM attribution.rejected_rows")[0]["n"] == 0


def test_a_row_still_pending_on_the_oldest_open_day_fails_the_run_after_its_report(tmp_path):
    """The Amplitude export holds nothing: the row's window never closes. Ten days on it lies on
    the oldest day a run reads; that run writes its report, then fails naming the row's day."""
    from adjust_amplitude import pipeline
    from pipeline_helpers import adjust_row, run_day, write_inputs

    db = tmp_path / "w.duckdb"
    write_inputs(db, [adjust_row(adid="waiting", idfv="V1")], [])
    s = Settings(report_dir=str(tmp_path / "reports"), max_invalid_ratio=1.0)
    run_day(db, DAY, settings=s)
    run_day(db, DAY + dt.timedelta(days=9), settings=s)  # the row's day is open, and not the oldest
    with pytest.raises(pipeline.OpenRowsError, match=f"1 rows of {DAY} are still pending"):
        run_day(db, DAY + dt.timedelta(days=10), settings=s)
    assert (tmp_path / "reports" / f"discrepancy_{DAY + dt.timedelta(days=10)}.html").exists()

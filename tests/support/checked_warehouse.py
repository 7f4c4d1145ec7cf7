"""DuckDB as the warehouse, with every statement also checked as BigQuery would see it.

`CheckedWarehouse` runs the pipeline on DuckDB, the embedded twin, and for each statement:

- analyses the BigQuery SQL with ZetaSQL against a catalog of the tables as BigQuery would hold
  them (output and scratch tables from the analysed DDL, input tables from their DuckDB types),
  each query parameter declared with the type the BigQuery backend sends for its value;
- runs what the statement reads (a SELECT, the source of a MERGE, the query of a CREATE TABLE AS
  SELECT), or an UPDATE, on ZetaSQL's reference engine over the table contents DuckDB holds at
  that moment, and compares the rows (the UPDATEd table's rows after it) with DuckDB's as
  multisets, each value typed as BigQuery returns it.

Anything else is a `Divergence`: a bug in the SQL or in its translation to DuckDB.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from typing import Any

from adjust_amplitude import sql_templates
from adjust_amplitude.warehouse.base import used_parameters
from adjust_amplitude.warehouse.bigquery_warehouse import query_parameter
from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse
from zetasql.wasi._pb2.zetasql.resolved_ast.resolved_ast_enums_pb2 import ResolvedCreateStatementEnums
from zetasql_engine import Catalog, Path, ZetaSQLRejected, engine, flat_name, type_name

CREATE_OR_REPLACE = ResolvedCreateStatementEnums.CREATE_OR_REPLACE

# DuckDB's name of a column type -> the BigQuery type such a column would have.
DUCKDB_TO_BIGQUERY = {
    "VARCHAR": "STRING", "BIGINT": "INT64", "INTEGER": "INT64", "SMALLINT": "INT64", "TINYINT": "INT64",
    "HUGEINT": "INT64", "DOUBLE": "FLOAT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "DATE": "DATE",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP", "TIMESTAMP": "DATETIME", "JSON": "JSON",
    # DuckDB has no BIGNUMERIC; the demo's Amplitude export stands one in as DECIMAL(38,0) (vendor_schemas).
    "DECIMAL(38,0)": "BIGNUMERIC",
}
# The Python type of each BigQuery type's values, as the BigQuery client returns them.
PYTHON_TYPE = {"INT64": int, "FLOAT64": float, "BOOL": bool, "STRING": str, "DATE": dt.date, "TIMESTAMP": dt.datetime}
# Primary keys of the tables the pipeline UPDATEs: the reference engine names each changed row by it.
PRIMARY_KEYS = {"sync_ledger": ["row_key"], "rejected_rows": ["fingerprint", "stage"],
                "notification_log": ["report_day", "target", "message"]}
# Columns computed from the clock: each engine reads its own, so they are compared with the
# wall clock, not with each other.
CLOCK_COLUMNS = {"merge_run_record": {"finished_at"}, "record_notification": {"finished_at"}}


class Divergence(AssertionError):
    """ZetaSQL refused a statement, or its reference engine and DuckDB disagree."""


@dataclasses.dataclass
class Checked:
    """One check of one statement: `what` is "analysed" (then `kind` is the resolved statement's
    kind), or what was compared (with `rows`): "query", "merge source", "create table query",
    "table after the statement"."""

    name: str
    what: str
    kind: str = ""
    rows: int = 0


class CheckedWarehouse(DuckDBWarehouse):
    def __init__(self, path, record: list[Checked] | None = None, **kwargs) -> None:
        super().__init__(path, **kwargs)
        self.catalog = Catalog()
        self.checked: list[Checked] = [] if record is None else record

    # --- the ways the pipeline runs SQL -------------------------------------------------------

    def _execute(self, name: str, bigquery_sql: str, params: dict[str, Any]) -> None:
        statement = self._analyse(name, bigquery_sql, params)
        kind = _leaf(statement)
        if kind.DESCRIPTOR.name == "ResolvedMergeStmtProto":
            source = _source_of_merge(bigquery_sql)
            self._compare(name, "merge source", source, params, self._duckdb_rows(name, source, params))
        creates = kind.DESCRIPTOR.name in ("ResolvedCreateTableStmtProto", "ResolvedCreateTableAsSelectStmtProto")
        existed = creates and self.bigquery_types(tuple(_with_field(kind, "name_path").name_path)) is not None
        modifies = kind.DESCRIPTOR.name in ("ResolvedUpdateStmtProto", "ResolvedDeleteStmtProto", "ResolvedInsertStmtProto")
        if modifies:
            target = tuple(kind.table_scan.table.full_name.split("."))
            expected = self._modified_by_reference(name, bigquery_sql, params, target)
        super()._execute(name, bigquery_sql, params)
        if creates:
            self._created(name, bigquery_sql, params, kind, existed)
        elif modifies:
            self._agree(name, "table after the statement", [c for c, _ in self.catalog.tables[target]],
                        [type_name(t) for _, t in self.catalog.tables[target]], expected, self._contents(target))
        elif kind.DESCRIPTOR.name == "ResolvedDropStmtProto":
            self.catalog.tables.pop(tuple(kind.name_path), None)
        elif kind.DESCRIPTOR.name == "ResolvedAlterTableStmtProto":  # read again, with its new columns
            self.catalog.tables.pop(tuple(_with_field(kind, "name_path").name_path), None)

    def _query(self, name: str, bigquery_sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        self._analyse(name, bigquery_sql, params)
        columns, rows = self._duckdb_rows(name, bigquery_sql, params)
        self._compare(name, "query", bigquery_sql, params, (columns, rows))
        return [dict(zip(columns, row)) for row in rows]

    def _export(self, name: str, bigquery_sql: str, params: dict[str, Any], path, fmt: str) -> int:
        self._query(name, bigquery_sql, params)  # analysed, and its rows compared, as any query's
        return super()._export(name, bigquery_sql, params, path, fmt)

    # --- analysis -------------------------------------------------------------------------------

    def _analyse(self, name: str, bigquery_sql: str, params: dict[str, Any]):
        z = engine()
        # ZetaSQL names no table of an ALTER TABLE; its target is in the catalog all the same.
        for path in z.table_paths(bigquery_sql) or _altered_table(bigquery_sql):
            found = None if path in self.catalog.tables else self.bigquery_types(path)
            if found:  # an input table, or one an earlier run made: as DuckDB holds it
                self.catalog.tables[path] = [(c, z.type_named(t)) for c, t in found]
        try:
            statement = z.analyze(bigquery_sql, self.catalog, {k: z.type_named(bigquery_type(k, v)) for k, v in params.items()})
        except ZetaSQLRejected as error:
            raise Divergence(f"ZetaSQL does not accept {name}.sql as BigQuery SQL: {error}\n{bigquery_sql}") from None
        self.checked.append(Checked(name, "analysed", kind=_leaf(statement).DESCRIPTOR.name))
        return statement

    def _created(self, name: str, bigquery_sql: str, params: dict[str, Any], create, existed: bool) -> None:
        """A created table joins the catalog with the columns ZetaSQL gives it; a table DuckDB
        made must have the same column types, and a CREATE TABLE AS SELECT the same rows. (A
        CREATE TABLE IF NOT EXISTS leaves an existing table as it is: the pipeline checks it.)"""
        base = _with_field(create, "column_definition_list")
        path = tuple(_with_field(create, "name_path").name_path)
        columns = [(c.name, c.type) for c in base.column_definition_list]
        self.catalog.tables[path] = columns
        replaced = _with_field(create, "create_mode").create_mode == CREATE_OR_REPLACE
        if existed and not replaced:
            return
        found = [(c, t) for c, t in self.bigquery_types(path) or []]
        expected = [(c, type_name(t)) for c, t in columns]
        if found != expected:
            raise Divergence(f"{name}.sql: DuckDB made {'.'.join(path)} with columns {found}, BigQuery would have {expected}")
        if create.DESCRIPTOR.name == "ResolvedCreateTableAsSelectStmtProto":
            rows = [tuple(row) for row in self._contents(path)]
            self._compare(name, "create table query", _query_of_create(bigquery_sql), params, ([c for c, _ in columns], rows))

    # --- differential execution -----------------------------------------------------------------

    def _duckdb_rows(self, name: str, bigquery_sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple]]:
        cursor = self._run(name, bigquery_sql, used_parameters(bigquery_sql, params))
        return [d[0] for d in cursor.description], cursor.fetchall()

    def _reference_inputs(self, bigquery_sql: str, params: dict[str, Any]):
        """The statement with its tables under their flat names, the tables' contents as DuckDB
        holds them, and the parameters with the BigQuery backend's types."""
        z = engine()
        paths = z.table_paths(bigquery_sql)
        flat_sql = bigquery_sql
        for path in paths:
            flat_sql = flat_sql.replace(sql_templates.quote_table(".".join(path)), f"`{flat_name(path)}`")
        # The reference engine gets each table's rows in the reverse of DuckDB's order: a result
        # that depends on row order (a tie left unbroken) then shows up as a divergence.
        contents = {path: self._contents(path)[::-1] for path in paths}
        used = used_parameters(bigquery_sql, params)
        typed = {k: (z.type_named(bigquery_type(k, v)), _plain(v)) for k, v in used.items()}
        return flat_sql, paths, contents, typed

    def _compare(self, name: str, what: str, bigquery_sql: str, params: dict[str, Any],
                 duckdb: tuple[list[str], list[tuple]]) -> None:
        flat_sql, paths, contents, typed = self._reference_inputs(bigquery_sql, params)
        try:
            columns, rows = engine().evaluate(flat_sql, self.catalog, paths, contents, typed)
        except ZetaSQLRejected as error:
            raise Divergence(f"ZetaSQL's reference engine could not run the {what} of {name}.sql: {error}\n{bigquery_sql}") from None
        duckdb_columns, duckdb_rows = duckdb
        names = [c for c, _ in columns]
        if [c.lower() for c in duckdb_columns] != [c.lower() for c in names]:
            raise Divergence(f"{name}.sql ({what}): DuckDB returns columns {duckdb_columns}, BigQuery {names}")
        self._agree(name, what, names, [type_name(t) for _, t in columns], rows, duckdb_rows)

    def _modified_by_reference(self, name: str, bigquery_sql: str, params: dict[str, Any], target: Path) -> list[tuple]:
        """The target table as ZetaSQL's reference engine leaves it after the statement."""
        flat_sql, paths, contents, typed = self._reference_inputs(bigquery_sql, params)
        key = PRIMARY_KEYS.get(target[-1])
        if key is None:
            raise Divergence(f"{name}.sql changes {'.'.join(target)}: name its primary key in PRIMARY_KEYS")
        try:
            changes = engine().modify(flat_sql, self.catalog, paths, contents, typed, target, key)
        except ZetaSQLRejected as error:
            raise Divergence(f"ZetaSQL's reference engine could not run {name}.sql: {error}\n{bigquery_sql}") from None
        at = [c for c, _ in self.catalog.tables[target]]
        rows = {tuple(row[at.index(c)] for c in key): tuple(row) for row in map(_canonical, contents[target])}
        for operation, row, old_key in changes:
            rows.pop(old_key, None)
            if operation != "DELETE":
                rows[tuple(row[at.index(c)] for c in key)] = row
        return list(rows.values())

    def _agree(self, name: str, what: str, names: list[str], kinds: list[str], reference: list[tuple],
               duckdb: list[tuple]) -> None:
        """The same multiset of rows, each value of the type BigQuery returns."""
        clock = [i for i, c in enumerate(names) if c in CLOCK_COLUMNS.get(name, ())]
        expected = [_keep(row, clock, kinds, names, "BigQuery", name) for row in reference]
        actual = [_keep(_canonical(row), clock, kinds, names, "DuckDB", name) for row in duckdb]
        only_z = collections.Counter(expected) - collections.Counter(actual)
        only_d = collections.Counter(actual) - collections.Counter(expected)
        if only_z or only_d:
            raise Divergence(
                f"{name}.sql ({what}): ZetaSQL's reference engine and DuckDB disagree on {only_z.total()} "
                f"and {only_d.total()} of {len(reference)} / {len(duckdb)} rows. Columns {names}.\n"
                f"Only in ZetaSQL: {list(only_z.elements())[:5]}\nOnly in DuckDB: {list(only_d.elements())[:5]}"
            )
        self.checked.append(Checked(name, what, rows=len(reference)))

    # --- DuckDB's side --------------------------------------------------------------------------

    def bigquery_types(self, path: Path) -> list[tuple[str, str]] | None:
        """A DuckDB table's columns with the BigQuery type of each, or None when it does not exist."""
        found = self.connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
            "ORDER BY ordinal_position", [path[-2] if len(path) > 1 else "main", path[-1]],
        ).fetchall()
        if not found:
            return None
        unknown = [(c, t) for c, t in found if t not in DUCKDB_TO_BIGQUERY]
        if unknown:
            raise Divergence(f"{'.'.join(path)} has DuckDB column types with no BigQuery equivalent here: {unknown}")
        return [(c, DUCKDB_TO_BIGQUERY[t]) for c, t in found]

    def _contents(self, path: Path) -> list[list[Any]]:
        names = ", ".join(f'"{c}"' for c, _ in self.catalog.tables[path])
        return [list(row) for row in self.connection.execute(f"SELECT {names} FROM {_duckdb_table(path)}").fetchall()]


def bigquery_type(name: str, value: Any) -> str:
    """The type the BigQuery backend declares for this parameter value."""
    wire = query_parameter(name, value).to_api_repr()["parameterType"]
    return f"ARRAY<{wire['arrayType']['type']}>" if wire["type"] == "ARRAY" else wire["type"]


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _canonical(row: tuple) -> tuple:
    # DuckDB returns TIMESTAMPTZ in its session's time zone; BigQuery's client in UTC.
    return tuple(v.astimezone(dt.timezone.utc) if isinstance(v, dt.datetime) and v.tzinfo else v for v in row)


def _keep(row: tuple, clock: list[int], kinds: list[str], names: list[str], engine_name: str, statement: str) -> tuple:
    """The row with its values type-checked against BigQuery's types; clock columns are checked
    against the wall clock and left out."""
    now = dt.datetime.now(dt.timezone.utc)
    for i, (value, kind) in enumerate(zip(row, kinds)):
        if value is None:
            continue
        expected = PYTHON_TYPE.get(kind)
        wrong = expected is None or type(value) is not expected or (kind == "TIMESTAMP" and value.tzinfo is None)
        if wrong:
            raise Divergence(f"{statement}.sql: {engine_name} returns {names[i]} = {value!r} "
                             f"({type(value).__name__}) where BigQuery returns {kind}")
        if i in clock and abs(value - now) > dt.timedelta(minutes=10):
            raise Divergence(f"{statement}.sql: {engine_name}'s {names[i]} = {value} is not the current time")
    return tuple(v for i, v in enumerate(row) if i not in clock)


def _duckdb_table(path: Path) -> str:
    return ".".join(f'"{part}"' for part in path)


# --- finding parts of statements in ZetaSQL's trees ---------------------------------------------


def _leaf(message):
    """Through the `node` oneofs of a ZetaSQL tree wrapper to the concrete node."""
    while "node" in message.DESCRIPTOR.oneofs_by_name and message.WhichOneof("node"):
        message = getattr(message, message.WhichOneof("node"))
    return message


def _altered_table(sql: str) -> list[Path]:
    """The table an ALTER TABLE changes, or none."""
    import sqlglot
    from sqlglot import exp

    statement = sqlglot.parse_one(sql, read="bigquery")
    if not isinstance(statement, exp.Alter):
        return []
    return [tuple(part.name for part in statement.find(exp.Table).parts)]


def _with_field(message, field: str):
    """The node, or the first of its `parent`s, that has `field` (ZetaSQL's node inheritance)."""
    while field not in message.DESCRIPTOR.fields_by_name:
        message = message.parent
    return message


def _text(sql: str, node) -> str:
    where = _with_field(node, "parse_location_range").parse_location_range
    return sql.encode()[where.start:where.end].decode()


def _source_of_merge(sql: str) -> str:
    merge = _leaf(engine().parse(sql))
    source = _leaf(merge.table_expression)
    if source.DESCRIPTOR.name == "ASTTableSubqueryProto":
        return _text(sql, source.subquery)
    return f"SELECT * FROM {_text(sql, source.path_expr)}"


def _query_of_create(sql: str) -> str:
    return _text(sql, _leaf(engine().parse(sql)).query)

"""The SQL files of the package's sql/ folder: each renders to one valid BigQuery statement, translates to
DuckDB, and only ever receives validated identifiers through Jinja (values are parameters)."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

import jinja2
import jinja2.meta
import jinja2.nodes as jn
import pytest
import sqlglot
from sqlglot import exp

from adjust_amplitude import sql_templates
from adjust_amplitude.adjust_columns import FOR_TEMPLATES, AdjustColumn
from adjust_amplitude.warehouse.duckdb_sql import to_duckdb
from adjust_amplitude.config import (
    ADJUST_COLUMNS,
    ADJUST_OPTIONAL_COLUMNS,
    ADJUST_REQUIRED_COLUMNS,
    USER_PROPERTY_COLUMNS,
    Settings,
    SettingsError,
    validate_dataset_name,
    validate_table_name,
)
from adjust_amplitude.tables import RunTables, run_tables
from adjust_amplitude.warehouse.base import used_parameters
from project_files import REPO

DAY = dt.date(2026, 11, 20)
RUN_ID = "scheduled__2026-11-20T00:00:00+00:00"
STAGE = run_tables(Settings(), DAY, RUN_ID).stage.split(".")[-1]  # _stage_adjust_20261120_<run hash>
SQL_FILES = sorted(sql_templates.SQL_DIR.glob("*.sql"))
NAMES = [p.stem for p in SQL_FILES]

# Every context variable a template may use; all of them are identifiers (or column-name lists).
# created_at_kind only chooses between fixed SQL texts ({% if %}); it is never rendered. adjust_partition
# renders its column, a name the adjust_partition_column setting validated. add_column's column and
# type come from the package's own CREATE TABLE files (sql_templates.declared_columns).
ALLOWED_VARIABLES = {"t", "present", "dataset", "table", "columns", "created_at_kind", "adjust_partition",
                     "column", "type"}
# The Jinja globals: the package's own column definitions (adjust_columns, config), never a caller's.
DEFINITIONS = {"adjust", "user_property_columns"}
# What a template renders of a column of the definition (adjust_columns.AdjustColumn).
COLUMN_FIELDS = {"name", "ledger_type"}


def _context(settings: Settings | None = None, present=None) -> dict:
    t = run_tables(settings or Settings(), DAY, RUN_ID).quoted()
    return {
        "t": t,
        "present": set(ADJUST_COLUMNS) if present is None else present,
        "created_at_kind": "integer",
        "adjust_partition": None,
        "dataset": sql_templates.quote_table("my-project-123.attribution"),
        "table": t.journal,
        "columns": ["row_key", "outcome", "attempts"],
        "column": "google_app_set_id",
        "type": "STRING",
    }


def _parse(sql: str) -> list[exp.Expression]:
    return sqlglot.parse(sql, read="bigquery", error_level=sqlglot.ErrorLevel.RAISE)


def test_there_are_sql_files():
    assert len(NAMES) >= 20
    assert NAMES == sql_templates.statement_names()


@pytest.mark.parametrize("name", NAMES)
def test_renders_to_exactly_one_bigquery_statement(name):
    sql = sql_templates.render(name, **_context())
    statements = [s for s in _parse(sql) if s is not None]
    assert len(statements) == 1, f"{name}.sql has {len(statements)} statements"
    # A statement sqlglot could not understand becomes an opaque Command: that is not "parsed".
    assert not isinstance(statements[0], exp.Command), f"{name}.sql was not parsed, only passed through"
    assert "{{" not in sql and "{%" not in sql and "{#" not in sql


# BigQuery's reserved keywords (GoogleSQL lexical structure): unquoted, they cannot name a column
# or alias. sqlglot parses some of them as names anyway, so BigQuery would be the first to refuse.
BIGQUERY_RESERVED = set("""
ALL AND ANY ARRAY AS ASC ASSERT_ROWS_MODIFIED AT BETWEEN BY CASE CAST COLLATE CONTAINS CREATE CROSS CUBE
CURRENT DEFAULT DEFINE DESC DISTINCT ELSE END ENUM ESCAPE EXCEPT EXCLUDE EXISTS EXTRACT FALSE FETCH FOLLOWING
FOR FROM FULL GROUP GROUPING GROUPS HASH HAVING IF IGNORE IN INNER INTERSECT INTERVAL INTO IS JOIN LATERAL
LEFT LIKE LIMIT LOOKUP MERGE NATURAL NEW NO NOT NULL NULLS OF ON OR ORDER OUTER OVER PARTITION PRECEDING
PROTO QUALIFY RANGE RECURSIVE RESPECT RIGHT ROLLUP ROWS SELECT SET SOME STRUCT TABLESAMPLE THEN TO TREAT
TRUE UNBOUNDED UNION UNNEST USING WHEN WHERE WINDOW WITH WITHIN
""".split())


@pytest.mark.parametrize("name", NAMES)
def test_no_reserved_keyword_names_a_column_or_alias(name):
    (statement,) = _parse(sql_templates.render(name, **_context()))
    names = {a.alias for a in statement.find_all(exp.Alias)} | {c.name for c in statement.find_all(exp.ColumnDef)}
    names |= {c.name for c in statement.find_all(exp.Column)}
    clashes = {n for n in names if n.upper() in BIGQUERY_RESERVED}
    assert not clashes, f"{name}.sql uses reserved keyword(s) {sorted(clashes)} as names"


@pytest.mark.parametrize("name", NAMES)
def test_translates_to_duckdb(name):
    sql = sql_templates.render(name, **_context())
    duck = to_duckdb(sql)
    assert duck.strip()
    assert "`" not in duck, f"{name}.sql keeps BigQuery backticks in its DuckDB form"


@pytest.mark.parametrize("name", NAMES)
def test_parameters_named_in_text_are_the_statement_parameters(name):
    """What the backends send (every @name in the text, comments included) is exactly what the
    statement uses, so a comment can neither demand a parameter nor send an unused one."""
    sql = sql_templates.render(name, **_context())
    (statement,) = _parse(sql)
    in_statement = {p.name for p in statement.find_all(exp.Parameter)}
    offered = {name: None for name in re.findall(r"@(\w+)", sql)}
    assert set(used_parameters(sql, offered)) == in_statement


def test_stage_with_only_required_columns_reads_optional_ones_as_null():
    sql = sql_templates.render("stage_adjust_rows", **_context(present=set(ADJUST_REQUIRED_COLUMNS)))
    for column in ADJUST_REQUIRED_COLUMNS:
        assert f"CAST(src.{column} AS STRING) AS {column}," in sql
    for column in ADJUST_OPTIONAL_COLUMNS:
        assert f"CAST(NULL AS STRING) AS {column}," in sql
        assert f"src.{column}" not in sql
    (statement,) = _parse(sql)
    assert isinstance(statement, exp.Create)
    to_duckdb(sql)


def test_stage_with_all_columns_reads_every_column():
    sql = sql_templates.render("stage_adjust_rows", **_context())
    assert "CAST(NULL AS STRING)" not in sql
    for column in ADJUST_COLUMNS:
        assert f"CAST(src.{column} AS STRING) AS {column}," in sql


def test_table_identifiers_are_backtick_quoted():
    t = _context()["t"]
    assert t.stage == f"`attribution`.`{STAGE}`" and STAGE.startswith("_stage_adjust_20261120_")
    assert t.adjust == "`adjust`.`raw_events`"
    sql = sql_templates.render("stage_adjust_rows", **_context())
    assert f"CREATE OR REPLACE TABLE `attribution`.`{STAGE}`\n" in sql
    assert "FROM `adjust`.`raw_events` AS src" in sql


def test_project_qualified_names_with_dashes_render_and_parse():
    settings = Settings(
        adjust_table="my-project-123.adjust.raw_events",
        amplitude_table="other-project-9.amplitude.events",
        output_dataset="my-project-123.attribution",
    )
    sql = sql_templates.render("stage_adjust_rows", **_context(settings))
    assert "FROM `my-project-123`.`adjust`.`raw_events` AS src" in sql
    (statement,) = _parse(sql)
    tables = {".".join(p for p in (t.catalog, t.db, t.name) if p) for t in statement.find_all(exp.Table)}
    assert "my-project-123.adjust.raw_events" in tables
    assert f"my-project-123.attribution.{STAGE}" in tables
    to_duckdb(sql)


# --- Jinja: only identifier variables, in identifier positions -------------------------------


def _jinja_env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(sql_templates.SQL_DIR)))


def _template_ast(path: Path) -> jn.Template:
    return _jinja_env().parse(path.read_text())


def test_the_templates_globals_are_the_definitions():
    assert set(sql_templates._environment().globals) - set(jinja2.Environment().globals) == DEFINITIONS


@pytest.mark.parametrize("name", NAMES)
def test_templates_use_only_identifier_variables(name):
    tree = _template_ast(sql_templates.sql_path(name))
    undeclared = jinja2.meta.find_undeclared_variables(tree)
    allowed = ALLOWED_VARIABLES | DEFINITIONS
    assert undeclared <= allowed, f"{name}.sql uses {sorted(undeclared - allowed)}"
    table_fields = {f for f in RunTables.__dataclass_fields__}
    for node in tree.find_all(jn.Getattr):
        if isinstance(node.node, jn.Name) and node.node.name == "t":
            assert node.attr in table_fields, f"{name}.sql uses t.{node.attr}"


MACROS = {"source_text", "upper_ascii", "lower_ascii", "trim_lower", "norm_id", "push_bucket", "key_part",
          "fingerprint_part", "sorts_before", "adjust_id", "is_placeholder", "identity_rows", "identity_lookup",
          "sendable_id", "json_member", "attribution_events", "csv_text", "csv_time", "csv_epoch", "epoch_seconds", "event_columns", "csv_identifier", "missing_id",
          "app_set_device_id_pattern", "uuid_pattern", "added_columns_comment", "stored_column_defs", "stored_columns",
          "stored_values", "since_reopened", "decided"}


def _column_text(node: jn.Node, columns: set[str]) -> bool:
    """A name or type of a definition's column (a loop over the definition binds it to one of
    `columns`), a slice of it, or text joined from those and constants."""
    if isinstance(node, jn.Getattr):
        return isinstance(node.node, jn.Name) and node.node.name in columns and node.attr in COLUMN_FIELDS
    if isinstance(node, jn.Getitem):
        return (_column_text(node.node, columns) and isinstance(node.arg, jn.Slice)
                and all(p is None or isinstance(p, jn.Const) or (isinstance(p, jn.Neg) and isinstance(p.node, jn.Const))
                        for p in (node.arg.start, node.arg.stop, node.arg.step)))
    if isinstance(node, jn.Concat):
        return all(isinstance(n, jn.Const) or _column_text(n, columns) for n in node.nodes)
    return False


def _allowed_output(node: jn.Node) -> bool:
    """What may appear inside {{ }}: a table of `t`, dataset/table, a column of a loop (or the
    name or type of a column of the definition), the joined column list, the Adjust partition column
    (validated by its setting), or one of the macros called with literal / loop-variable arguments."""
    if isinstance(node, jn.TemplateData) or _column_text(node, {"column"}):
        return True
    if isinstance(node, jn.Getattr):
        return isinstance(node.node, jn.Name) and (
            node.node.name == "t" or (node.node.name == "adjust_partition" and node.attr == "column"))
    if isinstance(node, jn.Name):
        return node.name in {"dataset", "table", "column", "type"}
    if isinstance(node, jn.Filter):
        return node.name == "join" and isinstance(node.node, jn.Name) and node.node.name == "columns"
    if isinstance(node, jn.Call):
        target = node.node
        return (
            isinstance(target, jn.Getattr)
            and isinstance(target.node, jn.Name)
            and target.node.name == "m"
            and target.attr in MACROS
            and all(isinstance(a, jn.Const) or (isinstance(a, jn.Name) and a.name in {"column", "present"})
                    or (isinstance(a, jn.Getattr) and _allowed_output(a)) or _column_text(a, {"column"})
                    for a in node.args)
            and not node.kwargs
        )
    return False


@pytest.mark.parametrize("name", NAMES)
def test_every_jinja_expression_is_an_identifier(name):
    tree = _template_ast(sql_templates.sql_path(name))
    for output in tree.find_all(jn.Output):
        for node in output.nodes:
            assert _allowed_output(node), f"{name}.sql line {node.lineno} renders a non-identifier expression"


def _loop_names(macro: jn.Macro) -> tuple[set[str], set[str]]:
    """Names a macro's {% for %} loops bind to the items of a literal list of constants (written in
    the loop or {% set %} to a name), and those they bind to items of the definitions."""
    def constant(node) -> bool:
        return isinstance(node, jn.Const) or (isinstance(node, (jn.Tuple, jn.List)) and all(map(constant, node.items)))

    lists = {a.target.name for a in macro.find_all(jn.Assign)
             if isinstance(a.target, jn.Name) and isinstance(a.node, jn.List) and constant(a.node)}
    literal, definition = set(), set()
    for loop in macro.find_all(jn.For):
        targets = {n.name for n in ([loop.target] if isinstance(loop.target, jn.Name) else loop.target.find_all(jn.Name))}
        read = {n.name for n in [loop.iter, *loop.iter.find_all(jn.Name)] if isinstance(n, jn.Name)}
        if constant(loop.iter) or (read and read <= lists):
            literal |= targets
        elif read and read <= DEFINITIONS:
            definition |= targets
    return literal, definition


def test_macros_only_render_columns_and_literal_expressions():
    tree = _template_ast(sql_templates.SQL_DIR / "_macros.sql.j2")
    macros = {m.name: m for m in tree.find_all(jn.Macro)}
    assert set(macros) == MACROS
    for macro in macros.values():
        literal, definition = _loop_names(macro)
        names = {a.name for a in macro.args} | literal | definition

        def allowed(node) -> bool:  # a constant, a parameter, a loop's item, or text joined from them
            return (isinstance(node, jn.Const) or (isinstance(node, jn.Name) and node.name in names)
                    or _column_text(node, definition)
                    or (isinstance(node, jn.Concat) and all(map(allowed, node.nodes))))

        for output in macro.find_all(jn.Output):
            for node in output.nodes:
                sibling_call = (
                    isinstance(node, jn.Call) and isinstance(node.node, jn.Name) and node.node.name in MACROS
                    and all(map(allowed, node.args)) and not node.kwargs
                )
                assert isinstance(node, jn.TemplateData) or sibling_call or (
                    isinstance(node, jn.Name) and node.name in names) or _column_text(node, definition), \
                    f"{macro.name}: line {node.lineno}"


def test_columns_and_identifiers_rendered_by_templates_are_plain_names():
    for column in ADJUST_COLUMNS + USER_PROPERTY_COLUMNS:
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", column)
    for columns in vars(FOR_TEMPLATES).values():
        for column in columns:
            assert isinstance(column, AdjustColumn)
            assert re.fullmatch(r"[a-z_][a-z0-9_]*", column.name) and re.fullmatch(r"[A-Z][A-Z0-9]*", column.ledger_type)
            # It is rendered into a -- comment, which ends at the line's end.
            assert re.fullmatch(r"[^\r\n]*", column.added_with)


@pytest.mark.parametrize(("name", "also"), [
    ("create_sync_ledger", {"platform"} | {f"match_{c.name}" for c in FOR_TEMPLATES.columns if c.identifier}),
    ("create_rejected_rows", set()),
    ("create_discrepancy_rows", set()),
])
def test_the_output_tables_keep_every_adjust_column_once(name, also):
    declared = [c.name for c in sql_templates.declared_columns(name, **_context())]
    assert len(declared) == len(set(declared))
    assert set(ADJUST_COLUMNS) | also <= set(declared)


def test_every_identifier_is_looked_up_in_the_identity_index():
    sql = sql_templates.render("match_pending_rows", **_context())
    for column in FOR_TEMPLATES.columns:
        assert (f"WHERE match_{column.name} IS NOT NULL" in sql) == column.identifier


# --- Identifier validation: hostile names never reach a template ----------------------------

HOSTILE = [
    "a.b; DROP TABLE x",
    "a`b",
    "a.b--",
    "a.b/*c*/",
    "a.b c",
    "a.'b'",
    "a.b\n",
    "",
    "a.b.c.d",
    ".b",
    "a..b",
    "1abc.table",
    "My-Project.adjust.raw_events",
    "a.b-c",
]


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("key", ["adjust_table", "amplitude_table"])
def test_hostile_table_names_are_rejected(key, name):
    with pytest.raises(SettingsError, match=key):
        Settings(**{key: name})
    with pytest.raises(SettingsError):
        validate_table_name(name, key)


@pytest.mark.parametrize("name", ["a; DROP TABLE x", "a`b", "a--", "a.b.c", "attribution x", "attribution\n", ""])
def test_hostile_dataset_names_are_rejected(name):
    with pytest.raises(SettingsError, match="output_dataset"):
        Settings(output_dataset=name)
    with pytest.raises(SettingsError):
        validate_dataset_name(name, "output_dataset")


def test_hostile_names_are_rejected_from_the_variable_too():
    with pytest.raises(SettingsError, match="adjust_table"):
        Settings.from_mapping({"adjust_table": "a.b; DROP TABLE x"})
    with pytest.raises(SettingsError):
        Settings.from_mapping({"adjust_table": 42})


FLOAT_SETTINGS = [f.name for f in dataclasses.fields(Settings) if isinstance(f.default, float)]


@pytest.mark.parametrize("text", ["Infinity", "-Infinity", "NaN"])
@pytest.mark.parametrize("key", FLOAT_SETTINGS)
def test_non_finite_numbers_are_refused_naming_the_setting(key, text):
    # What Python's JSON reader makes of the Variable's text; each would pass a "> 0" check or none.
    with pytest.raises(SettingsError, match=f"{key} = .* must be a finite number"):
        Settings.from_mapping(json.loads(f'{{"{key}": {text}}}'))


def test_every_number_setting_is_checked_for_finiteness():
    assert {"rate_limit_per_second", "max_reject_ratio", "claim_ttl_seconds", "backoff_max_seconds"} <= set(FLOAT_SETTINGS)


@pytest.mark.parametrize(
    "name",
    ["adjust.raw_events", "my-project-123.adjust.raw_events", "raw_events", "_x.Y_2", "proj_1.ds.tbl"],
)
def test_valid_table_names_pass(name):
    assert Settings(adjust_table=name).adjust_table == name
    assert Settings(amplitude_table=name).amplitude_table == name
    assert validate_table_name(name, "adjust_table") == name
    quoted = sql_templates.quote_table(name)
    assert quoted == ".".join(f"`{p}`" for p in name.split("."))


@pytest.mark.parametrize("name", ["attribution", "my-project-123.attribution"])
def test_valid_dataset_names_pass(name):
    assert Settings(output_dataset=name).output_dataset == name


# --- No SQL statements in Python ---------------------------------------------------------------

SQL_START = re.compile(r"(?i)(SELECT|INSERT|MERGE|CREATE|UPDATE|DELETE|DROP|WITH)\b")


def _python_files() -> list[Path]:
    files = [p for d in ("plugins", "dags", "demo") for p in sorted((REPO / d).rglob("*.py"))]
    assert files
    return files


def _docstring_nodes(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


def _sql_like_strings(source: str) -> list[tuple[int, str]]:
    tree = ast.parse(source)
    docstrings = _docstring_nodes(tree)
    hits = []
    for node in ast.walk(tree):
        # f-string pieces are Constant nodes too, so f"SELECT {x}" is caught.
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if SQL_START.match(node.value.strip()):
                hits.append((node.lineno, node.value.strip()[:60]))
    return hits


def test_the_python_sql_check_detects_sql():
    source = 'def f(c):\n    """Select rows."""\n    c.execute("  select * from t")\n    c.execute(f"INSERT INTO {t} VALUES (1)")\n'
    assert [line for line, _ in _sql_like_strings(source)] == [3, 4]


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_python_files_hold_no_sql_statements(path):
    hits = _sql_like_strings(path.read_text())
    assert not hits, f"{path.relative_to(REPO)} has SQL in string literals: {hits} (put it in adjust_amplitude/sql)"

"""Load the SQL files of the package's sql/ folder and fill in table identifiers.

Only identifiers are rendered into SQL, and only after validation (see config); every value
travels as a query parameter. The files are BigQuery Standard SQL; the DuckDB backend translates
them (warehouse/duckdb_sql.py).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

# The SQL travels inside the package, so it is found wherever a platform puts the package
# (Composer's and MWAA's plugins folder, an image's project root) with nothing else deployed.
SQL_DIR = Path(__file__).resolve().parent / "sql"


def quote_table(name: str) -> str:
    """`project`.`dataset`.`table`: each part quoted, so dashes in project ids are safe."""
    return ".".join(f"`{part}`" for part in name.split("."))


@functools.lru_cache(maxsize=1)
def _environment():
    import jinja2

    from adjust_amplitude.adjust_columns import FOR_TEMPLATES
    from adjust_amplitude.config import USER_PROPERTY_COLUMNS

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(SQL_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    # The column lists the templates render come from the package's own definitions, not from callers.
    environment.globals.update(adjust=FOR_TEMPLATES, user_property_columns=USER_PROPERTY_COLUMNS)
    return environment


def statement_names() -> list[str]:
    return sorted(p.stem for p in SQL_DIR.glob("*.sql"))


def render(name: str, **context: Any) -> str:
    return _environment().get_template(f"{name}.sql").render(**context).strip()


@dataclasses.dataclass(frozen=True)
class ColumnDef:
    name: str  # lower-cased
    type: str  # as BigQuery spells it
    required: bool  # NOT NULL


def declared_columns(name: str, **context: Any) -> list[ColumnDef]:
    """The columns a CREATE TABLE file declares, in order."""
    import sqlglot
    from sqlglot import exp

    create = sqlglot.parse_one(render(name, **context), read="bigquery")
    return [ColumnDef(c.name.lower(), c.args["kind"].sql("bigquery"),
                      any(isinstance(k.kind, exp.NotNullColumnConstraint) for k in c.constraints))
            for c in create.find_all(exp.ColumnDef)]


def sql_path(name: str) -> Path:
    return SQL_DIR / f"{name}.sql"

"""BigQuery SQL as DuckDB runs it: sqlglot's translation, corrected where it would compute
something else than BigQuery. Each correction was found by the ZetaSQL differential tests
(tests/bigquery/test_zetasql.py), which keep a test named after it.
"""

from __future__ import annotations

import functools

# Unicode's White_Space characters: what BigQuery's TRIM(x) removes.
WHITE_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
# The white space DuckDB's TRIM(x) keeps and BigQuery's removes.
KEPT_BY_DUCKDB_TRIM = "\t\n\v\f\r\x85\u2028\u2029"
LOWER_ASCII, UPPER_ASCII = "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# The text BigQuery's SAFE_CAST(text AS INT64) accepts: a sign, decimal or hexadecimal digits,
# ASCII white space around. Group 1 is the sign, group 2 the digits.
INT64_TEXT = r"^[\t\n\v\f\r ]*([+-]?)(0[xX][0-9a-fA-F]+|[0-9]+)[\t\n\v\f\r ]*$"


@functools.lru_cache(maxsize=1)
def _duckdb_dialect():
    """DuckDB as sqlglot writes it, with the corrections."""
    from sqlglot import exp
    from sqlglot.dialects.duckdb import DuckDB

    class DuckDBLikeBigQuery(DuckDB):
        class Generator(DuckDB.Generator):
            TRANSFORMS = {
                **DuckDB.Generator.TRANSFORMS,
                # BigQuery's UNIX_SECONDS rounds down to the second; sqlglot's CAST(EPOCH(t) AS
                # BIGINT) rounds to the nearest one, so 0.7 s past a second read as the next one.
                exp.UnixSeconds: lambda self, e: f"CAST(FLOOR(EPOCH({self.sql(e, 'this')})) AS BIGINT)",
            }

            def create_sql(self, expression: exp.Create) -> str:
                # BigQuery's storage layout has no meaning in DuckDB: PARTITION BY and CLUSTER BY
                # (what a statement's partition filters prune), and a scratch table's OPTIONS
                # (expiration_timestamp: BigQuery's clean-up after a run killed mid-step; DuckDB's
                # steps hold the file lock from creating a scratch table to dropping it).
                properties = expression.args.get("properties")
                if properties:
                    expression = expression.copy()
                    kept = [p for p in properties.expressions
                            if not isinstance(p, (exp.PartitionedByProperty, exp.ClusterProperty))
                            and not (isinstance(p, exp.Property) and p.name == "expiration_timestamp")]
                    expression.set("properties", exp.Properties(expressions=kept) if kept else None)
                return super().create_sql(expression)

            def concat_sql(self, expression: exp.Concat) -> str:
                # BigQuery's CONCAT is NULL when an argument is, so sqlglot writes a chain of ||,
                # which copies the text once per argument: a row's fingerprint (19 columns) took
                # three times as long as with DuckDB's concat. That one reads NULL as '', so it
                # is used only where no argument can be NULL.
                if not expression.args.get("coalesce") and all(map(_never_null, expression.expressions)):
                    return self.func("CONCAT", *expression.expressions)
                return super().concat_sql(expression)

            def countif_sql(self, expression: exp.CountIf) -> str:
                # BigQuery's COUNTIF is 0 over no rows and over rows whose condition is NULL;
                # DuckDB's COUNT_IF is NULL then. COUNT(CASE WHEN c THEN 1 END) is 0.
                case = exp.Case(ifs=[exp.If(this=expression.this, true=exp.Literal.number(1))])
                return self.sql(exp.Count(this=case))

            def trim_sql(self, expression: exp.Trim) -> str:
                # DuckDB's trim(x) keeps tabs, line breaks, U+0085, U+2028 and U+2029. trim(x,
                # all white space) removes them, but is 20 times slower: use it only when what
                # trim(x) leaves starts or ends with one of them (then, and only then, they differ).
                if expression.expression:
                    return super().trim_sql(expression)
                plain = super().trim_sql(expression.copy())
                every = expression.copy()
                every.set("expression", exp.Literal.string(WHITE_SPACE))
                kept = self.sql(exp.Literal.string(f"^[{KEPT_BY_DUCKDB_TRIM}]|[{KEPT_BY_DUCKDB_TRIM}]$"))
                return f"CASE WHEN REGEXP_MATCHES({plain}, {kept}) THEN {super().trim_sql(every)} ELSE {plain} END"

            def translate_sql(self, expression: exp.Translate) -> str:
                # The SQL folds the case of ASCII letters with TRANSLATE (see _macros.sql.j2).
                # DuckDB's translate is 30 times slower than its upper and lower, which agree with
                # it on ASCII text (as many bytes as characters).
                plain = self.function_fallback_sql(expression)
                pair = (expression.args["from_"].name, expression.args["to"].name)
                fold = {(LOWER_ASCII, UPPER_ASCII): "UPPER", (UPPER_ASCII, LOWER_ASCII): "LOWER"}.get(pair)
                if fold is None:
                    return plain
                value = self.sql(expression, "this")
                return f"CASE WHEN STRLEN({value}) = LENGTH({value}) THEN {fold}({value}) ELSE {plain} END"

            def trycast_sql(self, expression: exp.TryCast) -> str:
                # DuckDB's TRY_CAST('1.5' AS BIGINT) is 2 ('1e3': 1000, '4_2': 42) and of '-0x1f'
                # NULL; BigQuery's SAFE_CAST of text is NULL for the first three and -31 for the
                # last. Text is cast only in the shape BigQuery accepts, sign applied after.
                if expression.to.this != exp.DType.BIGINT:
                    return super().trycast_sql(expression)
                value = self.sql(expression, "this")
                text, shape = f"CAST({value} AS VARCHAR)", self.sql(exp.Literal.string(INT64_TEXT))
                sign, digits = f"REGEXP_EXTRACT({text}, {shape}, 1)", f"REGEXP_EXTRACT({text}, {shape}, 2)"
                return (f"CASE WHEN TYPEOF({value}) <> 'VARCHAR' THEN {super().trycast_sql(expression)} "
                        f"WHEN {digits} <> '' THEN TRY_CAST(IF({sign} = '-', -1, 1) * TRY_CAST({digits} AS HUGEINT) AS BIGINT) END")

    return DuckDBLikeBigQuery


def _never_null(expression) -> bool:
    """True when the expression cannot be NULL, by its shape alone: a literal that is not NULL,
    an IFNULL / COALESCE ending in one, a REPLACE of such."""
    from sqlglot import exp

    if isinstance(expression, exp.Paren):
        return _never_null(expression.this)
    if isinstance(expression, exp.Literal):
        return True
    if isinstance(expression, exp.Coalesce):
        return any(map(_never_null, [expression.this, *expression.expressions]))
    if isinstance(expression, exp.Replace):
        return all(_never_null(expression.args.get(k)) for k in ("this", "expression", "replacement"))
    return False


@functools.lru_cache(maxsize=256)
def to_duckdb(bigquery_sql: str) -> str:
    import sqlglot

    # Without comments: sqlglot writes -- comments as /* */, and after such a comment holding an
    # apostrophe ("The run's") DuckDB 2.0.1 turned the Unicode spaces inside later string literals
    # into ASCII ones, so TRIM's list of white space lost them (test_trim_removes_all_white_space…).
    statements = sqlglot.transpile(bigquery_sql, read="bigquery", write=_duckdb_dialect(),
                                   unsupported_level=sqlglot.ErrorLevel.RAISE, comments=False)
    if len(statements) != 1:
        raise ValueError(f"expected one statement, got {len(statements)}")
    return statements[0]

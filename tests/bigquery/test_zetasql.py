"""The BigQuery side, checked by Google's own SQL front end: every statement the pipeline runs is
analysed by ZetaSQL as BigQuery SQL, and what it reads is run on ZetaSQL's reference engine and on
DuckDB over the same tables, with equal results (see checked_warehouse). The rule fixtures of
test_rules run the same way; here, generated days with the generator's edge cases, the
divergences found and fixed (one test each), and proof that both checks can fail."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import shutil
import subprocess
import sys

import duckdb
import pytest

import pipeline_helpers
from adjust_amplitude import pipeline, sql_templates
from adjust_amplitude.amplitude_hook import AmplitudeAuthError
from adjust_amplitude.run import Plan, Run
from adjust_amplitude.warehouse.duckdb_sql import to_duckdb
from adjust_amplitude.config import ADJUST_COLUMNS, NotifyTarget, Settings
from demo.sample_warehouse import write_warehouse
from demo.vendor_schemas import ADJUST_CSV_COLUMNS, AMPLITUDE_EVENT_COLUMNS
from adjust_amplitude.tables import run_tables
from attribution_server import AttributionServer
from checked_warehouse import Checked, CheckedWarehouse, Divergence, bigquery_type
from notify_servers import SlackServer
from project_files import REPO
from pipeline_helpers import DAY, adjust_row, amplitude_event, ledger, made_by_earlier_version, query, run_day, ts, write_inputs
from zetasql_engine import Catalog, ZetaSQLRejected, engine

pytestmark = pytest.mark.slow  # every statement through ZetaSQL, over generated days

FIRST = dt.date(2026, 11, 16)
RUN_DAYS = [FIRST + dt.timedelta(days=i) for i in range(5)]
# The input schemas as the vendors document them, as BigQuery types: Adjust's CSV upload loaded as
# text, and Amplitude's Event table (BIGNUMERIC amplitude_id, `Adid`, JSON properties).
ADJUST_SCHEMA = {c: "STRING" for c in ADJUST_CSV_COLUMNS}
AMPLITUDE_SCHEMA = {name: bigquery_type for name, bigquery_type, _ in AMPLITUDE_EVENT_COLUMNS}
# SQL files the BigQuery backend never sends: DuckDB's bulk insert (BigQuery loads JSON instead).
NOT_SENT_TO_BIGQUERY = {"insert_rows"}
# What is run on both engines, by the kind of statement.
COMPARED = {"ResolvedQueryStmtProto": "query", "ResolvedMergeStmtProto": "merge source",
            "ResolvedCreateTableAsSelectStmtProto": "create table query",
            "ResolvedUpdateStmtProto": "table after the statement", "ResolvedDeleteStmtProto": "table after the statement"}


@pytest.fixture
def checked(monkeypatch) -> list[Checked]:
    """run_day on CheckedWarehouse; returns the record of every check made."""
    record: list[Checked] = []
    monkeypatch.setattr(pipeline_helpers, "WAREHOUSE", functools.partial(CheckedWarehouse, record=record))
    return record


@pytest.fixture(scope="module")
def generated_days(tmp_path_factory):
    """Five consecutive days of generated data (duplicates, sandbox and session rows, malformed
    rows, late openers, missing identifiers) through the whole pipeline, pushed over loopback to a
    server that refuses some events, in two push partitions."""
    root = tmp_path_factory.mktemp("zetasql")
    db = root / "warehouse.duckdb"
    write_warehouse(db, FIRST, len(RUN_DAYS), scale=60, seed=9)
    record: list[Checked] = []
    settings = Settings(report_dir=str(root / "reports"), push_partitions=2, max_reject_ratio=1.0,
                        max_invalid_ratio=1.0, rate_limit_per_second=2000, notify=(NotifyTarget("slack", "zetasql_slack"),))
    with pytest.MonkeyPatch.context() as patch, AttributionServer() as server, SlackServer() as slack:
        patch.setenv("AIRFLOW_CONN_AMPLITUDE_ATTRIBUTION", server.connection_json())
        patch.setenv("AIRFLOW_CONN_ZETASQL_SLACK", json.dumps(slack.connection()))
        patch.setattr(pipeline_helpers, "WAREHOUSE", functools.partial(CheckedWarehouse, record=record))
        server.reject = lambda event: event.get("idfv", "").endswith(("0", "7"))
        made_by_earlier_version(db, settings)  # so the first run adds the columns (add_column)
        run_day(db, RUN_DAYS[0], settings=settings, dry_run=True)  # a dry run reads matched rows, claims none
        records = {day: run_day(db, day, settings=settings)["record"] for day in RUN_DAYS}
        # The validation gate with no tolerance, so its example query runs too.
        strict = Settings.from_mapping({**json.loads(settings.to_json()), "max_invalid_ratio": 0.0})
        tripped = 0
        for day in RUN_DAYS:
            plan = Plan(day, "strict", strict, dry_run=True)
            try:
                pipeline.check_validation_gate(Run(plan, warehouse=CheckedWarehouse(db, record=record)), records[day])
            except pipeline.ValidationGateError:
                tripped += 1
        assert tripped
        assert slack.texts  # the reports that closed windows were told
        # Rows of a push killed moments ago (its claim lapses in 3 s), on a copy: a new run's push
        # waits for them, then takes them over.
        held = root / "held.duckdb"
        shutil.copy(db, held)
        with duckdb.connect(str(held)) as con:
            con.execute("UPDATE attribution.sync_ledger SET status = 'matched', claimed_by = 'killed|0|1', "
                        "claimed_at = now() - INTERVAL 597 SECOND WHERE status = 'unmatched'")
        plan = Plan(RUN_DAYS[-1], "rerun", settings)
        taken = pipeline.push(Run(plan, warehouse=CheckedWarehouse(held, record=record)))
        assert taken["taken_over"] == taken["held_elsewhere"] > 0
        # The refused rows sent again (Param resend_rejected), now that the server takes them all;
        # then a push stopped by a refused key, which gives its claims back.
        server.reject = lambda event: False
        refused = root / "refused.duckdb"
        shutil.copy(db, refused)
        resend = Plan(RUN_DAYS[-1], "resend", settings, resend_rejected=True)
        assert pipeline.push(Run(resend, warehouse=CheckedWarehouse(db, record=record)), 0)["sent"] > 0
        patch.setenv("AIRFLOW_CONN_AMPLITUDE_ATTRIBUTION", json.dumps({**json.loads(server.connection_json()), "password": "wrong"}))
        with pytest.raises(AmplitudeAuthError):
            pipeline.push(Run(resend, warehouse=CheckedWarehouse(refused, record=record)), 1)
    return db, record


# --- analysis --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(set(sql_templates.statement_names()) - NOT_SENT_TO_BIGQUERY))
def test_every_statement_resolves_in_zetasql(generated_days, name):
    """Each SQL file, rendered as the pipeline renders it, was analysed against the tables' DDL
    and the input tables, its parameters declared with the BigQuery backend's types."""
    _, record = generated_days
    assert any(c.name == name and c.what == "analysed" for c in record), f"{name}.sql never ran"


def test_the_generated_inputs_have_the_documented_schemas(generated_days):
    db, _ = generated_days
    with CheckedWarehouse(db).session() as wh:
        adjust = dict(wh.bigquery_types(("adjust", "raw_events")))
        amplitude = dict(wh.bigquery_types(("amplitude", "events")))
    assert {c: adjust[c] for c in ADJUST_SCHEMA} == ADJUST_SCHEMA
    assert {c: amplitude[c] for c in AMPLITUDE_SCHEMA} == AMPLITUDE_SCHEMA


@pytest.mark.parametrize(("created_at", "kind", "partition"), [
    ("INT64", "integer", None), ("STRING", "text", None), ("FLOAT64", "number", None), ("NUMERIC", "number", None),
    # adjust_partition_column, of each type a partition column can have
    ("INT64", "integer", ("DATE", "date")), ("INT64", "integer", ("TIMESTAMP", "timestamp")),
    ("INT64", "integer", ("DATETIME", "naive_timestamp")),
])
def test_staging_resolves_with_each_type_of_created_at_the_contract_accepts(created_at, kind, partition):
    z = engine()
    t = run_tables(Settings(), DAY).quoted()
    schema = {**ADJUST_SCHEMA, "created_at": created_at, **({"loaded": partition[0]} if partition else {})}
    catalog = Catalog({("adjust", "raw_events"): [(c, z.type_named(t_)) for c, t_ in schema.items()]})
    sql = sql_templates.render("stage_adjust_rows", t=t, present=set(ADJUST_COLUMNS),
                               created_at_kind=kind,
                               adjust_partition={"column": "loaded", "kind": partition[1]} if partition else None)
    assert ("src.loaded >=" in sql) == bool(partition)
    params = {"activity_kinds": ["install"], "environments": ["production"], "read_start": 1, "day_end": 2,
              "created_at_floor": 0, "created_at_ceiling": 3, "placeholder_identifiers": ["unknown"],
              "adjust_partition_from": DAY, "adjust_partition_to": DAY}
    params = {k: v for k, v in params.items() if f"@{k}" in sql}
    statement = z.analyze(sql, catalog, {k: z.type_named(bigquery_type(k, v)) for k, v in params.items()})
    assert statement.WhichOneof("node") == "resolved_create_statement_node"


@pytest.mark.parametrize("event_time", ["TIMESTAMP", "DATETIME"])
@pytest.mark.parametrize("name", ["rebuild_amplitude_identity_index", "merge_amplitude_identity_index",
                                  "select_newest_amplitude_event"])
def test_amplitude_reads_resolve_with_event_time_with_or_without_time_zone(event_time, name, tmp_path):
    z = engine()
    t = run_tables(Settings(), DAY).quoted()
    with CheckedWarehouse(tmp_path / "w.duckdb").session() as wh:
        wh.connection.execute("CREATE SCHEMA IF NOT EXISTS attribution")
        wh.run("create_amplitude_identity_index", t=t)
        tables = {("attribution", "amplitude_identity_index"): wh.bigquery_types(("attribution", "amplitude_identity_index"))}
    schema = {**AMPLITUDE_SCHEMA, "event_time": event_time}
    catalog = Catalog({**{k: [(c, z.type_named(v)) for c, v in cols] for k, cols in tables.items()},
                       ("amplitude", "events"): [(c, z.type_named(v)) for c, v in schema.items()]})
    sql = sql_templates.render(name, t=t)
    params = {"read_after": 1, "read_until": 2}
    z.analyze(sql, catalog, {k: z.type_named(bigquery_type(k, v)) for k, v in params.items() if f"@{k}" in sql})


def test_a_parameter_must_be_declared_and_with_its_type():
    z = engine()
    catalog = Catalog({("attribution", "sync_runs"): [("run_day", z.type_named("DATE"))]})
    sql = "SELECT run_day FROM `attribution`.`sync_runs` WHERE run_day = @run_day"
    z.analyze(sql, catalog, {"run_day": z.type_named(bigquery_type("run_day", DAY))})
    with pytest.raises(ZetaSQLRejected, match="Query parameter 'run_day' not found"):
        z.analyze(sql, catalog, {})
    with pytest.raises(ZetaSQLRejected, match="No matching signature for operator ="):
        z.analyze(sql, catalog, {"run_day": z.type_named(bigquery_type("run_day", 20))})


@pytest.mark.parametrize("internal_type", ["INT32", "UINT64", "zetasql_test.KitchenSinkPB"])
def test_types_bigquery_lacks_are_refused(internal_type):
    """BigQuery's product mode (external): no INT32, unsigned or PROTO types."""
    with pytest.raises(ZetaSQLRejected, match="Type not found"):
        engine().type_named(internal_type)


# --- differential execution ------------------------------------------------------------------------


def test_every_read_and_update_agrees_with_the_reference_engine(generated_days):
    """Every SELECT, MERGE source, CREATE TABLE AS SELECT query, UPDATE and DELETE ran on both engines,
    each at least once with rows, so the agreement is not over empty tables."""
    _, record = generated_days
    run_on_both = {c.name for c in record if c.what == "analysed" and c.kind in COMPARED}
    compared = {c.name for c in record if c.what in COMPARED.values() and c.rows > 0}
    assert run_on_both and run_on_both == compared, sorted(run_on_both - compared)
    assert {"stage_adjust_rows", "match_pending_rows", "merge_api_rejections", "select_rows_to_send",
            "close_windows", "close_invalid_rows"} <= compared


def test_the_reference_engine_uses_bigquerys_time_zone_utc():
    """ZetaSQL's own default time zone is America/Los_Angeles; BigQuery's is UTC."""
    z = engine()
    last_second = ts(DAY + dt.timedelta(days=1)) - 1
    _, rows = z.evaluate("SELECT DATE(TIMESTAMP_SECONDS(@t)) AS d, UNIX_SECONDS(TIMESTAMP(@day)) AS s", Catalog(), [], {},
                         {"t": (z.type_named("INT64"), last_second), "day": (z.type_named("DATE"), DAY)})
    assert rows == [(DAY, ts(DAY))]


# --- divergences found, fixed at the cause (test named after each) ---------------------------------


def test_unix_seconds_rounds_down_to_the_second_as_bigquery_does():
    """sqlglot wrote UNIX_SECONDS(t) as CAST(EPOCH(t) AS BIGINT), which rounds: a claim made 0.7 s
    past a second lapsed a second late, and an event 0.7 s past a window's end read as after it
    in DuckDB only. The translation rounds down."""
    sql = ("SELECT UNIX_SECONDS(TIMESTAMP_ADD(TIMESTAMP_SECONDS(@t), INTERVAL 700 MILLISECOND)) AS up, "
           "UNIX_SECONDS(TIMESTAMP_SUB(TIMESTAMP_SECONDS(@t), INTERVAL 500 MILLISECOND)) AS down")
    z = engine()
    _, rows = z.evaluate(sql, Catalog(), [], {}, {"t": (z.type_named("INT64"), ts(DAY))})
    assert rows == [(ts(DAY), ts(DAY) - 1)]
    assert duckdb.sql(to_duckdb(sql).replace("$t", str(ts(DAY)))).fetchall() == rows


def test_day_boundaries_are_utc_whatever_the_machines_time_zone(tmp_path):
    """DuckDB computes DATE(timestamp) and TIMESTAMP(date) in the machine's time zone, BigQuery
    in UTC: on a machine in Tokyo a row created a second before midnight UTC was dated the next
    day. The DuckDB warehouse sets UTC on every connection."""
    db = tmp_path / "w.duckdb"
    write_inputs(db, [adjust_row(adid="last-second", created_at=ts(DAY + dt.timedelta(days=1)) - 1)], [])
    script = "import sys; from pathlib import Path; from pipeline_helpers import run_day; run_day(Path(sys.argv[1]))"
    env = {**os.environ, "TZ": "Asia/Tokyo", "PYTHONPATH": os.pathsep.join([str(REPO / "tests" / "support"), os.environ["PYTHONPATH"]])}
    done = subprocess.run([sys.executable, "-c", script, str(db)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [r["adjust_day"] for r in ledger(db).values()] == [DAY]


def test_countif_over_no_rows_or_only_null_conditions_is_zero_as_in_bigquery(checked, tmp_path):
    """DuckDB's COUNT_IF is NULL over no rows, or when the condition is NULL on every row
    (matched_run_day of a ledger where nothing matched); BigQuery's COUNTIF is 0."""
    db = tmp_path / "w.duckdb"
    write_inputs(db, [adjust_row(adid="pending")], [])
    run_day(db)
    assert any(c.name == "select_ledger_counts" and c.what == "query" for c in checked)
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t (x BIGINT)")
        count = to_duckdb("SELECT COUNTIF(x = 1) AS n FROM t")
        assert con.execute(count).fetchall() == [(0,)]
        con.execute("INSERT INTO t VALUES (NULL)")
        assert con.execute(count).fetchall() == [(0,)]


def test_concat_is_null_when_an_argument_is_as_in_bigquery():
    """BigQuery's CONCAT is NULL when an argument is; DuckDB's concat reads NULL as ''. The
    translation uses DuckDB's (three times faster than ||, for the 19 columns of a fingerprint)
    only where no argument can be NULL."""
    sql = "SELECT CONCAT(a, '|', b) AS maybe, CONCAT(IFNULL(a, ''), '|', REPLACE(IFNULL(b, 'x'), 'x', 'y')) AS never FROM t"
    translated = to_duckdb(sql)
    assert "CONCAT(COALESCE(" in translated and " || " in translated
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t (a VARCHAR, b VARCHAR)")
        con.execute("INSERT INTO t VALUES ('a', NULL), (NULL, 'b'), ('a', 'b')")
        duck = sorted(con.execute(translated).fetchall(), key=str)
    z = engine()
    catalog = Catalog({("t",): [("a", z.type_named("STRING")), ("b", z.type_named("STRING"))]})
    _, reference = z.evaluate(sql, catalog, [("t",)], {("t",): [["a", None], [None, "b"], ["a", "b"]]}, {})
    assert duck == sorted(reference, key=str) == sorted([(None, "a|y"), (None, "|b"), ("a|b", "a|b")], key=str)


def test_trim_removes_tabs_and_line_breaks_as_in_bigquery(checked, tmp_path):
    """DuckDB's TRIM keeps tabs, line breaks, U+0085, U+2028 and U+2029; BigQuery's removes all
    Unicode white space. Exports written on Windows end their fields with a carriage return."""
    db = tmp_path / "w.duckdb"
    rows = [adjust_row(adid="crlf", activity_kind="install\r\n", environment="production\t", idfv="abc-1\r"),
            adjust_row(adid="tabbed", os_name="\tandroid\u2028", gps_adid="\x85gps-2 ", idfv=None)]
    events = [amplitude_event(ts(DAY, 12), device_id="ABC-1"), amplitude_event(ts(DAY, 12), adid="GPS-2")]
    write_inputs(db, rows, events)
    run_day(db, dry_run=True)
    assert {r["adid"]: (r["status"], r["match_pair"]) for r in ledger(db).values()} == {
        "crlf": ("matched", "idfv=device_id"), "tabbed": ("matched", "gps_adid=adid")}


def test_safe_cast_of_text_with_a_fraction_or_exponent_is_null_as_in_bigquery(checked, tmp_path):
    """DuckDB's TRY_CAST('1.5' AS BIGINT) is 2, of '1e3' 1000 and of '4_2' 42, and of '-0x1f'
    NULL; BigQuery's SAFE_CAST gives NULL, NULL, NULL and -31. A created_at like that is invalid,
    as BigQuery sees it; hexadecimal and padded integers are valid."""
    db = tmp_path / "w.duckdb"
    created = ts(DAY, 10)
    texts = {"fraction": f"{created}.0", "exponent": "1.7953e9", "underscores": f"{created // 1000}_{created % 1000:03d}",
             "padded": f"\t {created} \n", "hexadecimal": hex(created)}
    write_inputs(db, [adjust_row(adid=k, created_at=v) for k, v in texts.items()], [], created_at_type="VARCHAR")
    run_day(db, settings=Settings(report_dir=str(tmp_path / "reports"), max_invalid_ratio=1.0))
    rejected = {r["adid"]: r["reason"] for r in query(db, "SELECT adid, reason FROM attribution.rejected_rows")}
    assert rejected == {"fraction": "invalid_created_at", "exponent": "invalid_created_at", "underscores": "invalid_created_at"}
    assert sorted(r["adid"] for r in ledger(db).values()) == ["hexadecimal", "padded"]
    assert {r["created_at"] for r in ledger(db).values()} == {created}


def test_case_folding_is_ascii_only_so_both_engines_agree(checked, tmp_path):
    """BigQuery's UPPER follows Unicode's full case mapping ('ß' -> 'SS', 'ﬁ' -> 'FI'), DuckDB's
    does not ('ß' -> 'ẞ'), and LOWER('İ') differs too. Identifiers and codes are ASCII, so the SQL
    folds ASCII letters only: the same on both, and no two different user ids fold together."""
    db = tmp_path / "w.duckdb"
    rows = [adjust_row(adid="sharp-s", external_device_id="straße@example.com", idfv=None),
            adjust_row(adid="ligature", external_device_id="ﬁnn", idfv=None),
            adjust_row(adid="dotted", activity_kind="İnstall")]
    events = [amplitude_event(ts(DAY, 12), user_id="STRASSE@EXAMPLE.COM"), amplitude_event(ts(DAY, 12), user_id="ﬁNN")]
    write_inputs(db, rows, events)
    run_day(db, dry_run=True)
    assert {r["adid"]: (r["status"], r["match_pair"]) for r in ledger(db).values()} == {
        "sharp-s": ("pending", None), "ligature": ("matched", "external_device_id=user_id")}


def _on_both_engines(sql: str, texts: list[str | None]) -> tuple[list[tuple], list[tuple]]:
    """A query over a table `t` with one STRING column `s`, on the reference engine and on DuckDB."""
    z = engine()
    catalog = Catalog({("t",): [("s", z.type_named("STRING"))]})
    _, reference = z.evaluate(sql, catalog, [("t",)], {("t",): [[v] for v in texts]}, {})
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t (s VARCHAR)")
        con.executemany("INSERT INTO t VALUES (?)", [[v] for v in texts])
        return sorted(reference, key=repr), sorted(con.execute(to_duckdb(sql)).fetchall(), key=repr)


def test_trim_and_ascii_case_folding_agree_on_every_character_to_u3000():
    texts = [f" ab{chr(c)}Z{chr(c)}" for c in range(1, 0x3000) if not 0xD800 <= c <= 0xDFFF] + [None, ""]
    reference, duckdb_rows = _on_both_engines(
        "SELECT s, TRIM(s), TRANSLATE(TRIM(s), 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'), "
        "TRANSLATE(TRIM(s), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') FROM t", texts)
    assert len(reference) == len(texts) and reference == duckdb_rows


def test_safe_cast_of_text_to_int64_agrees_on_every_shape_of_number():
    texts = ["42", " 42 ", "+42", "-42", "1.5", "1.0", "1e3", "0x1F", "-0x1f", "0X1f", "+0x1", "0x", "042", "4_2",
             "", " ", "-0", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
             "0x7FFFFFFFFFFFFFFF", "0x8000000000000000", "-0x8000000000000000", "٤٢", "42\n", "\t42", "\v42", "\f42",
             "\r42\r", "\u00a042", "\u200042", "42\u3000", "\x8542", "- 42", "+ 42", "4 2", "x42", "42x",
             "1" * 40, None]
    reference, duckdb_rows = _on_both_engines("SELECT s, SAFE_CAST(s AS INT64) FROM t", texts)
    assert reference == duckdb_rows


# --- both checks can fail ------------------------------------------------------------------------------


@pytest.fixture
def mutated_sql(tmp_path, monkeypatch):
    """A copy of the package's sql/ folder with one file changed, which the pipeline then renders."""
    folder = tmp_path / "sql"
    shutil.copytree(sql_templates.SQL_DIR, folder)
    monkeypatch.setattr(sql_templates, "SQL_DIR", folder)
    sql_templates._environment.cache_clear()
    yield lambda name, old, new: _replace_once(folder / (name if name.endswith(".j2") else f"{name}.sql"), old, new)
    sql_templates._environment.cache_clear()


def _replace_once(path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path.name} exactly once"
    path.write_text(text.replace(old, new))


def test_cast_instead_of_safe_cast_fails_the_differential_check(checked, mutated_sql, tmp_path):
    """BigQuery's CAST of '….0' to INT64 fails the whole query; DuckDB's rounds it."""
    mutated_sql("stage_adjust_rows", "SAFE_CAST(src.created_at AS INT64)", "CAST(src.created_at AS INT64)")
    db = tmp_path / "w.duckdb"
    write_inputs(db, [adjust_row(adid="fraction", created_at=f"{ts(DAY, 10)}.0")], [], created_at_type="VARCHAR")
    with pytest.raises(Divergence, match=r"reference engine could not run the create table query of stage_adjust_rows.*Bad int64 value"):
        run_day(db)


def test_a_date_compared_with_an_int64_fails_the_analysis(checked, mutated_sql, tmp_path):
    mutated_sql("close_invalid_rows", "AND adjust_day BETWEEN @open_from_day AND @run_day",
                "AND adjust_day BETWEEN @open_from_day AND @as_of")
    db = tmp_path / "w.duckdb"
    write_inputs(db, [adjust_row(adid="ok")], [])
    with pytest.raises(Divergence, match=r"ZetaSQL does not accept close_invalid_rows.sql.*No matching signature for operator BETWEEN"):
        run_day(db)


def test_a_dropped_tie_breaker_fails_the_differential_check(checked, mutated_sql, tmp_path):
    """Two Amplitude users of one device at the same second: without the tie-breaker, which one
    the identity index records depends on row order, and the engines see the rows in opposite orders."""
    mutated_sql("_macros.sql.j2", "ORDER BY first_event_time, user_id) = 1", "ORDER BY first_event_time) = 1")
    db = tmp_path / "w.duckdb"
    events = [amplitude_event(ts(DAY, 12), device_id="V1", user_id=user) for user in ("first-user", "second-user")]
    write_inputs(db, [adjust_row(adid="tie", idfv="V1")], events)
    with pytest.raises(Divergence, match=r"rebuild_amplitude_identity_index.sql \(create table query\): ZetaSQL's reference engine and DuckDB disagree"):
        run_day(db, dry_run=True)

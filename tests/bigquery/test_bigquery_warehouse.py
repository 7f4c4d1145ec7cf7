"""The BigQuery backend against a fake client: what it would send to BigQuery, and nothing real.

No test here builds a real `bigquery.Client` or real credentials; `client=` is always a fake,
and the one test of the lazy client replaces `bigquery.Client` itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from typing import Any

import pytest
from google.api_core import exceptions as google_errors
from google.cloud import bigquery

from adjust_amplitude import pipeline, sql_templates
from adjust_amplitude.push import event_params
from adjust_amplitude.config import ADJUST_COLUMNS, ADJUST_OPTIONAL_COLUMNS, ADJUST_REQUIRED_COLUMNS, Settings
from adjust_amplitude.run import Plan, Run
from adjust_amplitude.tables import run_tables
from adjust_amplitude.warehouse import WarehouseError
from adjust_amplitude.warehouse.base import ColumnType
from adjust_amplitude.warehouse.bigquery_warehouse import BigQueryWarehouse
from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse
from adjust_amplitude.warehouse.factory import warehouse_for
from bigquery_fake import AMPLITUDE_COLUMNS, FakeBigQueryClient, Job, row

UTC = dt.timezone.utc
DAY = dt.date(2026, 11, 20)
PROJECT = "my-project-123"
SECRET = "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIAL0123456789\n-----END PRIVATE KEY-----\n"
KEYFILE = {
    "type": "service_account",
    "project_id": PROJECT,
    "private_key_id": "keyid-SECRET-42",
    "private_key": SECRET,
    "client_email": "sync@my-project-123.iam.gserviceaccount.com",
    "token_uri": "https://oauth2.googleapis.com/token",
}


@pytest.fixture
def fake() -> FakeBigQueryClient:
    return FakeBigQueryClient()


@pytest.fixture
def wh(fake) -> BigQueryWarehouse:
    return BigQueryWarehouse(PROJECT, "EU", client=fake)


# One push partition: every matched row of the open days.
HELD = {"claimed_by": "run|0|1", **event_params(Settings()), "open_from_day": DAY - dt.timedelta(days=10)}


def _t():
    return run_tables(Settings(), DAY, "r1").quoted()


def _stage_params() -> dict[str, Any]:
    return {
        "activity_kinds": ["install", "reattribution"],
        "environments": ["production"],
        "read_start": 1_794_960_000,
        "day_end": 1_795_219_200,
        "created_at_floor": 1_325_376_000,
        "created_at_ceiling": 1_795_305_600,
        "placeholder_identifiers": ["unknown", "(null)"],
        "run_day": DAY,  # not used by the stage statement
    }


# --- run / fetch: SQL and typed parameters ---------------------------------------------------------


def test_run_sends_the_bigquery_sql_unchanged(wh, fake):
    context = {"t": _t(), "present": set(ADJUST_COLUMNS), "created_at_kind": "integer",
               "adjust_partition": None}
    wh.run("stage_adjust_rows", _stage_params(), **context)
    (job,) = fake.jobs
    assert job.kind == "query"
    assert job.sql == sql_templates.render("stage_adjust_rows", **context)
    assert f"CREATE OR REPLACE TABLE {_t().stage}\nOPTIONS (expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 1 DAY))\nAS" in job.sql
    assert "FROM `adjust`.`raw_events` AS src" in job.sql
    assert "IN UNNEST(@activity_kinds)" in job.sql  # BigQuery syntax, not DuckDB's
    assert job.location == "EU"


def test_parameters_are_typed_and_only_used_ones_are_sent(wh, fake):
    wh.run("stage_adjust_rows", _stage_params(), t=_t(), present=set(ADJUST_COLUMNS),
           created_at_kind="integer", adjust_partition=None)
    assert fake.jobs[0].params == {
        "placeholder_identifiers": ("ARRAY<STRING>", ["unknown", "(null)"]),
        "activity_kinds": ("ARRAY<STRING>", ["install", "reattribution"]),
        "environments": ("ARRAY<STRING>", ["production"]),
        "read_start": ("INT64", 1_794_960_000),
        "day_end": ("INT64", 1_795_219_200),
        "created_at_floor": ("INT64", 1_325_376_000),
        "created_at_ceiling": ("INT64", 1_795_305_600),
    }
    wire = {p["name"]: p for p in fake.jobs[0].wire_params}
    assert wire["activity_kinds"]["parameterType"] == {"type": "ARRAY", "arrayType": {"type": "STRING"}}
    assert wire["read_start"]["parameterType"] == {"type": "INT64"}


def test_scalar_types(wh, fake):
    finished = dt.datetime(2026, 11, 21, 3, 4, 5, tzinfo=UTC)
    wh.run(
        "merge_run_record",
        {
            "run_day": DAY,
            "run_id": None,
            "dry_run": True,
            "as_of": 1_795_219_200,
            "read_from_day": dt.date(2026, 11, 18),
            "in_scope_rows": 10,
            "duplicate_rows": 0,
            "invalid_rows": 1,
            "matched_by_run": 2,
            "closed_unmatched": 3,
            "closed_no_identifier": 0,
            "sent_by_run": 2,
            "api_rejected_by_run": 0,
            "outbox_events": 0,
            "push_sent": 2,
            "push_rejected": 0,
            "push_retries": 1,
            "push_seconds": 0.5,
            "push_mean_rate": 4.0,
            "push_held_elsewhere": 0,
            "push_taken_over": 0,
            "warehouse_jobs": 12,
            "bytes_billed": 2**30,
            "warehouse_usage": "[]",
            "unused_timestamp": finished,
        },
        t=_t(),
    )
    params = fake.jobs[0].params
    assert params["run_day"] == ("DATE", DAY)
    assert params["read_from_day"] == ("DATE", dt.date(2026, 11, 18))
    assert params["run_id"] == ("STRING", None)
    assert params["dry_run"] == ("BOOL", True)
    assert params["as_of"] == ("INT64", 1_795_219_200)
    assert params["closed_unmatched"] == ("INT64", 3)
    assert params["push_seconds"] == ("FLOAT64", 0.5)
    assert "unused_timestamp" not in params
    null = next(p for p in fake.jobs[0].wire_params if p["name"] == "run_id")
    assert null["parameterType"] == {"type": "STRING"} and null["parameterValue"].get("value") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["a", "b"], ("ARRAY<STRING>", ["a", "b"])),
        (("a",), ("ARRAY<STRING>", ["a"])),
        ([], ("ARRAY<STRING>", [])),
        (7, ("INT64", 7)),
        (True, ("BOOL", True)),
        (False, ("BOOL", False)),
        (1.5, ("FLOAT64", 1.5)),
        ("x", ("STRING", "x")),
        (None, ("STRING", None)),
        (DAY, ("DATE", DAY)),
        (dt.datetime(2026, 11, 20, 1, 2, 3, tzinfo=UTC), ("TIMESTAMP", dt.datetime(2026, 11, 20, 1, 2, 3, tzinfo=UTC))),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, tuple) or len(v) != 2 or not isinstance(v[0], str) else v[0],
)
def test_each_python_type_maps_to_its_bigquery_type(wh, fake, value, expected):
    wh.fetch("select_rows_to_send", {"after_key": value, "page_size": 10, **HELD}, t=_t())
    assert fake.jobs[0].params["after_key"] == expected


def test_naive_datetime_and_unknown_types_are_refused(wh, fake):
    with pytest.raises(WarehouseError, match="naive datetime for @after_key"):
        wh.fetch("select_rows_to_send", {"after_key": dt.datetime(2026, 11, 20), "page_size": 1, **HELD}, t=_t())
    with pytest.raises(WarehouseError, match="@after_key"):
        wh.fetch("select_rows_to_send", {"after_key": {"a": 1}, "page_size": 1, **HELD}, t=_t())
    assert fake.jobs == []


def test_missing_parameter_raises_naming_it(wh, fake):
    params = _stage_params()
    del params["day_end"]
    with pytest.raises(WarehouseError, match="day_end"):
        wh.run("stage_adjust_rows", params, t=_t(), present=set(ADJUST_COLUMNS), created_at_kind="integer",
               adjust_partition=None)
    with pytest.raises(WarehouseError, match=r"\['page_size'\]"):
        wh.fetch("select_rows_to_send", {"after_key": "", **HELD}, t=_t())
    assert fake.jobs == []


def test_fetch_returns_rows_as_dicts(wh, fake):
    newest = int(dt.datetime(2026, 11, 20, 23, 0, tzinfo=UTC).timestamp())
    fake.rows["FROM `amplitude`.`events`"] = [row(newest_event_seconds=newest)]
    assert wh.fetch("select_newest_amplitude_event", {"read_after": 0}, t=_t()) == [{"newest_event_seconds": newest}]
    fake.rows["FROM `attribution`.`sync_ledger`"] = [row(row_key="k1", event="{}"), row(row_key="k2", event=None)]
    got = wh.fetch("select_rows_to_send", {"after_key": "", "page_size": 2, **HELD}, t=_t())
    assert got == [{"row_key": "k1", "event": "{}"}, {"row_key": "k2", "event": None}]
    assert fake.jobs[1].params == {
        "after_key": ("STRING", ""), "page_size": ("INT64", 2), "claimed_by": ("STRING", "run|0|1"),
        "event_type_prefix": ("STRING", "[Adjust]"), "open_from_day": ("DATE", DAY - dt.timedelta(days=10)),
        **{name: ("STRING", value) for name, value in Settings().user_property_params.items()},
    }


@pytest.mark.parametrize("fmt", ["csv", "lines"])
def test_an_export_reads_one_job_a_page_at_a_time_and_writes_the_file(wh, fake, tmp_path, fmt):
    fake.rows["FROM `attribution`.`discrepancy_rows`"] = [
        row(row_key="k,1", reason="no_identifier"), row(row_key='say "hi"', reason=None), row(row_key="l\nl", reason="x")]
    written = wh.export("select_report_rows", {"run_day": DAY, "mask_identifiers": True}, tmp_path / "out", fmt, t=_t())
    assert written == 3 and len(fake.jobs) == 1
    text = (tmp_path / "out").read_bytes().decode("utf-8")
    if fmt == "csv":  # as DuckDB's COPY writes it: quoted only where needed, NULL empty, CRLF
        assert text == 'row_key,reason\r\n"k,1",no_identifier\r\n"say ""hi""",\r\n"l\nl",x\r\n'
    else:
        assert text == 'k,1\nsay "hi"\nl\nl\n'


def test_an_export_of_an_unknown_format_is_refused(wh, fake, tmp_path):
    with pytest.raises(WarehouseError, match="unknown export format 'json'"):
        wh.export("select_report_rows", {"run_day": DAY, "mask_identifiers": True}, tmp_path / "out", "json", t=_t())
    assert fake.jobs == []


# --- location, datasets, columns, loads --------------------------------------------------------------


def test_location_from_extras_goes_to_every_query_and_load(fake):
    wh = BigQueryWarehouse.from_extras({"project": PROJECT, "location": "europe-west3"})
    wh._client = fake  # the lazy client is replaced before anything would build a real one
    wh.run("create_sync_ledger", t=_t())
    wh.fetch("select_newest_amplitude_event", {"read_after": 0}, t=_t())
    wh.append_rows("attribution.push_journal", [{"row_key": "k", "outcome": "sent", "attempts": 1}], ["r|k"])
    wh.ensure_dataset("attribution")
    assert [j.kind for j in fake.jobs] == ["query", "query", "stream", "create_dataset"]
    # a streaming insert goes to the table wherever it is; jobs and datasets carry the location
    assert {j.location for j in fake.jobs if j.kind != "stream"} == {"europe-west3"}


def test_no_location_means_the_default(fake):
    wh = BigQueryWarehouse(PROJECT, None, client=fake)
    wh.run("create_sync_ledger", t=_t())
    wh.ensure_dataset("attribution")
    assert [j.location for j in fake.jobs] == [None, None]
    assert "location (default)" in wh.describe()


def test_ensure_dataset_creates_project_dataset(wh, fake):
    wh.ensure_dataset("attribution")
    assert fake.jobs == [Job("create_dataset", dataset=f"{PROJECT}.attribution", location="EU", exists_ok=True)]


def test_ensure_dataset_keeps_a_qualified_dataset(wh, fake):
    wh.ensure_dataset("other-project-9.attribution")
    assert fake.jobs[0].dataset == "other-project-9.attribution"
    assert fake.jobs[0].exists_ok is True


def test_ensure_dataset_without_project_uses_the_clients_project():
    fake = FakeBigQueryClient(project="adc-project-77")
    BigQueryWarehouse(None, "US", client=fake).ensure_dataset("attribution")
    assert fake.jobs == [Job("create_dataset", dataset="adc-project-77.attribution", location="US", exists_ok=True)]


def test_columns_lower_cases_and_reports_missing_tables():
    fake = FakeBigQueryClient(tables={"adjust.raw_events": ["Activity_Kind", "CREATED_AT", "adid", "os_name"]})
    wh = BigQueryWarehouse(PROJECT, "EU", client=fake)
    assert set(wh.columns("adjust.raw_events")) == {"activity_kind", "created_at", "adid", "os_name"}
    assert wh.columns("adjust.nope") is None


def test_append_rows_streams_json_with_row_ids_and_no_job(wh, fake):
    sent_at = dt.datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
    rows = [
        {"row_key": "k1", "outcome": "sent", "sent_at": sent_at, "http_status": 200, "attempts": 1, "reject_reason": None},
        {"row_key": "k2", "outcome": "rejected", "sent_at": None, "http_status": 400, "attempts": 2, "reject_reason": "bad"},
        {"row_key": "k3", "outcome": "x", "sent_at": None, "http_status": None, "attempts": 1, "reject_reason": DAY},
    ]
    wh.append_rows("attribution.push_journal", rows, ["r|k1", "r|k2", "r|k3"])
    (stream,) = fake.jobs
    assert stream.kind == "stream" and stream.destination == "attribution.push_journal"
    assert stream.row_ids == ["r|k1", "r|k2", "r|k3"]
    assert stream.rows[0]["sent_at"] == "2026-11-20T10:30:00+00:00"
    assert stream.rows[1]["sent_at"] is None and stream.rows[1]["http_status"] == 400
    assert stream.rows[2]["reject_reason"] == "2026-11-20"
    assert json.loads(json.dumps(stream.rows)) == stream.rows
    assert rows[0]["sent_at"] is sent_at  # the caller's rows are not modified
    assert wh.usage.jobs == 0


def test_refused_streamed_rows_fail_clearly(wh, fake):
    fake.insert_rows_json = lambda table, rows, row_ids=None: [{"index": 0, "errors": [{"reason": "invalid"}]}]
    with pytest.raises(WarehouseError, match="BigQuery refused rows appended to attribution.push_journal"):
        wh.append_rows("attribution.push_journal", [{"row_key": "k"}], ["r|k"])


def test_append_no_rows_sends_nothing(wh, fake):
    wh.append_rows("attribution.x", [], [])
    assert fake.jobs == []


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("when", ["query", "result"])
def test_google_api_error_becomes_warehouse_error_naming_the_file(wh, fake, when):
    fake.fail["MERGE `attribution`.`sync_ledger` AS ledger"] = (when, google_errors.BadRequest("Syntax error: boom"), None)
    with pytest.raises(WarehouseError) as caught:
        wh.run("merge_new_ledger_rows", {"run_day": DAY, "open_from_day": DAY}, t=_t())
    message = str(caught.value)
    assert "merge_new_ledger_rows.sql" in message
    assert "Syntax error: boom" in message
    assert f"project {PROJECT}" in message
    assert isinstance(caught.value.__cause__, google_errors.GoogleAPIError)


def test_other_errors_are_not_swallowed(wh, fake):
    fake.fail["sync_ledger"] = ("query", KeyError("bug"), None)
    with pytest.raises(KeyError):
        wh.run("create_sync_ledger", t=_t())


# --- from_extras and credentials -------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "extra__google_cloud_platform__"])
def test_from_extras_reads_plain_and_prefixed_keys(prefix):
    wh = BigQueryWarehouse.from_extras({f"{prefix}project": PROJECT, f"{prefix}location": "EU"})
    assert (wh.project, wh.location) == (PROJECT, "EU")
    assert wh.engine == "bigquery"
    assert wh.describe() == f"BigQuery project {PROJECT} location EU"
    assert wh._client is None  # nothing is built until the first statement


def test_plain_key_wins_over_prefixed():
    wh = BigQueryWarehouse.from_extras({"project": "plain-project", "extra__google_cloud_platform__project": "old-project"})
    assert wh.project == "plain-project"


def test_from_extras_without_anything_uses_defaults():
    wh = BigQueryWarehouse.from_extras({})
    assert (wh.project, wh.location) == (None, None)
    assert wh.describe() == "BigQuery project (default) location (default)"
    assert wh._credentials_factory() is None  # Application Default Credentials


@pytest.mark.parametrize("prefix", ["", "extra__google_cloud_platform__"])
@pytest.mark.parametrize("as_text", [True, False])
def test_keyfile_dict_is_used_through_the_factory_and_never_shown(prefix, as_text):
    keyfile = json.dumps(KEYFILE) if as_text else dict(KEYFILE)
    wh = BigQueryWarehouse.from_extras({f"{prefix}project": PROJECT, f"{prefix}keyfile_dict": keyfile})
    assert callable(wh._credentials_factory)
    for secret in (SECRET, "TOPSECRETKEYMATERIAL", "keyid-SECRET-42"):
        assert secret not in wh.describe()
    # The fake key is not a real PEM: building credentials fails with an error that holds no key.
    with pytest.raises(ValueError) as caught:
        wh._credentials_factory()
    assert "TOPSECRETKEYMATERIAL" not in str(caught.value)
    assert "keyid-SECRET-42" not in str(caught.value)


def test_incomplete_keyfile_fails_clearly_without_the_key():
    wh = BigQueryWarehouse.from_extras({"keyfile_dict": {"type": "service_account", "private_key": SECRET}})
    with pytest.raises(ValueError, match="client_email") as caught:
        wh._credentials_factory()
    assert "TOPSECRETKEYMATERIAL" not in str(caught.value)


def test_key_path_goes_to_the_factory(tmp_path):
    missing = tmp_path / "no-such-key.json"
    wh = BigQueryWarehouse.from_extras({"key_path": str(missing)})
    with pytest.raises(FileNotFoundError):
        wh._credentials_factory()


def test_lazy_client_gets_project_location_and_credentials(monkeypatch):
    built: list[dict] = []

    class ClientSpy(FakeBigQueryClient):
        def __init__(self, **kwargs):
            built.append(kwargs)
            super().__init__()

    monkeypatch.setattr(bigquery, "Client", ClientSpy)
    token = object()
    wh = BigQueryWarehouse(PROJECT, "EU", credentials_factory=lambda: token)
    wh.run("create_sync_runs", t=_t())
    wh.run("create_sync_ledger", t=_t())
    assert built == [{"project": PROJECT, "credentials": token, "location": "EU"}]
    assert len(wh.client.jobs) == 2


def test_the_key_never_reaches_sql_parameters_or_descriptions(fake):
    wh = BigQueryWarehouse.from_extras(
        {"project": PROJECT, "location": "EU", "keyfile_dict": json.dumps(KEYFILE), "key_path": "/secret/key.json"}
    )
    wh._client = fake
    fake.rows["AS in_scope_rows"] = [row(in_scope_rows=1, duplicate_rows=0, invalid_rows=0)]
    plan = Plan(DAY, "r1", Settings())
    run = Run(plan, warehouse=wh)
    pipeline.prepare_outputs(run)
    pipeline.stage_rows(run, {"present": list(ADJUST_OPTIONAL_COLUMNS), "created_at_kind": "integer"})
    wh.append_rows("attribution.push_journal", [{"row_key": "k", "attempts": 1}], ["r1|k"])
    recorded = json.dumps([dataclasses.asdict(j) for j in fake.jobs], default=str) + wh.describe()
    for secret in ("TOPSECRETKEYMATERIAL", "keyid-SECRET-42", "PRIVATE KEY", "/secret/key.json", "sync@my-project"):
        assert secret not in recorded


# --- factory -----------------------------------------------------------------------------------------


def test_factory_duckdb(tmp_path):
    path = tmp_path / "x.duckdb"
    wh = warehouse_for("duckdb", str(path), {})
    assert isinstance(wh, DuckDBWarehouse)
    assert wh.engine == "duckdb"
    assert wh.path == path
    assert not path.exists()  # choosing the backend opens nothing


def test_factory_duckdb_is_case_insensitive(tmp_path):
    assert isinstance(warehouse_for("DuckDB", str(tmp_path / "x.duckdb"), {}), DuckDBWarehouse)


@pytest.mark.parametrize("host", [None, ""])
def test_factory_duckdb_needs_a_host(host):
    with pytest.raises(WarehouseError, match="needs host"):
        warehouse_for("duckdb", host, {})


@pytest.mark.parametrize("conn_type", ["google_cloud_platform", "gcpbigquery", "bigquery", "Google_Cloud_Platform"])
def test_factory_bigquery(conn_type):
    wh = warehouse_for(conn_type, None, {"project": PROJECT, "location": "EU", "keyfile_dict": json.dumps(KEYFILE)})
    assert isinstance(wh, BigQueryWarehouse)
    assert (wh.project, wh.location) == (PROJECT, "EU")
    assert wh._client is None
    assert "TOPSECRETKEYMATERIAL" not in wh.describe()


@pytest.mark.parametrize("conn_type", ["postgres", "", None, "snowflake"])
def test_factory_unknown_conn_type(conn_type):
    with pytest.raises(WarehouseError) as caught:
        warehouse_for(conn_type, "somewhere", {}, conn_id="my_conn")
    message = str(caught.value)
    assert "my_conn" in message
    assert repr(conn_type) in message
    assert "'duckdb'" in message and "'google_cloud_platform'" in message


# --- a pipeline step through the BigQuery backend ------------------------------------------------------


def test_pipeline_prepare_and_stage_through_bigquery(fake):
    wh = BigQueryWarehouse(PROJECT, "EU", client=fake)
    fake.rows["AS in_scope_rows"] = [row(in_scope_rows=12, duplicate_rows=2, invalid_rows=1)]
    planned_at = int(dt.datetime(2026, 11, 29, 6, tzinfo=UTC).timestamp())
    plan = Plan(dt.date(2026, 11, 20), "r1", Settings(), planned_at=planned_at)
    run = Run(plan, warehouse=wh)
    present_optional = ["app_token", "environment", "idfa", "gps_adid", "network_name"]

    pipeline.prepare_outputs(run)
    counts = pipeline.stage_rows(run, {"present": present_optional, "created_at_kind": "text"})
    assert counts == {"in_scope_rows": 12, "duplicate_rows": 2, "invalid_rows": 1, "invalid_reasons": []}

    read_start = int(dt.datetime(2026, 11, 18, tzinfo=UTC).timestamp())
    day_end = int(dt.datetime(2026, 11, 21, tzinfo=UTC).timestamp())
    assert (read_start, day_end) == (1_794_960_000, 1_795_219_200)

    creates = [
        ("create_sync_ledger", "`attribution`.`sync_ledger`"),
        ("create_rejected_rows", "`attribution`.`rejected_rows`"),
        ("create_discrepancy_rows", "`attribution`.`discrepancy_rows`"),
        ("create_discrepancy_summary", "`attribution`.`discrepancy_summary`"),
        ("create_sync_runs", "`attribution`.`sync_runs`"),
        ("create_push_journal", "`attribution`.`push_journal`"),
        ("create_amplitude_identity_index", "`attribution`.`amplitude_identity_index`"),
        ("create_amplitude_index_runs", "`attribution`.`amplitude_index_runs`"),
        ("create_notification_log", "`attribution`.`notification_log`"),
    ]
    t = run.t
    present = set(ADJUST_REQUIRED_COLUMNS) | set(present_optional)
    expected_sql = [sql_templates.render(name, t=t) for name, _ in creates] + [
        sql_templates.render("stage_adjust_rows", t=t, present=present, created_at_kind="text",
                             adjust_partition=None),
        sql_templates.render("merge_rejected_rows", t=t),
        sql_templates.render("merge_new_ledger_rows", t=t),
        sql_templates.render("select_stage_counts", t=t),
        sql_templates.render("select_stage_invalid_reasons", t=t),
        sql_templates.render("drop_table", t=t, table=t.stage),
    ]

    assert [j.kind for j in fake.jobs] == ["create_dataset"] + ["query"] * 15
    assert fake.jobs[0] == Job("create_dataset", dataset=f"{PROJECT}.attribution", location="EU", exists_ok=True)
    assert [j.sql for j in fake.queries] == expected_sql
    for job, (_, table) in zip(fake.queries[:9], creates):
        assert _statement_lines(job.sql)[0] == f"CREATE TABLE IF NOT EXISTS {table} ("
        assert job.params == {}
    stage = run.tables.stage
    assert stage.startswith("attribution._stage_adjust_20261120_")  # the day, then the run
    assert _statement_lines(fake.queries[9].sql)[:3] == [
        f"CREATE OR REPLACE TABLE {sql_templates.quote_table(stage)}",
        "OPTIONS (expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 1 DAY))",  # should a kill leave it
        "AS",
    ]
    assert _statement_lines(fake.queries[10].sql)[0].startswith("MERGE `attribution`.`rejected_rows` AS target")
    assert _statement_lines(fake.queries[11].sql)[0].startswith("MERGE `attribution`.`sync_ledger` AS ledger")
    assert _statement_lines(fake.queries[14].sql)[0] == f"DROP TABLE IF EXISTS {sql_templates.quote_table(stage)}"
    assert {j.location for j in fake.jobs} == {"EU"}

    assert fake.queries[9].params == {
        "activity_kinds": ("ARRAY<STRING>", ["install", "reattribution"]),
        "environments": ("ARRAY<STRING>", ["production"]),
        "read_start": ("INT64", read_start),
        "day_end": ("INT64", day_end),
        "created_at_floor": ("INT64", int(dt.datetime(2012, 1, 1, tzinfo=UTC).timestamp())),
        # A day after the run was planned, for a backfill of an earlier day.
        "created_at_ceiling": ("INT64", planned_at + 86400),
        "placeholder_identifiers": ("ARRAY<STRING>", list(Settings().placeholder_identifiers)),
    }
    days = {"run_day": ("DATE", dt.date(2026, 11, 20)), "open_from_day": ("DATE", dt.date(2026, 11, 10))}
    assert fake.queries[10].params == {**days, "undated_day": ("DATE", dt.date(9999, 12, 31))}
    assert fake.queries[11].params == days
    day_start = {"day_start": ("INT64", int(dt.datetime(2026, 11, 20, tzinfo=UTC).timestamp()))}
    assert fake.queries[12].params == fake.queries[13].params == day_start

    stage_sql = fake.queries[9].sql
    for column in present:
        assert f"CAST(src.{column} AS STRING) AS {column}," in stage_sql
    for column in set(ADJUST_OPTIONAL_COLUMNS) - set(present_optional):
        assert f"CAST(NULL AS STRING) AS {column}," in stage_sql


def test_two_runs_of_one_day_stage_into_tables_of_their_own():
    settings = Settings()
    assert len({run_tables(settings, DAY, run_id).stage for run_id in ("scheduled__a", "backfill__a", None)}) == 3
    assert run_tables(settings, DAY, "x").stage == run_tables(settings, DAY, "x").stage


def test_pipeline_check_inputs_through_bigquery():
    fake = FakeBigQueryClient(
        tables={
            "adjust.raw_events": [c.upper() for c in ADJUST_REQUIRED_COLUMNS] + ["idfa", "network_name", "extra_col"],
            "amplitude.events": AMPLITUDE_COLUMNS,
        }
    )
    plan = Plan(dt.date(2026, 11, 20), "r1", Settings())
    run = Run(plan, warehouse=BigQueryWarehouse(PROJECT, "EU", client=fake))
    assert pipeline.check_inputs(run) == {"present": ["idfa", "network_name"], "created_at_kind": "text",
                                              "adjust_partition": None}
    assert fake.jobs == []  # only metadata was read

    del fake.tables["amplitude.events"]
    with pytest.raises(pipeline.InputError, match="amplitude_table amplitude.events does not exist in BigQuery project"):
        pipeline.check_inputs(run)


@pytest.mark.parametrize(("column", "schema_type", "mode", "kind"), [
    ("created_at", "INTEGER", "NULLABLE", "integer"), ("created_at", "INT64", "NULLABLE", "integer"),
    ("created_at", "FLOAT", "NULLABLE", "number"), ("created_at", "NUMERIC", "NULLABLE", "number"),
    ("created_at", "STRING", "NULLABLE", "text"), ("event_time", "DATETIME", "NULLABLE", "naive_timestamp"),
    ("event_time", "TIMESTAMP", "REQUIRED", "timestamp"),
])
def test_bigquery_column_types_the_contract_accepts(column, schema_type, mode, kind):
    wh = BigQueryWarehouse(PROJECT, "EU", client=FakeBigQueryClient(tables={"t.x": [(column, schema_type, mode)]}))
    assert wh.columns("t.x") == {column: ColumnType(schema_type, kind)}


@pytest.mark.parametrize(("table", "column", "schema_type", "mode", "found"), [
    ("adjust.raw_events", "created_at", "TIMESTAMP", "NULLABLE", "TIMESTAMP"),
    ("adjust.raw_events", "created_at", "STRING", "REPEATED", "ARRAY<STRING>"),
    ("adjust.raw_events", "adid", "RECORD", "NULLABLE", "RECORD"),
    ("amplitude.events", "event_time", "INTEGER", "NULLABLE", "INTEGER"),
    ("amplitude.events", "event_time", "STRING", "NULLABLE", "STRING"),
    ("amplitude.events", "device_id", "BYTES", "NULLABLE", "BYTES"),
])
def test_check_inputs_names_a_bigquery_column_of_the_wrong_type(table, column, schema_type, mode, found):
    tables = {"adjust.raw_events": list(ADJUST_REQUIRED_COLUMNS), "amplitude.events": AMPLITUDE_COLUMNS}
    tables[table] = [(column, schema_type, mode) if (c if isinstance(c, str) else c[0]) == column else c
                     for c in tables[table]]
    fake = FakeBigQueryClient(tables=tables)
    plan = Plan(dt.date(2026, 11, 20), "r1", Settings())
    run = Run(plan, warehouse=BigQueryWarehouse(PROJECT, "EU", client=fake))
    key = table.split(".")[0] + "_table"
    with pytest.raises(pipeline.InputError, match=rf"^{key} {table}: column {column} is {re.escape(found)}, which"):
        pipeline.check_inputs(run)
    assert fake.jobs == []


def _statement_lines(sql: str) -> list[str]:
    """The SQL's lines after its leading comment block."""
    lines = sql.splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("--")]

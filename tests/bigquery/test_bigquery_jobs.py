"""What a whole run costs on BigQuery, counted on the recording fake client: a constant number of
jobs however many rows it pushes, no DML, DDL or load job per flush, every job labelled and
capped, and a DML statement that loses a race with another run's DML retried safely."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from google.api_core import exceptions as google_errors

from adjust_amplitude.amplitude_hook import SendOutcome
from adjust_amplitude.config import Settings
from adjust_amplitude.warehouse import bigquery_warehouse
from adjust_amplitude.warehouse.bigquery_warehouse import BigQueryWarehouse
from bigquery_fake import ADJUST_COLUMNS as ADJUST_EXPORT_COLUMNS
from bigquery_fake import AMPLITUDE_COLUMNS, BYTES_PER_QUERY, FakeBigQueryClient, row
from pipeline_helpers import DAY, run_day

PROJECT = "my-project-123"
# A run that closes windows also reads the export's devices for the diagnosis (one job more than here).
MAX_JOBS = 44
# Statements a push attempt runs, whatever it sends: the journal applied before and after, the claim.
PUSH_STATEMENTS = ["merge_api_rejections", "apply_push_journal", "claim_rows_to_send", "count_rows_to_send",
                   "select_rows_to_send", "merge_api_rejections", "apply_push_journal", "select_rows_held_elsewhere"]


class AcknowledgingHook:
    """Stands in for the Attribution API client in this module only. What is counted here is
    BigQuery's jobs; the HTTP side has its own tests over real loopback, where 100,000 real
    requests would take minutes. Every event is acknowledged at once, on the push's threads."""

    is_dry_run = False
    amplitude_conn_id = "amplitude_attribution"
    retries = 0
    session = None

    def send(self, event, limiter=None) -> SendOutcome:
        return SendOutcome("sent", 200, 1)

    def close(self) -> None:
        pass


def matched_rows(n: int) -> list:
    """Rows to send as select_rows_to_send gives them: each with its event."""
    return [row(row_key=f"k{i:07d}", event=json.dumps({
        "event_type": "[Adjust] Install", "platform": "ios", "time": (1_795_140_000 + i) * 1000, "idfv": f"IDFV-{i}",
        "user_properties": {"[Adjust] network": "Net", "[Adjust] campaign": "Camp"}})) for i in range(n)]


def bigquery_run(tmp_path, pushed: int, fake: FakeBigQueryClient | None = None) -> FakeBigQueryClient:
    """One day's whole run, every step on a BigQuery warehouse of its own over one fake client,
    which answers with `pushed` matched rows to send."""
    fake = fake or FakeBigQueryClient()
    fake.tables.update({"adjust.raw_events": ADJUST_EXPORT_COLUMNS, "amplitude.events": AMPLITUDE_COLUMNS})
    fake.rows.update({
        "AS newest_event_seconds": [row(newest_event_seconds=int(dt.datetime(2026, 11, 20, 23, tzinfo=dt.timezone.utc).timestamp()))],
        "AS indexed_through": [row(indexed_through=int(dt.datetime(2026, 11, 19, 23, tzinfo=dt.timezone.utc).timestamp()))],
        "AS in_scope_rows": [row(in_scope_rows=pushed, duplicate_rows=0, invalid_rows=0)],
        "AS rows_to_send": [row(rows_to_send=pushed)],
        "claimed_by = @claimed_by AND row_key > @after_key": matched_rows(pushed),
        "LEAST(@summary_from_day": [row(from_day=DAY - dt.timedelta(days=6))],
        "AS matched_by_run": [row(matched_by_run=pushed, closed_unmatched=0, closed_no_identifier=0,
                                  sent_by_run=pushed, api_rejected_by_run=0)],
    })
    settings = Settings(report_dir=str(tmp_path / "reports"), rate_limit_per_second=10_000_000, max_in_flight=8)
    run_day(tmp_path / "unused", DAY, settings=settings, warehouse=lambda: BigQueryWarehouse(PROJECT, "EU", client=fake),
            hook=AcknowledgingHook())
    return fake


def statements(fake: FakeBigQueryClient) -> list[str]:
    return [job.labels["statement"] for job in fake.queries]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return {n: bigquery_run(tmp_path_factory.mktemp(f"run{n}"), n) for n in (1_000, 100_000)}


def test_a_runs_jobs_are_bounded_and_do_not_grow_with_the_rows_it_pushes(runs):
    small, large = runs[1_000], runs[100_000]
    assert statements(small) == statements(large)
    assert len(small.queries) <= MAX_JOBS
    assert [j.kind for j in large.jobs if j.kind not in ("query", "stream", "create_dataset")] == []  # no load job
    print(f"jobs per run: {len(small.queries)} at 1,000 and {len(large.queries)} at 100,000 pushed rows")


def test_the_push_runs_a_fixed_set_of_statements_and_streams_its_outcomes(runs):
    large = runs[100_000]
    ran = statements(large)
    push = ran[ran.index("count_partition_rows") + 1:ran.index("select_summary_from_day")]
    assert push == PUSH_STATEMENTS
    streamed = [r for j in large.jobs if j.kind == "stream" for r in j.rows if r["outcome"] == "sent"]
    assert len(streamed) == 100_000 and len({r["row_key"] for r in streamed}) == 100_000
    assert all(j.destination == "attribution.push_journal" for j in large.jobs if j.kind == "stream")
    ids = [i for j in large.jobs if j.kind == "stream" for i in j.row_ids]
    assert len(ids) == len(set(ids))  # BigQuery drops a repeated insert by these


def test_every_job_is_labelled_and_capped(runs):
    for job in runs[1_000].queries:
        assert set(job.labels) == {"dag_id", "task_id", "run_day", "statement"}
        assert job.labels["run_day"] == "2026-11-20"
        assert job.maximum_bytes_billed == Settings().maximum_bytes_billed == 2**40


def test_the_run_record_keeps_the_jobs_and_bytes_of_each_step(runs):
    (record,) = [j for j in runs[1_000].queries if j.labels["statement"] == "merge_run_record"]
    jobs = record.params["warehouse_jobs"][1]
    assert jobs == sum(1 for j in runs[1_000].queries if j.labels["statement"] not in AFTER_THE_RECORD)
    # every job but the record's own, whose bill is not known when it is written
    assert record.params["bytes_billed"] == ("INT64", (jobs - 1) * BYTES_PER_QUERY)
    assert '"step": "push_to_amplitude[0]"' in record.params["warehouse_usage"][1]


AFTER_THE_RECORD = {"select_report_rows", "select_report_summary_rows", "select_report_match_pairs",
                    "select_report_identifier_coverage", "select_amplitude_device_shapes", "select_report_history",
                    "select_adjust_day_trend", "select_report_reason_history", "select_top_reject_reasons"}


def test_a_merge_that_loses_a_race_with_another_runs_update_runs_again(tmp_path, monkeypatch, caplog):
    pauses: list[float] = []
    monkeypatch.setattr(bigquery_warehouse.time, "sleep", pauses.append)
    fake = FakeBigQueryClient()
    race = google_errors.BadRequest("Could not serialize access to table my-project-123:attribution.sync_ledger "
                                    "due to concurrent update")
    fake.fail["MERGE `attribution`.`sync_ledger` AS ledger\nUSING (\n  SELECT *\n  FROM `attribution`.`_stage"] = (
        "result", race, 2)
    with caplog.at_level(logging.WARNING, logger="adjust_amplitude.warehouse.bigquery_warehouse"):
        bigquery_run(tmp_path, 10, fake)
    assert statements(fake).count("merge_new_ledger_rows") == 3 and len(pauses) == 2
    assert "merge_new_ledger_rows.sql lost a race with another run's update" in caplog.text


def test_other_errors_are_not_retried(tmp_path, monkeypatch):
    monkeypatch.setattr(bigquery_warehouse.time, "sleep", lambda s: None)
    fake = FakeBigQueryClient()
    fake.fail["MERGE `attribution`.`sync_ledger` AS ledger\nUSING (\n  SELECT *\n  FROM `attribution`.`_stage"] = (
        "result", google_errors.BadRequest("Syntax error"), None)
    with pytest.raises(bigquery_warehouse.WarehouseError, match="Syntax error"):
        bigquery_run(tmp_path, 10, fake)
    assert statements(fake).count("merge_new_ledger_rows") == 1

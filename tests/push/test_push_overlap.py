"""Pushes of runs that overlap: a scheduled run, a backfill, a manual trigger and `dags test` all
find the same matched rows waiting. Only the holder of a row's claim sends it."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest

from adjust_amplitude import pipeline, push
from adjust_amplitude.config import Settings
from pipeline_helpers import DAY, index_and_match, killed_mid_push, ledger, matched_warehouse, query, run_of

pytestmark = pytest.mark.slow  # runs pushing at once against the loopback server

OTHER_DAY = DAY + dt.timedelta(days=1)


def prepared(path, rows: int, settings: Settings) -> None:
    """`rows` matched rows waiting to be sent, as a day's match step leaves them."""
    matched_warehouse(path, rows)
    run = run_of(path, settings, "prepare", DAY)
    pipeline.prepare_outputs(run)
    pipeline.stage_rows(run, pipeline.check_inputs(run))
    index_and_match(run)


@pytest.mark.parametrize("second", [(OTHER_DAY, "backfill__b"), (DAY, "manual__b")], ids=["another day", "the same day"])
def test_two_runs_pushing_at_once_send_every_row_exactly_once(tmp_path, server, second):
    """The scheduled run of one day and a backfill run of another (or a manual run of the same day)
    push at the same moment, with latency and a low rate so that they really overlap: every row
    reaches the server once, and both runs succeed."""
    db = tmp_path / "w.duckdb"
    rows = 300
    settings = Settings(rate_limit_per_second=150, max_in_flight=4, report_dir=str(tmp_path / "r"))
    prepared(db, rows, settings)
    server.latency = 0.02
    results: dict[str, dict] = {}
    errors: list[BaseException] = []
    started = threading.Barrier(2)

    def push_as(day: dt.date, run_id: str) -> None:
        try:
            started.wait()
            results[run_id] = pipeline.push(run_of(db, settings, run_id, day))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=push_as, args=(DAY, "scheduled__a")),
               threading.Thread(target=push_as, args=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    counts = server.counts()
    assert len(counts) == rows and set(counts.values()) == {1}  # every row, once
    assert sum(r["sent"] for r in results.values()) == rows
    assert {r["status"] for r in ledger(db).values()} == {"sent"}
    assert {r["claimed_by"] for r in ledger(db).values()} == {None}  # a sent row's claim has ended
    # both really took part: each holds at most what it sent, and the first to claim sent all
    print({run_id: r["sent"] for run_id, r in results.items()})


def test_a_killed_pushs_claims_hold_other_runs_off_and_pass_to_its_retry(tmp_path, server, monkeypatch):
    """A run of another day started right after the kill sends none of the killed push's rows
    (its claims are live: it showed a sign of life moments ago): it waits, and here, with a wait
    cut to 3 s, fails naming the holder. The killed push's retry (same run and partition) takes
    them over at once: nothing lost, re-sends within the crash bound."""
    db = tmp_path / "w.duckdb"
    rows, rate = 1500, 400
    settings = Settings(rate_limit_per_second=rate, max_in_flight=16, report_dir=str(tmp_path / "r"))
    prepared(db, rows, settings)
    server.latency = 0.005
    acknowledged = killed_mid_push(db, settings, server, tmp_path, rows)
    assert rows // 3 <= acknowledged < rows

    monkeypatch.setattr(push, "HELD_WAIT_TTLS", 3 / settings.claim_ttl_seconds)
    with pytest.raises(push.RowsHeldElsewhere, match=r"held by another push that sends none of them: killed\|0\|"):
        pipeline.push(run_of(db, settings, "another_day", OTHER_DAY))
    assert len(server.events) == acknowledged

    retry = pipeline.push(run_of(db, settings, "killed", DAY))
    counts = server.counts()
    assert {json.loads(e)["idfv"] for e in counts} == {f"IDFV-{i}" for i in range(rows)}  # nothing lost
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates <= max(100, rate // 2), f"{duplicates} rows were sent twice"
    assert retry["sent"] + acknowledged - duplicates == rows
    assert {r["status"] for r in ledger(db).values()} == {"sent"}


def test_a_killed_pushs_claims_lapse_to_any_run_after_claim_ttl(tmp_path, server, monkeypatch):
    """Once the killed push has shown no sign of life for claim_ttl_seconds, a run of another day
    takes its rows over; what it had acknowledged is never sent again (the journal says so)."""
    db = tmp_path / "w.duckdb"
    rows, rate = 1500, 400
    settings = Settings(rate_limit_per_second=rate, max_in_flight=16, claim_ttl_seconds=60, report_dir=str(tmp_path / "r"))
    prepared(db, rows, settings)
    server.latency = 0.005
    acknowledged = killed_mid_push(db, settings, server, tmp_path, rows)

    later = time.time() + 61  # the claims' lifetime has passed
    monkeypatch.setattr(push.time, "time", lambda: later)
    other = pipeline.push(run_of(db, settings, "another_day", OTHER_DAY))
    counts = server.counts()
    assert {json.loads(e)["idfv"] for e in counts} == {f"IDFV-{i}" for i in range(rows)}
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates <= max(100, rate // 2)
    assert other["sent"] == rows - acknowledged + duplicates
    assert {r["status"] for r in ledger(db).values()} == {"sent"}
    journal = query(db, "SELECT pushed_by, count(*) AS n FROM attribution.push_journal WHERE outcome = 'sent' "
                        "GROUP BY ALL ORDER BY 1")
    assert [r["pushed_by"].split("|")[0] for r in journal] == ["another_day", "killed"]

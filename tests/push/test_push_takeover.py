"""A run whose rows are held by another push (issue 23, part 2): a re-run by a new run after a
push was killed waits until the dead push's claim lapses, takes its rows over and sends them; a
holder that keeps showing signs of life is waited for, and past the wait the push fails naming it."""

from __future__ import annotations

import datetime as dt
import json
import time

import duckdb
import pytest

from adjust_amplitude import pipeline, push
from adjust_amplitude.config import Settings
from pipeline_helpers import DAY, index_and_match, killed_mid_push, ledger, matched_warehouse, run_of

pytestmark = pytest.mark.slow  # pushes killed and waited for until their claims lapse

TTL = 30  # the shortest claim_ttl_seconds, so the test waits at most half a minute


def _prepared(db, rows: int, settings: Settings) -> None:
    matched_warehouse(db, rows)
    run = run_of(db, settings, "prepare")
    pipeline.prepare_outputs(run)
    pipeline.stage_rows(run, pipeline.check_inputs(run))
    index_and_match(run)


def test_a_new_run_after_a_killed_push_takes_its_rows_over_once_its_claim_lapses(tmp_path, server):
    db = tmp_path / "w.duckdb"
    rows = 3000
    settings = Settings(rate_limit_per_second=400, max_in_flight=16, claim_ttl_seconds=TTL, report_dir=str(tmp_path / "r"))
    _prepared(db, rows, settings)
    server.latency = 0.005
    acknowledged = killed_mid_push(db, settings, server, tmp_path, rows, run_id="killed")
    assert rows // 3 <= acknowledged < rows, "the kill must land mid-push"

    begun = time.monotonic()
    stats = pipeline.push(run_of(db, settings, "manual__rerun"))  # another run: the dead push's claims are not its own
    waited = time.monotonic() - begun

    counts = server.counts()
    assert {json.loads(e)["idfv"] for e in counts} == {f"IDFV-{i}" for i in range(rows)}  # nothing left undone
    assert sum(n - 1 for n in counts.values()) <= max(100, 400 // 2)  # the README's crash bound
    assert set(r["status"] for r in ledger(db).values()) == {"sent"}
    assert 0 < stats["held_elsewhere"] and stats["taken_over"] == stats["held_elsewhere"] == stats["considered"]
    print(f"acknowledged before the kill {acknowledged}; the new run took over {stats['taken_over']} rows after {waited:.1f} s")


def test_a_holder_that_keeps_showing_signs_of_life_is_waited_for_then_named(tmp_path, server, monkeypatch):
    db = tmp_path / "w.duckdb"
    settings = Settings(claim_ttl_seconds=TTL, report_dir=str(tmp_path / "r"))
    _prepared(db, 20, settings)
    holder = "scheduled__2026-11-20|0|1"
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)  # alive all through the wait
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE attribution.sync_ledger SET claimed_by = ?, claimed_at = now()", [holder])
        con.execute("INSERT INTO attribution.push_journal (row_key, outcome, run_day, pushed_by, appended_at) "
                    "VALUES ('', 'alive', ?, ?, ?)", [DAY, holder, later])
    monkeypatch.setattr(push, "HELD_WAIT_TTLS", 0.1)  # 3 s of waiting rather than a minute
    with pytest.raises(push.RowsHeldElsewhere, match=r"held by another push that sends none of them: scheduled__2026-11-20\|0\|1 \(20 rows"):
        pipeline.push(run_of(db, settings, "manual__other"))
    assert server.counts() == {}  # a live holder's rows are never sent by anyone else
    assert {r["claimed_by"] for r in ledger(db).values()} == {holder}

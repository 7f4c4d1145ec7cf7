"""Send matched ledger rows to Amplitude exactly once, or write them to the outbox on a dry run.

Rows are read in pages by key. Each outcome is written back to the ledger in small flushes as
requests are acknowledged, so a crash re-sends at most the rows acknowledged since the last
flush, and loses none (they are still `matched` and the next attempt picks them up).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time
from pathlib import Path
from typing import Any

from adjust_amplitude.amplitude_hook import AmplitudeAttributionHook, AmplitudeAuthError
from adjust_amplitude.attribution_events import NO_SENDABLE_IDENTIFIER, build_event
from adjust_amplitude.config import Settings
from adjust_amplitude.tables import RunTables
from adjust_amplitude.warehouse import Warehouse

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5
PROGRESS_SECONDS = 10.0


class PushIncomplete(RuntimeError):
    """Some rows ran out of retries; they stay unsent and a task retry resumes them."""


@dataclasses.dataclass
class PushStats:
    dry_run: bool
    considered: int = 0
    sent: int = 0
    rejected: int = 0
    failed: int = 0
    retries: int = 0
    outbox_events: int = 0
    outbox_path: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _Pacer:
    """Spaces requests evenly so the push never exceeds `rate_limit_per_second`."""

    def __init__(self, rate_per_second: float) -> None:
        self.interval = 1.0 / rate_per_second
        self.next_at = time.monotonic()

    def wait(self) -> None:
        now = time.monotonic()
        if self.next_at > now:
            time.sleep(self.next_at - now)
        self.next_at = max(now, self.next_at) + self.interval


class _Flusher:
    """Buffers outcomes and writes them to the ledger every few rows or half second."""

    def __init__(self, warehouse: Warehouse, tables: RunTables, run_day: dt.date, flush_rows: int) -> None:
        self.warehouse, self.tables, self.run_day, self.flush_rows = warehouse, tables, run_day, flush_rows
        self.buffer: list[dict[str, Any]] = []
        self.last_flush = time.monotonic()

    def add(self, result: dict[str, Any]) -> None:
        self.buffer.append(result)
        if len(self.buffer) >= self.flush_rows or time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.buffer:
            return
        t = self.tables.quoted()
        with self.warehouse.session() as wh:
            wh.run("create_push_results", t=t)
            wh.append_rows(self.tables.push_results, self.buffer)
            wh.run("merge_api_rejections", {"run_day": self.run_day}, t=t)
            wh.run("apply_push_results", {"run_day": self.run_day}, t=t)
        self.buffer = []


def _result(row: dict[str, Any], outcome: str, http_status: int | None, attempts: int, reason: str | None, body: str | None):
    return {
        "row_key": row["row_key"],
        "outcome": outcome,
        "sent_at": dt.datetime.now(dt.timezone.utc) if outcome == "sent" else None,
        "http_status": http_status,
        "attempts": attempts,
        "reject_reason": reason,
        "response_body": body,
    }


def _pages(warehouse: Warehouse, tables: RunTables, page_size: int):
    after = ""
    t = tables.quoted()
    while True:
        with warehouse.session() as wh:
            page = wh.fetch("select_rows_to_send", {"after_key": after, "page_size": page_size}, t=t)
        if not page:
            return
        yield page
        after = page[-1]["row_key"]


def push_matched_rows(
    warehouse: Warehouse,
    tables: RunTables,
    settings: Settings,
    run_day: dt.date,
    hook: AmplitudeAttributionHook,
    force_dry_run: bool = False,
) -> PushStats:
    dry_run = force_dry_run or hook.is_dry_run
    stats = PushStats(dry_run=dry_run)
    started = last_progress = time.monotonic()
    if dry_run:
        return _write_outbox(warehouse, tables, settings, run_day, hook, force_dry_run, stats, started)

    flusher = _Flusher(warehouse, tables, run_day, settings.ledger_flush_rows)
    pacer = _Pacer(settings.rate_limit_per_second)
    try:
        for page in _pages(warehouse, tables, settings.push_page_size):
            for row in page:
                stats.considered += 1
                event = build_event(row, settings.event_type_prefix)
                if event is None:
                    stats.rejected += 1
                    flusher.add(_result(row, "rejected", None, 0, NO_SENDABLE_IDENTIFIER, None))
                    continue
                pacer.wait()
                outcome = hook.send(event)
                if outcome.status == "sent":
                    stats.sent += 1
                    flusher.add(_result(row, "sent", outcome.http_status, outcome.attempts, None, None))
                elif outcome.status == "rejected":
                    stats.rejected += 1
                    reason = f"amplitude_http_{outcome.http_status}"
                    flusher.add(_result(row, "rejected", outcome.http_status, outcome.attempts, reason, outcome.body))
                else:
                    stats.failed += 1
                if time.monotonic() - last_progress >= PROGRESS_SECONDS:
                    last_progress = time.monotonic()
                    _log_progress(stats, hook, started)
    except AmplitudeAuthError:
        flusher.flush()
        raise
    flusher.flush()
    stats.retries = hook.retries
    stats.seconds = round(time.monotonic() - started, 3)
    log.info(
        "Push done: sent %d, rejected %d, unsent after retries %d, retries %d, %.1f s",
        stats.sent, stats.rejected, stats.failed, stats.retries, stats.seconds,
    )
    if stats.failed:
        raise PushIncomplete(
            f"{stats.failed} rows were not acknowledged after {settings.max_attempts} attempts each; "
            "they stay unsent and the next try of this task resumes them"
        )
    return stats


def _log_progress(stats: PushStats, hook: AmplitudeAttributionHook, started: float) -> None:
    elapsed = time.monotonic() - started
    log.info(
        "Push progress: %d handled (sent %d, rejected %d, unsent %d), %.1f rows/s, retries %d",
        stats.considered, stats.sent, stats.rejected, stats.failed, stats.considered / elapsed, hook.retries,
    )


def outbox_path(settings: Settings, run_day: dt.date) -> Path:
    return settings.report_path() / f"outbox_{run_day.isoformat()}.jsonl"


def _write_outbox(
    warehouse: Warehouse,
    tables: RunTables,
    settings: Settings,
    run_day: dt.date,
    hook: AmplitudeAttributionHook,
    forced: bool,
    stats: PushStats,
    started: float,
) -> PushStats:
    """Dry run: write exactly the events a real run would send (no API key), change nothing."""
    path = outbox_path(settings, run_day)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".jsonl.partial")
    with partial.open("w", encoding="utf-8") as out:
        for page in _pages(warehouse, tables, settings.push_page_size):
            for row in page:
                stats.considered += 1
                event = build_event(row, settings.event_type_prefix)
                if event is not None:
                    out.write(json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n")
                    stats.outbox_events += 1
    partial.replace(path)
    stats.outbox_path = str(path)
    stats.seconds = round(time.monotonic() - started, 3)
    why = "the dry_run parameter is set" if forced else f"Connection {hook.amplitude_conn_id} has no API key"
    log.warning("DRY RUN (%s): sent nothing; wrote %d events to %s", why, stats.outbox_events, path)
    return stats

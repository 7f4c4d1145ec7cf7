"""Send matched ledger rows to Amplitude exactly once, or write them to the outbox on a dry run.

A push attempt first brings the ledger up to date from the push journal, then claims the matched
rows of its partition in one statement: only the holder of a row's claim sends it, so runs that
overlap (a backfill beside the scheduled run, `dags test` beside either) never send a row twice.
Outcomes are appended to the journal in small flushes as requests are acknowledged (appends only:
no DML, DDL or load job per flush), with a sign of life every third of the claim's lifetime. A
crash re-sends at most the rows acknowledged since the last flush and loses none: its claims pass
to its retry at once, and to any other push once it has shown no sign of life for
`claim_ttl_seconds`. The attempt ends by applying the journal to the ledger (one MERGE). Rows
of its days that another push still holds are then waited for, or taken over and sent once their
holder has shown no sign of life for `claim_ttl_seconds` (push_partition), so a new run after a
crash finishes the job as a retry would.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import json
import logging
import math
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from adjust_amplitude.amplitude_hook import AmplitudeAttributionHook, AmplitudeStopError
from adjust_amplitude.config import Settings
from adjust_amplitude.rate_limiter import AdaptiveRateLimiter
from adjust_amplitude.run import Plan, Run, task_instance

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5
# The reason of a matched row with nothing Amplitude can attribute by (select_rows_to_send gives it no event).
NO_SENDABLE_IDENTIFIER = "no_sendable_identifier"
PROGRESS_SECONDS = 10.0


# How long a push waits, in claim_ttl_seconds, for another push that holds rows of its days and
# sends none of them while it shows signs of life (one that sends is waited for as long as it does).
HELD_WAIT_TTLS = 2.0


class PushIncomplete(RuntimeError):
    """Some rows ran out of retries; they stay unsent and a task retry resumes them."""


class RowsHeldElsewhere(RuntimeError):
    """Another push, alive, sent none of the rows of this run's days it held for the whole wait; a
    retry sends what it did not."""


@dataclasses.dataclass
class PushStats:
    dry_run: bool
    considered: int = 0
    sent: int = 0
    rejected: int = 0
    failed: int = 0
    retries: int = 0
    mean_rate: float = 0.0
    rate_cuts: int = 0
    outbox_events: int = 0
    outbox_path: str | None = None
    seconds: float = 0.0
    held_elsewhere: int = 0  # rows of its days another push held once this one had sent its own
    taken_over: int = 0  # of those, the rows it claimed once their holder's claim lapsed

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def absorb(self, later: PushStats) -> None:
        """Add a later pass over the same partition (the hook's retry count is a running total)."""
        for name in ("considered", "sent", "rejected", "failed", "rate_cuts"):
            setattr(self, name, getattr(self, name) + getattr(later, name))
        self.retries = later.retries

    def timed(self, started: float) -> PushStats:
        """The seconds since `started` added, and the mean rate over them."""
        self.seconds = round(self.seconds + time.monotonic() - started, 3)
        self.mean_rate = round(self.sent / self.seconds, 1) if self.seconds else 0.0
        return self


def event_params(settings: Settings) -> dict[str, str | None]:
    """What the attribution_events macro builds each event with: the event type's prefix, and each
    Adjust column's user property name (NULL: not sent)."""
    return {"event_type_prefix": settings.event_type_prefix, **settings.user_property_params}


def partition_rows(run: Run) -> dict[int, int]:
    """The matched rows of each push partition in the run's open days (one statement)."""
    with run.warehouse.session() as wh:
        rows = wh.fetch("count_partition_rows", {"partitions": run.settings.push_partitions, **run.window.days}, t=run.t)
    return {int(r["push_partition"]): int(r["row_count"]) for r in rows}


def senders(settings: Settings) -> int:
    """The most pushes that send at once, across every run of the DAG: the scheduler runs at most
    max_active_tis_per_dag push tasks at a time (the push_partitions setting when the DAG was
    parsed), and a run's own partitions may be more if the setting changed since. Each push takes
    this share of rate_limit_per_second, so that together they stay under it. Outside Airflow (a
    test, a benchmark): the run's partitions."""
    ti = task_instance()
    concurrent_pushes = getattr(getattr(ti, "task", None), "max_active_tis_per_dag", None) if ti is not None else None
    return max(concurrent_pushes or 1, settings.push_partitions)


def limit_time(context: dict[str, Any]) -> dt.timedelta:
    """The push task's pre_execute: its execution_timeout, derived from its part's rows and its
    share of the rate, set before Airflow starts the task's clock. Returns it."""
    task = context["ti"].task
    settings = Plan.from_xcom(task.op_kwargs["plan"]).settings
    part = task.op_kwargs["part"]
    rate = settings.rate_limit_per_second / senders(settings)
    task.execution_timeout = limit = time_limit(part["rows"], rate, settings)
    log.info("Push of partition %d: up to %d rows at %.1f/s; time limit %s", part["partition"], part["rows"], rate, limit)
    return limit


def time_limit(rows: int, rate_per_second: float, settings: Settings) -> dt.timedelta:
    """A push's execution_timeout: its rows at its share of the rate three times over (429s cut the
    rate, failures back off and are retried), plus what does not grow with them: half an hour for
    claiming, the journal and the warehouse, and the longest wait for rows another live push holds
    (HELD_WAIT_TTLS lifetimes of the claim)."""
    seconds = 3 * rows / rate_per_second + 1800 + HELD_WAIT_TTLS * settings.claim_ttl_seconds
    return dt.timedelta(seconds=math.ceil(seconds))


def outbox_path(run: Run, partition: int = 0):
    """The dry-run outbox file of a run's partition, an ObjectStoragePath in the report folder."""
    from adjust_amplitude.report.storage import report_root

    partitions = run.settings.push_partitions
    part = f"_part{partition}of{partitions}" if partitions > 1 else ""
    return report_root(run.settings) / f"outbox_{run.day.isoformat()}{part}.jsonl"


@dataclasses.dataclass
class Push:
    """One attempt at one push partition of a run: it claims the partition's matched rows as
    `claimed_by` (run id|partition|try) and sends them at 1/`senders` of the rate limit."""

    run: Run
    hook: AmplitudeAttributionHook
    partition: int = 0
    senders: int = 1
    claimed_by: str = ""

    def __post_init__(self) -> None:
        self.claimed_by = self.claimed_by or self.run.claim_owner(self.partition)

    @property
    def settings(self) -> Settings:
        return self.run.settings

    def __call__(self) -> PushStats:
        """send_matched, then the rows of its days that another push holds: while their holder
        shows signs of life and sends them the push waits; once a holder has shown no sign of life
        for claim_ttl_seconds (a killed push) it takes them over and sends them. A holder that sends
        none of them for HELD_WAIT_TTLS lifetimes of the claim, though alive, is named in a failure,
        and the retry goes on."""
        if self.run.dry_run or self.hook.is_dry_run:
            return self.write_outbox()
        if self.run.plan.resend_rejected:
            self.reopen_rejected()
        stats = self.send_matched()
        started = time.monotonic()
        ttl = self.settings.claim_ttl_seconds
        held = self.held_elsewhere()
        stats.held_elsewhere = fewest = sum(int(h["row_count"]) for h in held)
        progressed = started
        while held:
            lapse = min(int(h["last_sign_seconds"]) for h in held) + ttl
            holders = ", ".join(f"{h['claimed_by']} ({int(h['row_count']):,} rows, claim lapses at "
                                f"{dt.datetime.fromtimestamp(int(h['last_sign_seconds']) + ttl, dt.timezone.utc):%H:%M:%S} UTC "
                                "unless it shows a sign of life)" for h in held)
            still = time.monotonic() - progressed
            if still >= HELD_WAIT_TTLS * ttl:
                raise RowsHeldElsewhere(
                    f"for {still:.0f} s rows of this run's days have been held by another push that sends none of them: "
                    f"{holders}. The next try of this task sends what its holder did not"
                )
            # A live holder is looked at again every twentieth of the claim's lifetime (30 s by
            # default: one small query each), a dead one's rows as soon as its claim lapses.
            pause = max(1.0, min(lapse - time.time() + 1, ttl / 20, HELD_WAIT_TTLS * ttl - still))
            log.warning("Waiting %.0f s for rows of this run's days held by another push: %s", pause, holders)
            time.sleep(pause)
            if time.time() >= lapse:
                later = self.send_matched()
                stats.taken_over += later.considered
                stats.absorb(later)
            held = self.held_elsewhere()
            left = sum(int(h["row_count"]) for h in held)
            if left < fewest:
                fewest, progressed = left, time.monotonic()
        if stats.held_elsewhere:
            log.info("Rows held by another push: %d; taken over and sent by this one: %d", stats.held_elsewhere,
                     stats.taken_over)
        return stats.timed(started)

    def partition_params(self) -> dict[str, Any]:
        """What every statement on this push's partition of the open days takes."""
        return {"partition": self.partition, "partitions": self.settings.push_partitions, **self.run.window.days}

    def claim_params(self) -> dict[str, Any]:
        return {
            "claimed_by": self.claimed_by, "claim_prefix": self.claimed_by.rsplit("|", 1)[0] + "|",
            "now": int(time.time()), "claim_ttl_seconds": int(self.settings.claim_ttl_seconds),
            **self.partition_params(),
        }

    def reopen_rejected(self) -> None:
        """Param resend_rejected: the rows of this partition Amplitude refused in the open days are
        matched again, their refusals out of rejected_rows, so that this push sends them; once per
        run, whichever try of it gets here (reopen_rejected_rows)."""
        # reopened_at by the clock the journal's appended_at is written by (_Journal._append).
        params = {"planned_at": self.run.plan.planned_at, "reopened_at": dt.datetime.now(dt.timezone.utc),
                  **self.partition_params()}
        with self.run.warehouse.session() as wh:
            wh.run("reopen_rejected_rows", params, t=self.run.t)
            wh.run("delete_reopened_rejections", params, t=self.run.t)
        log.info("Param resend_rejected: the rows Amplitude refused in %s to %s are sent again",
                 self.run.window.open_from_day, self.run.day)

    def held_elsewhere(self) -> list[dict[str, Any]]:
        with self.run.warehouse.session() as wh:
            return wh.fetch("select_rows_held_elsewhere", self.claim_params(), t=self.run.t)

    def apply_journal(self) -> None:
        """Bring the ledger (and rejected_rows) up to date with the journal of the open days. Idempotent."""
        with self.run.warehouse.session() as wh:
            wh.run("merge_api_rejections", self.run.window.days, t=self.run.t)
            wh.run("apply_push_journal", self.run.window.days, t=self.run.t)

    def release_claims(self) -> None:
        """Give back the claims on the rows this attempt has not sent (release_claims)."""
        with self.run.warehouse.session() as wh:
            wh.run("release_claims", {"claimed_by": self.claimed_by, **self.run.window.days}, t=self.run.t)

    def claim(self, journal: _Journal) -> int:
        """Claim this partition's free matched rows; returns how many it holds."""
        journal.alive()  # before the claim: another push must see the claim's holder alive at once
        params = self.claim_params()
        with self.run.warehouse.session() as wh:
            wh.run("claim_rows_to_send", params, t=self.run.t)
            return int(wh.fetch("count_rows_to_send", params, t=self.run.t)[0]["rows_to_send"])

    def send_matched(self) -> PushStats:
        """Send this partition's matched rows that this attempt can claim, at its share of the rate
        limit, journalling each outcome as it is acknowledged."""
        settings, hook = self.settings, self.hook
        stats = PushStats(dry_run=False)
        started = time.monotonic()
        limiter = AdaptiveRateLimiter(settings.rate_limit_per_second / self.senders, max_in_flight=settings.max_in_flight)
        # The crash bound is the larger of ledger_flush_rows and half a second of sending. Flushing at
        # half of it leaves room for the requests in flight and for the acknowledgements that arrive
        # while a flush is being written: all of those are lost to a crash too.
        bound = max(settings.ledger_flush_rows, int(limiter.ceiling * FLUSH_SECONDS))
        journal = _Journal(self, flush_rows=max(1, bound // 2 - settings.max_in_flight))
        self.apply_journal()  # what an earlier attempt acknowledged is never sent again
        progress = _Progress(self.claim(journal), stats, hook, limiter)
        stop = threading.Event()
        lapsed = threading.Event()
        hook.session  # made here, once, before the sender threads share it

        def send(row: dict[str, Any], event: dict[str, Any]):
            if stop.is_set():
                return row, None
            if not journal.lease_ok():
                lapsed.set()
                return row, None
            try:
                return row, hook.send(event, limiter)
            except AmplitudeStopError:
                stop.set()  # the other senders stop before their next request
                raise

        def collect(future) -> None:
            row, outcome = future.result()  # re-raises AmplitudeStopError from the sender
            if outcome is None:
                return
            stats.considered += 1
            if outcome.status == "sent":
                stats.sent += 1
                journal.add(_result(row, "sent", outcome.http_status, outcome.attempts, None, None))
            elif outcome.status == "rejected":
                stats.rejected += 1
                reason = f"amplitude_http_{outcome.http_status}"
                journal.add(_result(row, "rejected", outcome.http_status, outcome.attempts, reason, outcome.body))
            else:
                stats.failed += 1

        # Threads beyond the in-flight cap sit out Retry-After waits without blocking new requests.
        workers = settings.max_in_flight * 2
        pending: set = set()

        def drain(until: int) -> None:
            while len(pending) > until:
                done, _ = concurrent.futures.wait(pending, timeout=FLUSH_SECONDS, return_when="FIRST_COMPLETED")
                for future in done:
                    pending.discard(future)
                    collect(future)
                journal.tick()
                progress.tick()

        rows = self.run.warehouse.pages("select_rows_to_send", {"claimed_by": self.claimed_by, **event_params(settings),
                                                                **self.run.window.days},
                                        settings.push_page_size, t=self.run.t)
        with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="amplitude-push") as pool:
            try:
                for page in rows:
                    for row in page:
                        if row["event"] is None:
                            stats.considered += 1
                            stats.rejected += 1
                            journal.add(_result(row, "rejected", None, 0, NO_SENDABLE_IDENTIFIER, None))
                            continue
                        drain(until=workers * 2)
                        pending.add(pool.submit(send, row, json.loads(row["event"])))
                drain(until=0)
            except BaseException:
                # A refused key or a redirect, or the task being stopped (Airflow raises in this thread on SIGTERM):
                # stop sending, keep what was acknowledged, then fail.
                stop.set()
                for future in pending:
                    future.cancel()
                _collect_acknowledged(pending, collect)  # from here on no request of this push is unanswered
                try:
                    journal.flush()
                    self.apply_journal()
                    self.release_claims()
                except Exception:  # noqa: BLE001 - the first failure is the one re-raised
                    log.warning("Could not bring the ledger up to date after the failure, nor give back the claims; "
                                "the next attempt will, or they lapse after claim_ttl_seconds", exc_info=True)
                raise
        journal.flush()
        self.apply_journal()
        stats.retries = hook.retries
        stats.rate_cuts = limiter.cuts
        stats.timed(started)
        log.info(
            "Push done: sent %d, rejected %d, unsent after retries %d, retries %d, %.1f s, mean %.1f rows/s, "
            "rate cut %d times",
            stats.sent, stats.rejected, stats.failed, stats.retries, stats.seconds, stats.mean_rate, limiter.cuts,
        )
        if lapsed.is_set():
            raise PushIncomplete(
                "the push showed no sign of life for two thirds of claim_ttl_seconds (a stalled warehouse or "
                "process), so it stopped sending before its claims could pass to another push; the next try "
                "of this task resumes the rows left"
            )
        if stats.failed:
            raise PushIncomplete(
                f"{stats.failed} rows were not acknowledged after {settings.max_attempts} attempts each; "
                "they stay unsent and the next try of this task resumes them"
            )
        return stats

    def write_outbox(self) -> PushStats:
        """Dry run: write exactly the events a real run would send (no API key), change nothing.
        The warehouse writes them (Warehouse.export), built by the same SQL as a real run's."""
        from adjust_amplitude.report.storage import copy_file, location

        stats = PushStats(dry_run=True)
        started = time.monotonic()
        path = outbox_path(self.run, self.partition)
        params = {**self.partition_params(), **event_params(self.settings)}
        with tempfile.TemporaryDirectory(prefix="adjust-outbox-") as scratch:
            local = Path(scratch) / path.name
            with self.run.warehouse.session() as wh:
                stats.outbox_events = wh.export("select_outbox_events", params, local, "lines", t=self.run.t)
            copy_file(local, path)
        stats.considered = stats.outbox_events
        stats.outbox_path = location(path)
        why = ("the dry_run parameter is set" if self.run.dry_run
               else f"Connection {self.hook.amplitude_conn_id} has no API key")
        log.warning("DRY RUN (%s): sent nothing; wrote %d events to %s", why, stats.outbox_events, location(path))
        return stats.timed(started)


class _Journal:
    """Appends the push's outcomes to the journal every `flush_rows` rows or half second, and a
    sign of life every third of claim_ttl_seconds. Only the thread that runs the push calls it, so
    the warehouse is never used concurrently. `lease_ok` tells the senders whether the last sign of
    life is recent enough for the push's claims to hold."""

    def __init__(self, push: Push, flush_rows: int) -> None:
        self.run, self.claimed_by = push.run, push.claimed_by
        self.flush_rows, self.claim_ttl_seconds = flush_rows, push.settings.claim_ttl_seconds
        self.buffer: list[dict[str, Any]] = []
        self.last_flush = self.last_alive = time.monotonic()
        self.signs_of_life = 0

    def add(self, result: dict[str, Any]) -> None:
        self.buffer.append({**result, "run_day": self.run.day, "pushed_by": self.claimed_by})
        if len(self.buffer) >= self.flush_rows:
            self.flush()

    def tick(self) -> None:
        if self.buffer and time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()
        if time.monotonic() - self.last_alive >= self.claim_ttl_seconds / 3:
            self.alive()

    def lease_ok(self) -> bool:
        """A claim lapses `claim_ttl_seconds` after its holder's last sign of life; stop sending
        well before that, so a push that was stalled never sends a row someone else took over."""
        return time.monotonic() - self.last_alive < self.claim_ttl_seconds * 2 / 3

    def alive(self) -> None:
        now = time.monotonic()
        self.signs_of_life += 1
        self._append([{"row_key": "", "outcome": "alive", "run_day": self.run.day, "pushed_by": self.claimed_by}],
                     [f"{self.claimed_by}|alive|{self.signs_of_life}"])
        self.last_alive = now

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.buffer:
            return
        self._append(self.buffer, [f"{self.claimed_by}|{r['row_key']}" for r in self.buffer])
        self.buffer = []

    def _append(self, rows: list[dict[str, Any]], row_ids: list[str]) -> None:
        appended_at = dt.datetime.now(dt.timezone.utc)
        with self.run.warehouse.session() as wh:
            wh.append_rows(self.run.tables.journal, [{**JOURNAL_ROW, **r, "appended_at": appended_at} for r in rows], row_ids)


# Every column of the journal, so each appended row names them all.
JOURNAL_ROW = dict.fromkeys(("row_key", "outcome", "sent_at", "http_status", "attempts", "reject_reason",
                             "response_body", "run_day", "pushed_by", "appended_at"))


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


class _Progress:
    def __init__(self, total: int, stats: PushStats, hook: AmplitudeAttributionHook, limiter: AdaptiveRateLimiter) -> None:
        self.total, self.stats, self.hook, self.limiter = total, stats, hook, limiter
        self.started = self.last = time.monotonic()
        self.last_done = 0

    def done(self) -> int:
        return self.stats.sent + self.stats.rejected + self.stats.failed

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_SECONDS:
            return
        done = self.done()
        rate = (done - self.last_done) / max(now - self.last, 1e-9)
        remaining = max(self.total - done, 0)
        eta = f"{remaining / rate:.0f} s" if rate > 0 else "unknown"
        log.info(
            "Push progress: %d / %d (sent %d, rejected %d, unsent %d), %.1f rows/s now, limit %.0f/s, "
            "retries %d, ETA %s",
            done, self.total, self.stats.sent, self.stats.rejected, self.stats.failed, rate, self.limiter.rate,
            self.hook.retries, eta,
        )
        self.last, self.last_done = now, done


def _collect_acknowledged(pending: set, collect) -> None:
    """After a failure: keep what the other senders had acknowledged, drop the rest."""
    concurrent.futures.wait(pending)
    for future in pending:
        if future.cancelled():
            continue
        try:
            collect(future)
        except Exception:  # noqa: BLE001 - the first failure is the one re-raised
            pass

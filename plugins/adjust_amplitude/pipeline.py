"""The steps of one day's run. Each DAG task calls one of these with the Run it made from the
run's Plan (adjust_amplitude.run); adjust_amplitude.local_run calls them in the same order in one
process, for tests and benchmarks.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from adjust_amplitude.config import ADJUST_OPTIONAL_COLUMNS, ADJUST_REQUIRED_COLUMNS
from adjust_amplitude import input_contract
from adjust_amplitude.failures import NotRetryable
from adjust_amplitude.input_contract import InputError  # noqa: F401  (raised by check_inputs; callers catch pipeline.InputError)
from adjust_amplitude.run import Run
from adjust_amplitude.run_day import UNDATED_DAY, day_start
from adjust_amplitude.warehouse import WarehouseError

log = logging.getLogger(__name__)


class RejectGateError(RuntimeError, NotRetryable):
    """Too many pushed rows were refused by Amplitude."""


class OpenRowsError(RuntimeError, NotRetryable):
    """Rows of the oldest open day are still pending: later runs will not read their day."""


class ValidationGateError(RuntimeError, NotRetryable):
    """Too many of a day's new Adjust rows failed validation: the export's shape changed upstream."""


def check_inputs(run: Run) -> dict[str, Any]:
    """Fail before anything is written when the run's day has not begun (run_day.check_day_has_begun),
    an input table or a column the run reads is missing or of a type it cannot read (input_contract),
    or the report folder cannot be used.
    Returns what staging needs to know: the optional Adjust columns present, created_at's kind,
    and the Adjust table's partition column (adjust_partition_column) with its kind."""
    from adjust_amplitude.report.storage import report_root
    from adjust_amplitude.run_day import check_day_has_begun

    check_day_has_begun(run.day, run.plan.planned_at)
    report_root(run.settings)
    with run.warehouse.session() as wh:
        adjust = wh.columns(run.tables.adjust)
        amplitude = wh.columns(run.tables.amplitude)
    where = run.warehouse.describe()
    present = input_contract.check_table(input_contract.ADJUST, run.tables.adjust, where, adjust)
    input_contract.check_table(input_contract.AMPLITUDE, run.tables.amplitude, where, amplitude)
    partition = input_contract.check_partition_column(run.settings.adjust_partition_column, run.tables.adjust, adjust)
    absent = sorted(set(ADJUST_OPTIONAL_COLUMNS) - set(present))
    if absent:
        log.info("Adjust export has no %s: treated as empty", ", ".join(absent))
    return {"present": present, "created_at_kind": adjust["created_at"].kind, "adjust_partition": partition}


def prepare_outputs(run: Run) -> None:
    """Create the output tables if missing, add to a table an earlier version made the nullable
    columns added since, and refuse any other difference from what this version writes (a table
    made by another version): a clear error beats a half-written run."""
    from adjust_amplitude.sql_templates import declared_columns, quote_table

    with run.warehouse.session() as wh:
        wh.ensure_dataset(run.settings.output_dataset)
        for statement, table in run.tables.output_tables().items():
            wh.run(statement, t=run.t)
            declared = declared_columns(statement, t=run.t)
            expected = {c.name for c in declared}
            found = set(wh.columns(table) or ())
            added = [c for c in declared if c.name not in found]
            if added and found < expected and not any(c.required for c in added):
                log.info("Adding %s to %s (made by an earlier version)", ", ".join(c.name for c in added), table)
                for column in added:
                    wh.run("add_column", table=quote_table(table), column=column.name, type=column.type)
                found = set(wh.columns(table) or ())
            if found != expected:
                raise WarehouseError(
                    f"output table {table} does not have the columns this version writes "
                    f"(missing: {sorted(expected - found) or 'none'}, unexpected: {sorted(found - expected) or 'none'}); "
                    "it was made by another version: migrate or drop it, then re-run"
                )


def stage_rows(run: Run, inputs: dict[str, Any]) -> dict[str, Any]:
    """Read the days in scope, reject invalid rows, add new deduplicated rows to the ledger.
    `inputs` is what check_inputs found. Returns what the read saw (for the run record and the
    validation gate); the run's scratch table is gone after it, also when a statement fails."""
    present = set(ADJUST_REQUIRED_COLUMNS) | set(inputs["present"])
    params = {
        "activity_kinds": list(run.settings.activity_kinds),
        "environments": list(run.settings.environments),
        "read_start": run.window.read_start,
        "day_end": run.window.day_end,
        "created_at_floor": run.settings.created_at_floor_seconds,
        # More than a day after the run (or after its day's end, for a run of today) is no
        # attribution yet; a backfill takes the time it runs at, not its day.
        "created_at_ceiling": max(run.plan.planned_at, run.window.day_end) + 86400,
        "placeholder_identifiers": list(run.settings.placeholder_identifiers),
        **run.window.days,
        "adjust_partition_from": run.window.read_from_day,
        "adjust_partition_to": run.day + dt.timedelta(days=2),
        "day_start": day_start(run.day),
        "undated_day": UNDATED_DAY,
    }
    with run.warehouse.session() as wh:
        wh.drop_stale_stages(run.settings.output_dataset)
        try:
            wh.run("stage_adjust_rows", params, t=run.t, present=present,
                   created_at_kind=inputs["created_at_kind"], adjust_partition=inputs.get("adjust_partition"))
            wh.run("merge_rejected_rows", params, t=run.t)
            wh.run("merge_new_ledger_rows", params, t=run.t)
            counts = wh.fetch("select_stage_counts", params, t=run.t)[0]
            reasons = wh.fetch("select_stage_invalid_reasons", params, t=run.t)
        finally:
            wh.run("drop_table", t=run.t, table=run.t.stage)  # nothing later in the run reads it
    return {
        **{k: int(v or 0) for k, v in counts.items()},
        "invalid_reasons": [{"undated": bool(r["undated"]), "reason": r["reason"], "row_count": int(r["row_count"]),
                             "example_fingerprint": r["example_fingerprint"]} for r in reasons],
    }


def update_amplitude_index(run: Run) -> dict[str, Any]:
    """Bring the Amplitude identity index up to date: merge in the events after its watermark less
    amplitude_late_days (late uploads), or, on the first run or when asked (the plan's
    rebuild_amplitude_index), make it anew
    from the whole export. Returns the newest event it then holds (Unix seconds, None when the export
    is empty), which fixes the run's as_of: every later step reads the index up to it."""
    with run.warehouse.session() as wh:
        indexed_through = wh.fetch("select_amplitude_index_watermark", t=run.t)[0]["indexed_through"]
        rebuild = run.plan.rebuild_amplitude_index or indexed_through is None
        read_after = 0 if rebuild else indexed_through - run.settings.amplitude_late_days * 86400
        newest = wh.fetch("select_newest_amplitude_event", {"read_after": read_after}, t=run.t)[0]["newest_event_seconds"]
        params = {"read_after": read_after, "read_until": newest if newest is not None else read_after}
        if rebuild:
            log.info("Building the Amplitude identity index from the whole of %s", run.tables.amplitude)
            wh.run("rebuild_amplitude_identity_index", params, t=run.t)
        elif newest is not None:
            wh.run("merge_amplitude_identity_index", params, t=run.t)
        if not rebuild and (newest is None or newest < indexed_through):
            newest = indexed_through  # nothing newer arrived; later events are already in the index
        wh.run("merge_amplitude_index_run", {"run_day": run.day, "run_id": run.run_id, "rebuilt": rebuild,
                                              "read_after": read_after, "newest_event": newest}, t=run.t)
    return {"newest_event_seconds": newest, "rebuilt": rebuild, "read_after": read_after}


def match_and_close(run: Run, newest_event: int | None) -> int:
    """Match pending rows, close the windows that ended by as_of, copy closed rows out, all from the
    identity index as update_amplitude_index left it (`newest_event`). Returns as_of (Unix seconds)."""
    as_of = run.window.as_of(newest_event)
    with run.warehouse.session() as wh:
        params = {
            "as_of": as_of,
            "day_end": run.window.day_end,
            "window_seconds": run.settings.window_seconds,
            **run.window.days,
            "run_id": run.run_id,
            "max_devices_per_identifier": run.settings.max_devices_per_identifier,
            "placeholder_identifiers": list(run.settings.placeholder_identifiers),
        }
        wh.run("match_pending_rows", params, t=run.t)
        wh.run("close_windows", params, t=run.t)
        wh.run("close_invalid_rows", params, t=run.t)
        wh.run("merge_discrepancy_rows", params, t=run.t)
    if newest_event is None:
        log.warning("%s holds no event: nothing can match and no window closes", run.tables.amplitude)
    elif as_of < run.window.day_end:
        log.warning(
            "Amplitude data ends at %s, before the end of %s: windows after that stay open",
            dt.datetime.fromtimestamp(as_of, dt.timezone.utc).isoformat(), run.day,
        )
    return as_of


def push_parts(run: Run) -> list[dict[str, int]]:
    """What the push maps over: one part per partition (the `push_partitions` setting), each with
    the matched rows it may have to send, from which its time limit is derived (push.limit_time)."""
    from adjust_amplitude.push import partition_rows

    counts = partition_rows(run)
    return [{"partition": k, "rows": counts.get(k, 0)} for k in range(run.settings.push_partitions)]


def push(run: Run, partition: int = 0, hook=None) -> dict[str, Any]:
    """Send one partition's matched rows (adjust_amplitude.push), or write them to the outbox on a
    dry run. Returns the push's figures."""
    from adjust_amplitude.amplitude_hook import AmplitudeAttributionHook, RetryPolicy
    from adjust_amplitude.push import Push, senders

    s = run.settings
    hook = hook or AmplitudeAttributionHook(
        retry=RetryPolicy(
            max_attempts=s.max_attempts,
            backoff_max_seconds=s.backoff_max_seconds,
            connect_timeout_seconds=s.connect_timeout_seconds,
            read_timeout_seconds=s.read_timeout_seconds,
        ),
        pool_size=s.max_in_flight,
    )
    try:
        return Push(run, hook, partition, senders(s))().as_dict()
    finally:
        hook.close()


def combine_push_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The stats of all push partitions as one (they ran side by side)."""
    total: dict[str, Any] = {
        "dry_run": any(p.get("dry_run") for p in parts),
        "outbox_paths": [p["outbox_path"] for p in parts if p.get("outbox_path")],
        "seconds": max((float(p.get("seconds") or 0) for p in parts), default=0.0),
    }
    for key in ("considered", "sent", "rejected", "failed", "retries", "outbox_events", "held_elsewhere", "taken_over"):
        total[key] = sum(int(p.get(key) or 0) for p in parts)
    total["mean_rate"] = round(total["sent"] / total["seconds"], 1) if total["seconds"] else 0.0
    return total


def summarise(run: Run, newest_event: int | None, push_stats: list[dict[str, Any]], stage_counts: dict[str, int],
              usage: list[dict[str, Any]]) -> dict[str, Any]:
    """Refresh the summary for the days this run can have changed and record the run, as of the
    newest event the identity index held for it (match_and_close read the same).
    `usage` holds the warehouse jobs and bytes of the earlier steps (run.Run.usage)."""
    as_of = run.window.as_of(newest_event)
    push_stats = combine_push_stats(push_stats)
    params = {"summary_from_day": run.window.summary_from_day, **run.window.days}
    with run.warehouse.session() as wh:
        params["from_day"] = wh.fetch("select_summary_from_day", params, t=run.t)[0]["from_day"]
        wh.run("refresh_discrepancy_summary", params, t=run.t)
        counts = wh.fetch("select_ledger_counts", params, t=run.t)[0]
        record = {**stage_counts, **{k: int(v or 0) for k, v in counts.items()}}
        # This step's own figures count the record's statement too, whose bill is not known yet.
        steps = [*usage, {"step": "summarise_run", "jobs": wh.usage.jobs + 1, "bytes_billed": wh.usage.bytes_billed}]
        billed = [u["bytes_billed"] for u in steps if u["bytes_billed"] is not None]
        warehouse = {"warehouse_jobs": sum(u["jobs"] for u in steps), "bytes_billed": sum(billed) if billed else None}
        wh.run(
            "merge_run_record",
            {
                **record,
                **warehouse,
                "warehouse_usage": json.dumps(steps, sort_keys=True),
                "run_day": run.day,
                "run_id": run.run_id,
                "dry_run": bool(push_stats.get("dry_run")),
                "as_of": as_of,
                "read_from_day": run.window.read_from_day,
                "outbox_events": push_stats["outbox_events"],
                "push_sent": push_stats["sent"],
                "push_rejected": push_stats["rejected"],
                "push_retries": push_stats["retries"],
                "push_seconds": float(push_stats["seconds"]),
                "push_mean_rate": float(push_stats["mean_rate"]),
                "push_held_elsewhere": push_stats["held_elsewhere"],
                "push_taken_over": push_stats["taken_over"],
            },
            t=run.t,
        )
    log.info("Run record for %s: %s; warehouse: %s", run.day, record, warehouse)
    return {**record, **warehouse, "as_of": as_of, "push": push_stats}


def check_reject_gate(run: Run, record: dict[str, Any]) -> None:
    """Fail the run when Amplitude refused too large a share of the requests this day's run made,
    or when it leaves rows pending on the oldest day it reads (see OpenRowsError)."""
    left_open = int(record.get("left_open") or 0)
    if left_open:
        raise OpenRowsError(
            f"{left_open} rows of {run.window.open_from_day} are still pending (their window never closed) after the "
            f"run for {run.day}, and later daily runs read only the last open_days ({run.settings.open_days}) days: "
            "the Amplitude export lags that far behind. Once it has caught up, raise open_days (or backfill that "
            "day) so a run reads and closes them."
        )
    with run.warehouse.session() as wh:
        reasons = wh.fetch("select_top_reject_reasons", run.window.days, t=run.t)
    refused = sum(int(r["row_count"]) for r in reasons)
    pushed = refused + record["sent_by_run"]
    ratio = refused / pushed if pushed else 0.0
    if ratio <= run.settings.max_reject_ratio:
        log.info("Amplitude refused %d of %d rows pushed (%.2f%%): within max_reject_ratio %.2f%%",
                 refused, pushed, ratio * 100, run.settings.max_reject_ratio * 100)
        return
    listed = "; ".join(f"{r['reason']} x{r['row_count']}" + (f" (e.g. {r['example_body']!r})" if r["example_body"] else "")
                       for r in reasons[:5])
    raise RejectGateError(
        f"Amplitude refused {refused} of {pushed} rows pushed for {run.day} ({ratio:.1%}), above "
        f"max_reject_ratio {run.settings.max_reject_ratio:.1%}. Most common reasons: {listed}. "
        "The rows are in rejected_rows; fix the cause, then re-send them (Param resend_rejected) or raise the setting."
    )


# What to look at first for each validation reason, in the gate's message.
_VALIDATION_HINTS = {
    "invalid_created_at": "created_at is empty or holds no whole number of seconds (an ISO date as text?)",
    "implausible_created_at": "created_at is before created_at_floor or more than a day after the run",
    "created_at_in_milliseconds": "created_at is in milliseconds; Unix seconds are expected",
    "missing_adid": "adid is empty (a renamed or dropped placeholder?)",
    "invalid_os_name": "os_name is neither ios nor android",
}


# The undated group is judged once it holds this many rows: a handful of broken rows beside a quiet
# window is no schema change, and failing on them would fail every run that reads them.
UNDATED_MIN_ROWS = 20


def check_validation_gate(run: Run, record: dict[str, Any]) -> None:
    """Fail the run when validation rejected too large a share of the rows of its day, or when too
    many of the rows it read name no day at all: the signature of a schema change upstream, worth a
    person's look before it goes on. Both are counted from the export as the run read it (see
    select_stage_counts), so a day's verdict is the same whichever run read its rows first."""
    s = run.settings
    reasons = record.get("invalid_reasons") or []
    failures = []
    day_rows, day_invalid = int(record.get("day_rows") or 0), int(record.get("day_invalid_rows") or 0)
    if day_rows and day_invalid / day_rows > s.max_invalid_ratio:
        failures.append((f"Validation rejected {day_invalid} of the {day_rows} Adjust rows of {run.day} "
                         f"({day_invalid / day_rows:.1%})", False))
    read, undated = int(record.get("distinct_rows") or 0), int(record.get("undated_rows") or 0)
    if undated >= UNDATED_MIN_ROWS and undated / read > s.max_invalid_ratio:
        failures.append((f"{undated} of the {read} Adjust rows this run read have a created_at that names no day "
                         f"({undated / read:.1%}; they are in rejected_rows with adjust_day {UNDATED_DAY})", True))
    if not failures:
        log.info("Validation rejected %d of the %d Adjust rows of %s, and %d of the %d rows read name no day: "
                 "within max_invalid_ratio %.2f%%", day_invalid, day_rows, run.day, undated, read, s.max_invalid_ratio * 100)
        return
    parts = []
    for said, group_undated in failures:
        group = [r for r in reasons if r["undated"] == group_undated]
        listed = "; ".join(f"{r['reason']} x{r['row_count']}" + (f" ({_VALIDATION_HINTS[r['reason']]})" if r["reason"] in _VALIDATION_HINTS else "")
                           for r in group[:3])
        with run.warehouse.session() as wh:
            found = wh.fetch("select_rejected_example", {**run.window.days, "fingerprint": group[0]["example_fingerprint"]}, t=run.t)
        # None when an earlier version stored the row under a day before the open days.
        shown = ", ".join(f"{k}={_clipped(v)}" for k, v in (found[0] if found else {"row": None}).items()
                          if k != "reason" and not (k == "adjust_day" and group_undated))
        parts.append(f"{said}, above max_invalid_ratio {s.max_invalid_ratio:.1%}. Most common reasons: {listed}. "
                     f"Example of {group[0]['reason']}: {shown}.")
    raise ValidationGateError(
        " ".join(parts) + " The export's shape may have changed upstream. The rows are in rejected_rows; fix the "
        "export (or point adjust_table at a view that repairs it), or raise max_invalid_ratio."
    )


def _clipped(value: Any, limit: int = 60) -> str:
    """A value's repr (a date's ISO form), cut short: an example in an error message, not the row's
    whole content."""
    text = value.isoformat() if isinstance(value, dt.date) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def write_report(run: Run, record: dict[str, Any]) -> dict[str, Any]:
    """Write the run's report (HTML, CSV, headline JSON) and the folder's index.
    Returns the file locations, the headline figures, and the notifications' messages."""
    from adjust_amplitude.report import write_report_files
    from adjust_amplitude.report.content import HISTORY_DAYS, build_content, trend_bounds
    from adjust_amplitude.report.moves import Rules
    from adjust_amplitude.report.notice import notices
    from adjust_amplitude.report.storage import report_root

    day, s = run.day, run.settings
    with tempfile.TemporaryDirectory(prefix="adjust-report-") as scratch:
        rows_csv = Path(scratch) / "rows.csv"
        with run.warehouse.session() as wh:
            wh.export("select_report_rows", {"run_day": day, "mask_identifiers": s.report_identifiers == "masked"},
                      rows_csv, "csv", t=run.t)
            summary = wh.fetch("select_report_summary_rows", run.window.days, t=run.t)
            match_pairs = wh.fetch("select_report_match_pairs", run.window.days, t=run.t)
            coverage = wh.fetch("select_report_identifier_coverage", run.window.days, t=run.t)
            devices = _device_shapes(wh, run, summary)
            history_from = day - dt.timedelta(days=HISTORY_DAYS)
            history_days = {"run_day": day, "from_day": history_from, "open_from_day": history_from - dt.timedelta(days=s.open_days)}
            history = wh.fetch("select_report_history", history_days, t=run.t)
            reason_history = wh.fetch("select_report_reason_history", history_days, t=run.t)
            trend_from, trend_to = trend_bounds(day, summary, run.window.window_days)
            trend = wh.fetch("select_adjust_day_trend", {"from_day": trend_from, "to_day": trend_to}, t=run.t)
        as_of = int(record.get("as_of") or 0)
        content = build_content(
            run_day=day,
            as_of=dt.datetime.fromtimestamp(as_of, dt.timezone.utc) if as_of else None,
            summary_rows=summary, history=history, trend=trend, trend_days=(trend_from, trend_to),
            reason_history=reason_history, run_record=record,
            rules=Rules.of(s), match_pairs=match_pairs, coverage=coverage, devices=devices, window_hours=s.window_hours,
        )
        paths = write_report_files(report_root(s), content, rows_csv)
    log.info("Discrepancy report: %s (rows: %s; index: %s)", paths["html"], paths["csv"], paths["index"])
    for move in content.alerts:
        log.warning("Alert for %s: %s %s", day, move.scope, move.label)
    link = f"{s.report_public_url.rstrip('/')}/{content.html_name}" if s.report_public_url else paths["html"]
    return {**paths, "headline": content.headline(), "notices": notices(content, link)}


def _device_shapes(wh, run: Run, summary: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The Amplitude export's devices on the newest Adjust day the report covers
    (select_amplitude_device_shapes), or None when the report covers none."""
    newest = max((r["adjust_day"] for r in summary), default=None)
    if newest is None:
        return None
    params = {"from_seconds": day_start(newest), "to_seconds": day_start(newest + dt.timedelta(days=1))}
    rows = wh.fetch("select_amplitude_device_shapes", params, t=run.t)
    return {"day": newest, "platforms": rows}

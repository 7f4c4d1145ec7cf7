"""The day's discrepancy report: a CSV of the rows closed without a match, and an HTML page.

Campaign and creative names come from ad networks, so they are untrusted: HTML escapes them,
and CSV cells that a spreadsheet would run as a formula are prefixed with a quote.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
from collections import Counter
from pathlib import Path
from typing import Any

CSV_COLUMNS = (
    "row_key", "reason", "window_closed_at", "closed_run_day", "closed_by_run_id", "adjust_day",
    "app_token", "activity_kind", "created_at", "adid", "os_name", "environment", "idfa", "idfv",
    "gps_adid", "android_id", "external_device_id", "tracker_name", "network_name", "campaign_name",
    "adgroup_name", "creative_name", "country", "installed_at", "reattributed_at",
)

REASON_TEXT = {
    "no_amplitude_match": "No Amplitude activity from this device or user within 72 hours of the attribution",
    "no_identifier": "No usable IDFA, IDFV, GPS ADID or external device id (e.g. ATT-limited iOS without IDFV)",
}


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _num(value: Any) -> str:
    return f"{int(value or 0):,}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def write_day_report(
    report_dir: Path,
    day: dt.date,
    closed_rows: list[dict[str, Any]],
    summary_rows: list[dict[str, Any]],
    record: dict[str, Any],
    push_stats: dict[str, Any],
) -> dict[str, str]:
    report_dir.mkdir(parents=True, exist_ok=True)
    csv_path = report_dir / f"discrepancy_{day.isoformat()}.csv"
    html_path = report_dir / f"discrepancy_{day.isoformat()}.html"
    _atomic_write(csv_path, _csv_text(closed_rows))
    _atomic_write(html_path, render_html(day, closed_rows, summary_rows, record, push_stats, csv_path.name))
    return {"csv": str(csv_path), "html": str(html_path)}


def _atomic_write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    # UTF-8 with BOM so Excel opens accented campaign names correctly.
    partial.write_text(text, encoding="utf-8-sig" if path.suffix == ".csv" else "utf-8", newline="")
    partial.replace(path)


def _csv_text(rows: list[dict[str, Any]]) -> str:
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([csv_cell(row.get(c)) for c in CSV_COLUMNS])
    return out.getvalue()


def _table(headers: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="num">{c}</td>' if i >= numeric_from else f"<td>{c}</td>" for i, c in enumerate(r)
        ) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body or '<tr><td colspan=99>None</td></tr>'}</tbody></table>"


def _top(rows: list[dict[str, Any]], key, limit: int = 10) -> list[tuple[str, int]]:
    counts = Counter(key(r) for r in rows)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def render_html(
    day: dt.date,
    closed_rows: list[dict[str, Any]],
    summary_rows: list[dict[str, Any]],
    record: dict[str, Any],
    push_stats: dict[str, Any],
    csv_name: str,
) -> str:
    e = html.escape
    unmatched = [r for r in closed_rows if r["reason"] == "no_amplitude_match"]
    reasons = Counter(r["reason"] for r in closed_rows)
    closed_days = sorted({r["adjust_day"] for r in closed_rows})
    headline = [
        ["Rows in scope read by this run (incl. lookback)", _num(record.get("in_scope_rows"))],
        ["Duplicates dropped", _num(record.get("duplicate_rows"))],
        ["Invalid rows rejected", _num(record.get("invalid_rows"))],
        ["Matched by this run", _num(record.get("matched_by_run"))],
        ["Sent to Amplitude by this run", _num(record.get("sent_by_run"))],
        ["Refused by Amplitude / unsendable", _num(record.get("api_rejected_by_run"))],
        ["Windows closed without a match", _num(record.get("closed_unmatched"))],
        ["Windows closed with no identifier", _num(record.get("closed_no_identifier"))],
    ]
    outboxes = ", ".join(e(Path(p).name) for p in push_stats.get("outbox_paths") or [])
    if push_stats.get("dry_run"):
        mode = f"<p class=warn>Dry run: nothing was sent. {_num(push_stats.get('outbox_events'))} events are in {outboxes}.</p>"
    else:
        mode = (
            f"<p>Push: {_num(push_stats.get('sent'))} sent, {_num(push_stats.get('rejected'))} refused, "
            f"{_num(push_stats.get('retries'))} retries, {float(push_stats.get('seconds') or 0):.1f} s, "
            f"{float(push_stats.get('mean_rate') or 0):.1f} rows/s on average.</p>"
        )
    reason_rows = [[e(REASON_TEXT.get(k, k)), _num(v)] for k, v in sorted(reasons.items())]
    networks = [[e(k or "(none)"), _num(v)] for k, v in _top(unmatched, lambda r: r.get("network_name") or "")]
    campaigns = [
        [e(k[0] or "(none)"), e(k[1] or "(none)"), _num(v)]
        for k, v in _top(unmatched, lambda r: (r.get("network_name") or "", r.get("campaign_name") or ""))
    ]
    by_day: dict[Any, dict[str, int]] = {}
    for s in summary_rows:
        agg = by_day.setdefault(s["adjust_day"], Counter())
        for k in ("adjust_rows", "matched", "sent", "unmatched", "no_identifier", "pending", "rejected"):
            agg[k] += int(s[k] or 0)
    day_rows = []
    for d, agg in sorted(by_day.items()):
        decided = agg["matched"] + agg["unmatched"] + agg["no_identifier"]
        rate = agg["matched"] / decided if decided else None
        day_rows.append([e(str(d))] + [_num(agg[k]) for k in (
            "adjust_rows", "matched", "sent", "unmatched", "no_identifier", "pending", "rejected")] + [_pct(rate)])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Adjust vs Amplitude discrepancy report {e(day.isoformat())}</title>
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem;color:#222;max-width:60rem}}
table{{border-collapse:collapse;margin:.5rem 0 1.5rem;width:100%}}
th,td{{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}}
td.num{{text-align:right;font-variant-numeric:tabular-nums}}
th{{background:#f4f4f4}} .warn{{background:#fff4ce;padding:.5rem}}
@media print{{body{{margin:0}}}}
</style></head><body>
<h1>Adjust vs Amplitude: report of {e(day.isoformat())}</h1>
<p>This run processed Adjust day {e(day.isoformat())}. It closed the 72-hour window of
{_num(len(closed_rows))} attribution rows without a match in Amplitude
(Adjust days: {e(', '.join(str(d) for d in closed_days) or 'none')}).
Every one of them is listed in <a href="{e(csv_name)}">{e(csv_name)}</a>.</p>
{mode}
<h2>Headline</h2>
{_table(["What", "Rows"], headline)}
<h2>Why rows are missing</h2>
{_table(["Reason", "Rows"], reason_rows)}
<h2>Top networks by unmatched rows</h2>
{_table(["Network", "Unmatched"], networks)}
<h2>Top campaigns by unmatched rows</h2>
{_table(["Network", "Campaign", "Unmatched"], campaigns, numeric_from=2)}
<h2>By Adjust day</h2>
<p>Match rate = matched / (matched + unmatched + no identifier); pending rows are not counted yet.</p>
{_table(["Adjust day", "Adjust rows", "Matched", "Sent", "Unmatched", "No identifier", "Pending", "Rejected", "Match rate"], day_rows)}
</body></html>
"""

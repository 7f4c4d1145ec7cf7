"""What a report says, computed from the warehouse's answers; page.py only lays it out.

A report belongs to one run and covers the rows whose 72-hour window that run closed, so each
Adjust row is counted in exactly one report, in its final state.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from adjust_amplitude.report.diagnosis import Diagnosis, as_json, diagnose
from adjust_amplitude.report.moves import Move, ReasonGrowth, Rules, Test, count_test, find_moves, grown_reasons, rate_test
from adjust_amplitude.report.reasons import Explanation, explain
from adjust_amplitude.report.storage import file_names

COUNTS = ("adjust_rows", "matched", "sent", "unmatched", "no_identifier", "rejected", "pending")
# The figures the report compares with earlier reports, each with a significance test.
COMPARED_COUNTS = ("adjust_rows", "matched", "unmatched", "no_identifier", "rejected")
TREND_DAYS = 30
HISTORY_DAYS = 30
# How many entries each breakdown shows before the rest are summed in one line.
SOURCE_LEVELS = (("network_name", ("network", "networks"), 10), ("campaign_name", ("campaign", "campaigns"), 5))
SOURCE_PATH = ("network_name", "campaign_name", "adgroup_name", "creative_name")
SOURCE_PATH_LIMIT = 20
COUNTRY_LIMIT = 15
NETWORK_CHART_LIMIT = 12


@dataclasses.dataclass
class Totals:
    adjust_rows: int = 0
    matched: int = 0
    sent: int = 0
    unmatched: int = 0
    no_identifier: int = 0
    rejected: int = 0
    pending: int = 0

    def add(self, row: dict[str, Any]) -> Totals:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + int(row.get(name) or 0))
        return self

    @classmethod
    def of(cls, rows: Iterable[dict[str, Any]]) -> Totals:
        total = cls()
        for row in rows:
            total.add(row)
        return total

    @property
    def decided(self) -> int:
        return self.matched + self.unmatched + self.no_identifier

    @property
    def match_rate(self) -> float | None:
        """Matched among the rows whose fate is known; rejected and pending rows are left out."""
        return self.matched / self.decided if self.decided else None

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "match_rate": self.match_rate}


@dataclasses.dataclass
class Entry:
    """One line of a breakdown. `others` > 0 marks the line that sums the entries cut off."""

    label: str
    totals: Totals
    depth: int = 0
    others: int = 0


@dataclasses.dataclass
class ReasonLine:
    outcome: str
    reason: str
    platform: str
    rows: int
    explanation: Explanation


@dataclasses.dataclass
class MatchPair:
    """How many of a platform's matched rows one identifier pair matched, and their share."""

    platform: str
    match_pair: str
    rows: int
    share: float


@dataclasses.dataclass
class TrendPoint:
    day: dt.date
    match_rate: float | None
    unmatched: int
    open: bool  # some windows of the day are still open: the numbers will still move


@dataclasses.dataclass
class Comparison:
    """Previous report and the average of the reports of the 30 days before this one; `tests`
    holds each compared figure's change against both (previous, average)."""

    previous_day: dt.date | None
    previous: Totals | None
    average: dict[str, float] | None
    average_reports: int
    tests: dict[str, tuple[Test, Test]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ReportContent:
    run_day: dt.date
    as_of: dt.datetime | None
    days_covered: list[tuple[dt.date, int]]
    totals: Totals
    comparison: Comparison
    reasons: list[ReasonLine]
    by_source: list[Entry]
    by_creative: list[Entry]
    by_platform: list[Entry]
    by_country: list[Entry]
    unmatched_by_network: list[Entry]
    trend: list[TrendPoint]
    run_record: dict[str, Any]  # the run's record, with its combined push stats under "push"
    window_hours: int  # the matching window's length, which every text about the window gives
    rules: Rules = dataclasses.field(default_factory=Rules)
    moves: list[Move] = dataclasses.field(default_factory=list)  # groups whose match rate moved
    tested_groups: int = 0
    grown: list[ReasonGrowth] = dataclasses.field(default_factory=list)  # the reasons that grew most
    match_pairs: list[MatchPair] = dataclasses.field(default_factory=list)  # by platform, most rows first
    diagnosis: list[Diagnosis] = dataclasses.field(default_factory=list)  # why rows went unmatched (diagnosis.py)

    @property
    def alerts(self) -> list[Move]:
        return [m for m in self.moves if m.is_alert]

    @property
    def push(self) -> dict[str, Any]:
        return self.run_record["push"]

    @property
    def csv_name(self) -> str:
        return file_names(self.run_day)["csv"]

    @property
    def html_name(self) -> str:
        return file_names(self.run_day)["html"]

    def headline(self) -> dict[str, Any]:
        """The figures the index and the Asset event carry."""
        return {
            "run_day": self.run_day.isoformat(),
            "adjust_days": [d.isoformat() for d, _ in self.days_covered],
            "dry_run": bool(self.push.get("dry_run")),
            **self.totals.as_dict(),
            "match_pairs": [dataclasses.asdict(p) for p in self.match_pairs],
            "diagnosis": as_json(self.diagnosis),
        }


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def points(value: float) -> str:
    """'+1.4 pts', with a true minus sign."""
    return f"{value:+.1f} pts".replace("-", "−")


def change_text(name: str, current: float | None, before: float | None) -> tuple[str, float | None]:
    """'+3.2%' for counts, '+1.4 pts' for the match rate (with a true minus sign), and the change;
    ('–', None) when there is nothing to compare."""
    if current is None or before is None:
        return "–", None
    if name == "match_rate":
        delta = (current - before) * 100
        return points(delta), delta
    if before == 0:
        return ("new" if current else "±0"), None
    delta = (current - before) / before * 100
    return f"{delta:+.1f}%".replace("-", "−"), delta


def significance_text(test: Test) -> str:
    return "significant" if test.significant else "within noise"


def display_name(value: str | None) -> str:
    return value if value else "(none)"


def ranked(entries: list[Entry]) -> list[Entry]:
    """Most unmatched first, then most rows without an identifier, then most rows, then by name."""
    return sorted(entries, key=lambda e: (-e.totals.unmatched, -e.totals.no_identifier,
                                          -e.totals.adjust_rows, e.label))


def group(rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], str]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return groups


def top_entries(rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], str], limit: int,
                noun: tuple[str, str], depth: int = 0) -> tuple[list[tuple[Entry, list[dict[str, Any]]]], Entry | None]:
    """The `limit` largest groups with their rows, and one line summing the rest (or None)."""
    groups = group(rows, key)
    entries = ranked([Entry(label, Totals.of(members), depth) for label, members in groups.items()])
    kept = [(e, groups[e.label]) for e in entries[:limit]]
    cut = entries[limit:]
    if not cut:
        return kept, None
    rest = Totals.of(dataclasses.asdict(e.totals) for e in cut)
    return kept, Entry(f"{len(cut):,} other {noun[len(cut) > 1]}", rest, depth, others=len(cut))


def flat_breakdown(rows: list[dict[str, Any]], columns: tuple[str, ...], limit: int, noun: tuple[str, str]) -> list[Entry]:
    """Entries named by one column, or by a path of columns joined with ' › '."""
    kept, rest = top_entries(rows, lambda r: " › ".join(display_name(r.get(c)) for c in columns), limit, noun)
    return [e for e, _ in kept] + ([rest] if rest else [])


def source_tree(rows: list[dict[str, Any]], levels=SOURCE_LEVELS, depth: int = 0) -> list[Entry]:
    """network -> campaign, each level cut to its top entries."""
    if not levels:
        return []
    (column, noun, limit), deeper = levels[0], levels[1:]
    kept, rest = top_entries(rows, lambda r: display_name(r.get(column)), limit, noun, depth)
    out: list[Entry] = []
    for entry, members in kept:
        out.append(entry)
        out.extend(source_tree(members, deeper, depth + 1))
    if rest:
        out.append(rest)
    return out


def compare(run_day: dt.date, history: list[dict[str, Any]], totals: Totals, rules: Rules) -> Comparison:
    """`history` holds each report's totals per network and campaign (select_report_history)."""
    by_day: dict[dt.date, Totals] = {}
    for row in history:
        by_day.setdefault(row["report_day"], Totals()).add(row)
    earlier = [(day, t) for day, t in sorted(by_day.items()) if day < run_day and t.adjust_rows > 0]
    if not earlier:
        return Comparison(None, None, None, 0)
    last_day, last = earlier[-1]
    pooled = Totals.of(dataclasses.asdict(t) for _, t in earlier)
    reports = len(earlier)
    average = {name: getattr(pooled, name) / reports for name in COUNTS}
    average["match_rate"] = pooled.match_rate
    tests = {
        name: (count_test(getattr(totals, name), getattr(last, name), 1, rules),
               count_test(getattr(totals, name), getattr(pooled, name), reports, rules))
        for name in COMPARED_COUNTS
    }
    tests["match_rate"] = (rate_test(totals.matched, totals.decided, last.matched, last.decided, rules),
                           rate_test(totals.matched, totals.decided, pooled.matched, pooled.decided, rules))
    return Comparison(last_day, last, average, reports, tests)


def trend_bounds(run_day: dt.date, summary_rows: list[dict[str, Any]], window_days: int) -> tuple[dt.date, dt.date]:
    """The 30 Adjust days ending at the newest day this report covers (or, when it covers none,
    the newest day whose windows could have closed by now)."""
    newest = max((r["adjust_day"] for r in summary_rows), default=None)
    if newest is None:
        newest = run_day - dt.timedelta(days=window_days)
    return newest - dt.timedelta(days=TREND_DAYS - 1), newest


def trend_points(rows: list[dict[str, Any]], first: dt.date, last: dt.date) -> list[TrendPoint]:
    """One point per day from first to last; a day without rows has no rate and no bar."""
    by_day = {r["adjust_day"]: r for r in rows}
    points = []
    for offset in range((last - first).days + 1):
        day = first + dt.timedelta(days=offset)
        row = by_day.get(day)
        if row is None:
            points.append(TrendPoint(day, None, 0, False))
        else:
            points.append(TrendPoint(day, Totals().add(row).match_rate, int(row["unmatched"] or 0),
                                     int(row["pending"] or 0) > 0))
    return points


def match_pair_lines(rows: list[dict[str, Any]]) -> list[MatchPair]:
    """select_report_match_pairs' rows, each with its share of its platform's matched rows."""
    matched: dict[str, int] = {}
    for r in rows:
        matched[r["platform"]] = matched.get(r["platform"], 0) + int(r["row_count"])
    return [MatchPair(r["platform"], r["match_pair"], int(r["row_count"]), int(r["row_count"]) / matched[r["platform"]])
            for r in rows]


OUTCOME_ORDER = {"unmatched": 0, "no_identifier": 1, "rejected": 2}


def reason_lines(run_day: dt.date, reason_history: list[dict[str, Any]], window_hours: int) -> list[ReasonLine]:
    """The report's own reasons per outcome and platform: unmatched first, then no identifier,
    then rejected; most rows first within each."""
    counts: dict[tuple[str, str, str], int] = {}
    for r in reason_history:
        if r["report_day"] == run_day:
            key = (r["outcome"], r["reason"], r["platform"])
            counts[key] = counts.get(key, 0) + int(r["row_count"])
    lines = [ReasonLine(outcome, reason, platform, rows, explain(outcome, reason, platform, window_hours))
             for (outcome, reason, platform), rows in counts.items()]
    return sorted(lines, key=lambda line: (OUTCOME_ORDER.get(line.outcome, 3), -line.rows, line.reason, line.platform))


def build_content(
    run_day: dt.date,
    as_of: dt.datetime | None,
    summary_rows: list[dict[str, Any]],
    history: list[dict[str, Any]],
    trend: list[dict[str, Any]],
    trend_days: tuple[dt.date, dt.date],
    reason_history: list[dict[str, Any]],
    run_record: dict[str, Any],
    rules: Rules | None = None,
    match_pairs: list[dict[str, Any]] | None = None,
    coverage: list[dict[str, Any]] | None = None,
    devices: dict[str, Any] | None = None,
    window_hours: int = 72,
) -> ReportContent:
    """`history` and `reason_history`: the reports of the last 30 days up to this one, per network
    and campaign (select_report_history, select_report_reason_history); `match_pairs`, `coverage`
    and `devices`: select_report_match_pairs', select_report_identifier_coverage's and the export's
    devices (pipeline._device_shapes), the evidence of the diagnosis."""
    rules = rules or Rules()
    reasons = reason_lines(run_day, reason_history, window_hours)
    pairs = match_pair_lines(match_pairs or [])
    days = group(summary_rows, lambda r: r["adjust_day"])
    totals = Totals.of(summary_rows)
    moves, tested = find_moves(run_day, history, reason_history, rules)
    return ReportContent(
        run_day=run_day,
        as_of=as_of,
        days_covered=sorted((d, Totals.of(rows).adjust_rows) for d, rows in days.items()),
        totals=totals,
        comparison=compare(run_day, history, totals, rules),
        reasons=reasons,
        by_source=source_tree(summary_rows),
        by_creative=flat_breakdown(summary_rows, SOURCE_PATH, SOURCE_PATH_LIMIT, ("ad group and creative", "ad groups and creatives")),
        by_platform=flat_breakdown(summary_rows, ("platform",), 10, ("platform", "platforms")),
        by_country=flat_breakdown(summary_rows, ("country",), COUNTRY_LIMIT, ("country", "countries")),
        unmatched_by_network=flat_breakdown(summary_rows, ("network_name",), NETWORK_CHART_LIMIT, ("network", "networks")),
        trend=trend_points(trend, *trend_days),
        run_record=run_record,
        window_hours=window_hours,
        rules=rules,
        moves=moves,
        tested_groups=tested,
        grown=grown_reasons(run_day, history, reason_history, rules),
        match_pairs=pairs,
        diagnosis=diagnose(devices, coverage or [], [(r.outcome, r.reason, r.platform, r.rows) for r in reasons],
                           {(p.platform, p.match_pair): p.rows for p in pairs}, window_hours),
    )

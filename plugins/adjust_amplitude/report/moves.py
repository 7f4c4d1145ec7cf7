"""Which changes of a report are real: the headline figures against the previous report and the
30-day average, the networks and campaigns whose match rate moved, the reasons that grew, and the
alerts (significant drops of the match rate).

The baseline of a group is the pooled rows of the earlier reports of the last 30 days, so a group
with few rows per report still has a baseline worth testing against. Many groups are tested in each
report, so a group only counts as moved at the stated level over all of them (Bonferroni), with
enough rows and by at least `min_drop_points`: otherwise a report with 60 campaigns would raise a
false alert nearly every day. Each move is then told once, on the group that says most (see
find_moves).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any

from adjust_amplitude.config import Settings
from adjust_amplitude.report.significance import count_p_value, rate_p_value

OVERALL = "All attributions"
MISSING_OUTCOMES = ("unmatched", "no_identifier")


@dataclasses.dataclass(frozen=True)
class Rules:
    """When a change is significant and when a drop is an alert: the settings significance_level,
    alert_min_rows and alert_min_drop_points (their defaults are the settings')."""

    level: float = Settings.significance_level
    min_rows: int = Settings.alert_min_rows
    min_drop_points: float = Settings.alert_min_drop_points

    @classmethod
    def of(cls, settings: Settings) -> Rules:
        return cls(settings.significance_level, settings.alert_min_rows, settings.alert_min_drop_points)

    @property
    def alpha(self) -> float:
        return 1 - self.level


@dataclasses.dataclass(frozen=True)
class Test:
    """One change against one baseline: whether it is significant."""

    p_value: float
    significant: bool


@dataclasses.dataclass(frozen=True)
class ReasonShift:
    """A reason's share of the decided rows of a group, now and in its baseline."""

    outcome: str
    reason: str
    rows: int
    share: float
    share_before: float

    @property
    def points(self) -> float:
        return (self.share - self.share_before) * 100


@dataclasses.dataclass(frozen=True)
class Move:
    """A group whose match rate moved significantly against its 30-day baseline."""

    scope: str  # overall, network or campaign
    label: str
    rate: float
    rate_before: float
    decided: int
    decided_before: int
    reports: int
    p_value: float
    driver: ReasonShift | None

    @property
    def points(self) -> float:
        return (self.rate - self.rate_before) * 100

    @property
    def is_alert(self) -> bool:
        return self.points < 0


@dataclasses.dataclass(frozen=True)
class ReasonGrowth:
    outcome: str
    reason: str
    rows: int
    average: float
    test: Test

    @property
    def growth(self) -> float:
        return self.rows - self.average


@dataclasses.dataclass
class Counts:
    """Matched and decided rows of a group, and its missing rows per (outcome, reason)."""

    matched: int = 0
    decided: int = 0
    reasons: dict[tuple[str, str], int] = dataclasses.field(default_factory=dict)

    @property
    def rate(self) -> float | None:
        return self.matched / self.decided if self.decided else None

    def add_totals(self, row: dict[str, Any]) -> None:
        matched = int(row.get("matched") or 0)
        self.matched += matched
        self.decided += matched + int(row.get("unmatched") or 0) + int(row.get("no_identifier") or 0)

    def minus(self, other: Counts) -> Counts:
        reasons = {k: v - other.reasons.get(k, 0) for k, v in self.reasons.items()}
        return Counts(self.matched - other.matched, self.decided - other.decided, reasons)


def group_keys(network: str, campaign: str) -> list[tuple[str, str]]:
    """The groups a row of a network and campaign counts in: everything, its network, its campaign
    (a campaign is named within its network: two networks may use one campaign name)."""
    net = network or "(none)"
    return [("overall", OVERALL), ("network", net), ("campaign", f"{net} › {campaign or '(none)'}")]


def tally(totals: Iterable[dict[str, Any]], reasons: Iterable[dict[str, Any]]) -> dict[tuple[str, str], Counts]:
    groups: dict[tuple[str, str], Counts] = {}
    for row in totals:
        for key in group_keys(row["network_name"], row["campaign_name"]):
            groups.setdefault(key, Counts()).add_totals(row)
    for row in reasons:
        if row["outcome"] not in MISSING_OUTCOMES:
            continue
        for key in group_keys(row["network_name"], row["campaign_name"]):
            counts = groups.setdefault(key, Counts())
            reason = (row["outcome"], row["reason"])
            counts.reasons[reason] = counts.reasons.get(reason, 0) + int(row["row_count"])
    return groups


def driver(now: Counts, before: Counts, falling: bool) -> ReasonShift | None:
    """The missing reason whose share of the decided rows grew most (or, for a rise, shrank most)."""
    shifts = [
        ReasonShift(outcome, reason, now.reasons.get((outcome, reason), 0),
                    now.reasons.get((outcome, reason), 0) / now.decided,
                    before.reasons.get((outcome, reason), 0) / before.decided)
        for outcome, reason in set(now.reasons) | set(before.reasons)
    ]
    if not shifts:
        return None
    pick = max(shifts, key=lambda s: (s.points if falling else -s.points, s.reason))
    return pick if (pick.points > 0) == falling and pick.points != 0 else None


def earlier_days(run_day: dt.date, history: list[dict[str, Any]]) -> list[dt.date]:
    """The earlier reports with rows, oldest first."""
    rows: dict[dt.date, int] = {}
    for h in history:
        if h["report_day"] < run_day:
            rows[h["report_day"]] = rows.get(h["report_day"], 0) + int(h["adjust_rows"] or 0)
    return sorted(d for d, n in rows.items() if n > 0)


def find_moves(run_day: dt.date, history: list[dict[str, Any]], reason_history: list[dict[str, Any]],
               rules: Rules) -> tuple[list[Move], int]:
    """The groups that moved (largest drop first), each move told once, at the level that says
    most: a drop of one network is one alert on it (not one per campaign, nor one on the total it
    dragged down); a drop everywhere is one alert on the total. Returns them and how many groups
    were tested."""
    days = set(earlier_days(run_day, history))
    if not days:
        return [], 0
    now = tally([h for h in history if h["report_day"] == run_day], [r for r in reason_history if r["report_day"] == run_day])
    before = tally([h for h in history if h["report_day"] in days], [r for r in reason_history if r["report_day"] in days])
    testable = [k for k, c in now.items() if c.decided >= rules.min_rows and before.get(k, Counts()).decided >= rules.min_rows]
    if not testable:
        return [], 0
    alpha = rules.alpha / len(testable)
    # Each campaign's network, each network's total (from the keys, not by splitting a label: a
    # network's name may hold ' › ').
    parent_of = {}
    for h in history:
        overall, network, campaign = group_keys(h["network_name"], h["campaign_name"])
        parent_of[campaign], parent_of[network] = network, overall

    def moved(key: tuple[str, str], current: Counts, baseline: Counts) -> Move | None:
        if current.decided < rules.min_rows or baseline.decided < rules.min_rows:
            return None
        p = rate_p_value(current.matched, current.decided, baseline.matched, baseline.decided)
        points = (current.rate - baseline.rate) * 100
        if p >= alpha or abs(points) < rules.min_drop_points:
            return None
        return Move(*key, current.rate, baseline.rate, current.decided, baseline.decided, len(days), p,
                    driver(current, baseline, falling=points < 0))

    def still_moves(key: tuple[str, str], parts: list[tuple[str, str]], falling: bool) -> bool:
        """Does the group move this way without these parts of it? Too few rows left to tell
        counts as yes: the parts are the group."""
        rest_now, rest_before = now[key], before[key]
        for part in parts:
            rest_now, rest_before = rest_now.minus(now[part]), rest_before.minus(before[part])
        if rest_now.decided < rules.min_rows or rest_before.decided < rules.min_rows:
            return True
        p = rate_p_value(rest_now.matched, rest_now.decided, rest_before.matched, rest_before.decided)
        return p < rules.alpha and (rest_now.rate < rest_before.rate) == falling

    found = {k: m for k in testable if (m := moved(k, now[k], before[k]))}
    kept = dict(found)
    # Each group that moved, with its parts that moved the same way (a network's campaigns; the
    # total's networks, and campaigns whose network is not told): when the rest of the group moved
    # too, the move is the group's and is told on it alone; when not, it is told on the parts.
    for scope in ("network", "overall"):
        for key in [k for k in found if k[0] == scope]:
            falling = found[key].is_alert
            parts = [k for k, m in kept.items() if m.is_alert == falling and k != key and (
                parent_of.get(k) == key if scope == "network" else k[0] == "network" or parent_of.get(k) not in kept)]
            if not parts:
                continue
            if still_moves(key, parts, falling):
                for part in parts:
                    del kept[part]
            else:
                del kept[key]
    return sorted(kept.values(), key=lambda m: (m.points, m.label)), len(testable)


def grown_reasons(run_day: dt.date, history: list[dict[str, Any]], reason_history: list[dict[str, Any]],
                  rules: Rules, limit: int = 2) -> list[ReasonGrowth]:
    """The reasons (any outcome) with the most rows more than their 30-day average per report."""
    days = set(earlier_days(run_day, history))
    if not days:
        return []
    now: dict[tuple[str, str], int] = {}
    before: dict[tuple[str, str], int] = {}
    for r in reason_history:
        into = now if r["report_day"] == run_day else before if r["report_day"] in days else None
        if into is not None:
            key = (r["outcome"], r["reason"])
            into[key] = into.get(key, 0) + int(r["row_count"])
    grown = []
    for key, rows in now.items():
        average = before.get(key, 0) / len(days)
        if rows > average:
            p = count_p_value(rows, before.get(key, 0), len(days))
            grown.append(ReasonGrowth(*key, rows, average, Test(p, p < rules.alpha)))
    return sorted(grown, key=lambda g: (-g.growth, g.reason))[:limit]


def count_test(current: int, baseline_total: int, reports: int, rules: Rules) -> Test:
    p = count_p_value(current, baseline_total, reports)
    return Test(p, p < rules.alpha)


def rate_test(matched: int, decided: int, matched_before: int, decided_before: int, rules: Rules) -> Test:
    p = rate_p_value(matched, decided, matched_before, decided_before)
    return Test(p, p < rules.alpha)

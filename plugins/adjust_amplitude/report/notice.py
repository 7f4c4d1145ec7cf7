"""What a report's notifications say: its headline, and its alerts as a message of their own.

Messages are made when the report is written (from the same content the page shows) as plain
lines, then laid out for each channel: Slack's mrkdwn and an HTML email. Names come from the data
(a campaign can be called anything), so each layout escapes them for its channel, and each name is
isolated (escaping.name_text), so a right-to-left override in it cannot reverse the rest of a line:
between Unicode's isolate marks in the text, in a <bdi> in the email.
"""

from __future__ import annotations

from typing import Any

from adjust_amplitude.report.content import ReportContent, Totals, change_text, pct, points, significance_text
from adjust_amplitude.report.diagnosis import PLATFORM_NAMES
from adjust_amplitude.report.escaping import escape, marked_html, name_text, one_line
from adjust_amplitude.report.moves import Move
from adjust_amplitude.report.reasons import OUTCOME_LABELS, explain, reason_name


def move_title(m: Move) -> str:
    """'match rate of network Net A dropped 10.2 pts (80.3% → 70.1%)', the name isolated (name_text)."""
    what = "overall match rate" if m.scope == "overall" else f"match rate of {m.scope} {name_text(m.label)}"
    verb = "dropped" if m.is_alert else "rose"
    return f"{what} {verb} {abs(m.points):.1f} pts ({pct(m.rate_before)} → {pct(m.rate)})"


def driver_sentence(m: Move, window_hours: int) -> str:
    """Which reason drove a move, and what to do about it."""
    if m.driver is None:
        return "No single reason stands out."
    d = m.driver
    return (f"Driven by {reason_name(d.reason, window_hours)}: {pct(d.share)} of decided rows, was {pct(d.share_before)} "
            f"({points(d.points)}). {explain(d.outcome, d.reason, '', window_hours).action}")


def _figure_line(content: ReportContent, name: str, label: str, value: str) -> str:
    c = content.comparison
    if c.previous is None:
        return f"{label} {value}."
    current = content.totals.as_dict()[name]
    vs_previous, vs_average = c.tests[name]
    previous, _ = change_text(name, current, c.previous.as_dict()[name])
    average, _ = change_text(name, current, c.average.get(name))
    reports = f"{c.average_reports} {'report' if c.average_reports == 1 else 'reports'}"
    return (f"{label} {value}: {previous} vs previous report ({c.previous_day.isoformat()}), {significance_text(vs_previous)}; "
            f"{average} vs 30-day average ({reports}), {significance_text(vs_average)}.")


def _covered(content: ReportContent) -> str:
    t = content.totals
    days = ", ".join(d.isoformat() for d, _ in content.days_covered)
    text = f"{t.adjust_rows:,} Adjust attributions whose {content.window_hours}-hour window closed (Adjust day {days})."
    if content.push.get("dry_run"):
        text += " Dry run: nothing was sent to Amplitude."
    return text


def plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def average_text(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _level_line(content: ReportContent) -> str:
    return (f"Significant: at the {content.rules.level:.0%} level (two-proportion z-test for the match rate, exact "
            f"Poisson test for counts; networks and campaigns over all {plural(content.tested_groups, 'group', 'groups')} "
            "tested).")


def report_notice(content: ReportContent, link: str) -> dict[str, Any]:
    t: Totals = content.totals
    lines = [
        _covered(content),
        _figure_line(content, "match_rate", "Match rate", pct(t.match_rate)),
        _figure_line(content, "unmatched", "Unmatched", f"{t.unmatched:,}"),
        _figure_line(content, "no_identifier", "No identifier", f"{t.no_identifier:,}"),
    ]
    if content.diagnosis:
        found = "; ".join(f"{d.title} ({PLATFORM_NAMES.get(d.platform, d.platform)}, "
                          f"{plural(d.rows, 'row', 'rows')}, {pct(d.share)})" for d in content.diagnosis)
        lines.append(f"What the exports show: {found}. The report gives the evidence and the fix.")
    if content.comparison.previous is None:
        lines.append("No earlier report to compare with.")
    else:
        grown = "; ".join(
            f"{reason_name(g.reason, content.window_hours)} ({OUTCOME_LABELS.get(g.outcome, g.outcome).lower()}) "
            f"{plural(g.rows, 'row', 'rows')}, "
            f"{average_text(g.average)} on average, {significance_text(g.test)}" for g in content.grown
        )
        lines.append(f"Reasons that grew most: {grown}." if grown else "No reason grew against the 30-day average.")
        moved = "; ".join(f"{name_text(m.label)} ({m.scope}) {pct(m.rate)}, was {pct(m.rate_before)}"
                          f" ({points(m.points)}{', alert' if m.is_alert else ''})" for m in content.moves)
        lines.append(f"Moved: {moved}." if moved else "No network or campaign moved significantly.")
        if content.alerts:
            lines.append(f"{plural(len(content.alerts), 'alert', 'alerts')}, sent as a message of its own.")
        lines.append(_level_line(content))
    rate = pct(t.match_rate)
    subject = f"Attribution gap report {content.run_day.isoformat()}: match rate {rate}"
    if content.comparison.previous is not None:
        change, _ = change_text("match_rate", t.match_rate, content.comparison.average.get("match_rate"))
        subject += f" ({change} vs 30-day average, {significance_text(content.comparison.tests['match_rate'][1])})"
    return {"subject": subject, "lines": lines, "link": link}


def alert_notice(content: ReportContent, link: str) -> dict[str, Any] | None:
    alerts = content.alerts
    if not alerts:
        return None
    first = alerts[0]
    subject = f"ALERT attribution gap {content.run_day.isoformat()}: {move_title(first)}"
    if len(alerts) > 1:
        subject += f" (and {len(alerts) - 1} more)"
    lines = [
        f"Alert: {move_title(m)}, against the {m.reports} earlier reports of the last 30 days "
        f"({m.decided:,} decided rows now, {m.decided_before:,} before; p = {m.p_value:.2g}). "
        f"{driver_sentence(m, content.window_hours)}"
        for m in alerts
    ]
    lines.append(_level_line(content))
    return {"subject": subject, "lines": lines, "link": link}


def notices(content: ReportContent, link: str) -> dict[str, dict[str, Any] | None]:
    """The messages of a report, by kind: 'report' when it covers a closed window, 'alert' when
    it raised alerts; a kind without a message is None. Every text is one line (one_line)."""
    made = {
        "report": report_notice(content, link) if content.days_covered else None,
        "alert": alert_notice(content, link) if content.days_covered else None,
    }
    return {kind: notice and {"subject": one_line(notice["subject"]), "lines": [one_line(x) for x in notice["lines"]],
                              "link": one_line(notice["link"])}
            for kind, notice in made.items()}


def slack_text(notice: dict[str, Any]) -> str:
    """Slack mrkdwn: &, < and > escaped as Slack asks, so a name cannot make a link or a mention."""

    def esc(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    body = "\n".join(f"• {esc(line)}" for line in notice["lines"])
    return f"*{esc(notice['subject'])}*\n{body}\n{notice.get('link_label', 'Report')}: {esc(notice['link'])}"


def email_html(notice: dict[str, Any]) -> str:
    items = "".join(f"<li>{marked_html(line)}</li>" for line in notice["lines"])
    link = escape(notice["link"])
    return (f"<html><body><h2>{marked_html(notice['subject'])}</h2><ul>{items}</ul>"
            f'<p>{escape(notice.get("link_label", "Report"))}: <a href="{link}">{link}</a></p></body></html>')


def failure_notice(day: str, task: str, error: str, log_url: str) -> dict[str, Any]:
    """The message of a task that failed for good: the day, the task, the error's first line, the log."""
    return {"subject": one_line(f"FAILED attribution sync {day}: task {task}"),
            "lines": [one_line(f"Task {task} of the run for {day} failed for good: {error}"),
                      "The run's report may be missing or incomplete until it is cleared and run again."],
            "link": one_line(log_url), "link_label": "Log"}


def late_notice(day: str, due: str, run_url: str) -> dict[str, Any]:
    """The message of a report not out by its deadline (report_deadline_utc): the day, when it was
    due, the run."""
    return {"subject": one_line(f"LATE attribution report {day}: not out by {due}"),
            "lines": [one_line(f"The run for {day} had not finished by {due} (report_deadline_utc): its report is not out yet."),
                      "It may still be running, waiting for a worker or retrying a task; the link shows where it stands. "
                      "A task that fails for good is told as well."],
            "link": one_line(run_url), "link_label": "Run"}

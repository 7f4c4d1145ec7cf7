"""Every text of a report that names the matching window gives the window_hours setting, never a
fixed 72: the page, the index, the reasons' explanations and the notifications."""

from __future__ import annotations

import datetime as dt
import re

from adjust_amplitude.report.content import build_content
from adjust_amplitude.report.notice import notices
from adjust_amplitude.report.page import render_index, render_report

RUN_DAY = dt.date(2026, 11, 30)
# A window's length named in words: "72-hour", "72 hours", "72 h". The page's charts hold numbers
# such as a width of 720, so the page is searched for these, not for any "72".
FIXED_WINDOW = re.compile(r"\b72(-hour| hours?\b| h\b)")


def history_day(day: dt.date, matched: int, opened_late: int) -> tuple[dict, list[dict]]:
    """One network's report of `day`: 1,000 rows, 100 never seen in Amplitude, 100 without an
    identifier, `opened_late` opened after the window; as select_report_history and
    select_report_reason_history return them."""
    unmatched = 100 + opened_late
    report = {"report_day": day, "network_name": "Net", "campaign_name": "Spring", "adjust_rows": 1000,
              "matched": matched, "sent": matched, "unmatched": unmatched, "no_identifier": 1000 - matched - unmatched,
              "rejected": 0}
    counts = {("unmatched", "no_amplitude_match"): 100, ("unmatched", "opened_after_window"): opened_late,
              ("no_identifier", "no_identifier"): 1000 - matched - unmatched}
    reasons = [{"report_day": day, "outcome": outcome, "reason": reason, "platform": "ios", "network_name": "Net",
                "campaign_name": "Spring", "row_count": n} for (outcome, reason), n in counts.items() if n]
    return report, reasons


def content_of(window_hours: int, covered: bool = True):
    """A report whose match rate fell from 80% to 50%, driven by devices opened after the window,
    with its newest Adjust day still open."""
    history, reason_history = [], []
    for offset in range(30, -1, -1):
        day = RUN_DAY - dt.timedelta(days=offset)
        report, reasons = history_day(day, matched=500, opened_late=300) if offset == 0 else history_day(day, 800, 0)
        history.append(report)
        reason_history += reasons
    adjust_day = RUN_DAY - dt.timedelta(days=3)
    summary = [{**history[-1], "adjust_day": adjust_day, "platform": "ios", "country": "de", "adgroup_name": "",
                "creative_name": "", "pending": 0}] if covered else []
    trend = [{**history[-1], "adjust_day": adjust_day, "pending": 5}]
    return build_content(RUN_DAY, None, summary, history, trend, (adjust_day, adjust_day), reason_history,
                         {"push": {"dry_run": False}}, window_hours=window_hours)


def test_the_report_names_the_window_of_the_setting():
    content = content_of(48)
    page = render_report(content)
    for text in ("Adjust attributions whose 48-hour window closed in this run", "Unmatched (no activity in 48 h)",
                 "more than 48 hours after the attribution", "opened after the 48-hour window",
                 "days whose 48-hour windows are not all closed yet"):
        assert text in page
    assert not FIXED_WINDOW.search(page)

    empty = render_report(content_of(48, covered=False))
    assert "No 48-hour window closed in this run" in empty and "Windows close 48 hours after" in empty
    assert not FIXED_WINDOW.search(empty)

    index = render_index([{**content.headline(), "html": content.html_name, "csv": content.csv_name}], 48)
    assert "whose 48-hour window closed in that run" in index and not FIXED_WINDOW.search(index)


def test_the_notifications_name_the_window_of_the_setting():
    told = notices(content_of(48), "https://reports.example.com/r.html")
    text = "\n".join([told["report"]["subject"], *told["report"]["lines"], told["alert"]["subject"], *told["alert"]["lines"]])
    assert "whose 48-hour window closed" in text
    assert "opened after the 48-hour window" in text  # the reason that grew, and the alert's driver
    assert "72" not in text


def test_the_default_window_reads_72_hours():
    page = render_report(content_of(72))
    assert "whose 72-hour window closed" in page and "Unmatched (no activity in 72 h)" in page

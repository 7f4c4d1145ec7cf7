"""The report page and the index page: one self-contained HTML file each.

Inline CSS and SVG only; a Content-Security-Policy forbids scripts and any fetch from the
network, so even a name that slipped past escaping could not run or call out. Every text
that comes from data goes through `escape` (escaping.py), which also shows control characters visibly;
every name from data (a network, a campaign, a platform, a country...) is also isolated in a <bdi>
(name_html), so a right-to-left override in it cannot reverse the rest of its cell or sentence.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from adjust_amplitude.report import charts
from adjust_amplitude.report.content import Entry, ReportContent, Totals, change_text, pct
from adjust_amplitude.report.diagnosis import PLATFORM_NAMES
from adjust_amplitude.report.escaping import escape, marked_html, name_html
from adjust_amplitude.report.notice import average_text, driver_sentence, move_title, plural
from adjust_amplitude.report.reasons import OUTCOME_LABELS, reason_name

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
PLATFORMS = {**PLATFORM_NAMES, "": "(unknown)"}

CSS = """
:root{--ink:#1f2933;--muted:#6b7280;--line:#e3e7eb;--bg:#f6f7f9;--good:#0f7b3f;--bad:#b42318}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
  color:var(--ink);margin:0 auto;padding:1.25rem;max-width:64rem;line-height:1.45;font-size:15px}
h1{font-size:1.6rem;margin:.2rem 0 .4rem}
h2{font-size:1.2rem;margin:2rem 0 .5rem;padding-top:.5rem;border-top:1px solid var(--line)}
h3{font-size:1rem;margin:1.2rem 0 .4rem}
a{color:#1d4ed8}
.eyebrow{color:var(--muted);text-transform:uppercase;letter-spacing:.06em;font-size:.75rem;margin:0}
.lede{font-size:1.02rem;margin:.3rem 0}
.note{color:var(--muted);font-size:.85rem}
.banner{background:#fff4ce;border:1px solid #f0d58c;padding:.6rem .8rem;border-radius:6px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));gap:.6rem;margin:.8rem 0}
.card{background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:.6rem .75rem;break-inside:avoid}
.card .label{font-size:.8rem;color:var(--muted)}
.card .value{font-size:1.55rem;font-weight:650;font-variant-numeric:tabular-nums;display:block}
.card .sub{font-size:.78rem;color:var(--muted);margin-top:.15rem}
.up.good,.down.good{color:var(--good)} .up.bad,.down.bad{color:var(--bad)}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem;font-size:.88rem}
th,td{border-bottom:1px solid var(--line);padding:.32rem .45rem;text-align:left;vertical-align:top}
th{background:var(--bg);font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.other td{color:var(--muted);font-style:italic}
tr.d0 td:first-child{font-weight:600}
tr.d1 td:first-child{padding-left:1.3rem} tr.d2 td:first-child{padding-left:2.3rem}
tr.d3 td:first-child{padding-left:3.3rem}
td.name{overflow-wrap:anywhere;min-width:9rem}
.chart{width:100%;height:auto;display:block;margin:.3rem 0 1rem;break-inside:avoid}
.legend{font-size:.8rem;color:var(--muted)}
footer{margin-top:2rem;color:var(--muted);font-size:.8rem}
.sig{font-weight:650}.noise{color:var(--muted)}
.alert{background:#fdecea;border:1px solid #f3b4ad;padding:.6rem .8rem;border-radius:6px;margin:.5rem 0}
.nowrap{white-space:nowrap}
@media (max-width:40rem){body{padding:.75rem;font-size:14px}h1{font-size:1.3rem}.card .value{font-size:1.3rem}
  table.stack thead{display:none} table.stack tr{display:block;border-bottom:1px solid var(--line);padding:.3rem 0}
  table.stack td{display:block;border:0;padding:.1rem 0;text-align:left}
  table.stack td::before{content:attr(data-label) ": ";color:var(--muted);font-size:.8rem}}
@page{size:A4;margin:12mm}
@media print{body{max-width:none;padding:0;font-size:10pt}.scroll{overflow:visible}
  h2,h3{break-after:avoid}tr,.card,.chart{break-inside:avoid}a{color:inherit;text-decoration:none}}
"""

# Which direction of change is good news, per figure (None: neither).
DIRECTION = {"adjust_rows": None, "matched": "up", "unmatched": "down",
             "no_identifier": "down", "rejected": "down", "match_rate": "up"}


def num(value: Any) -> str:
    return f"{int(value or 0):,}"


def platform_name(value: str) -> str:
    return PLATFORMS.get(value, value)


def _platform(value: str) -> str:
    """A platform (Adjust's os_name, which can be anything) for the page."""
    return name_html(platform_name(value))


def day_text(day: dt.date) -> str:
    return f"{day.isoformat()} ({day.strftime('%a')})"


def _change(name: str, current: float | None, before: float | None) -> str:
    """The change, coloured when its direction has a meaning."""
    text, delta = change_text(name, current, before)
    if delta is None or abs(delta) < 0.05:
        return escape(text)
    moved = "up" if delta > 0 else "down"
    good = DIRECTION.get(name)
    tone = "" if good is None else (" good" if moved == good else " bad")
    return f'<span class="{moved}{tone}">{escape(text)}</span>'


def _marked(test) -> str:
    """Whether a change is significant, as the card and the tables show it."""
    if test.significant:
        return '<strong class="sig">significant</strong>'
    return '<span class="noise">within noise</span>'


def _card(content: ReportContent, name: str, label: str, value: str, extra: str = "") -> str:
    comparison = content.comparison
    current = content.totals.as_dict()[name]
    subs = [extra] if extra else []
    if comparison.previous is not None:
        before = comparison.previous.as_dict()[name]
        vs_previous, vs_average = comparison.tests[name]
        subs.append(f"{_change(name, current, before)} vs previous report ({escape(comparison.previous_day.isoformat())}) "
                    f"· {_marked(vs_previous)}")
        reports = comparison.average_reports
        subs.append(f"{_change(name, current, comparison.average.get(name))} vs 30-day average "
                    f"({reports} {'report' if reports == 1 else 'reports'}) · {_marked(vs_average)}")
    else:
        subs.append("No earlier report to compare with.")
    return (
        f'<div class="card" data-figure="{name}"><span class="label">{escape(label)}</span>'
        f'<span class="value">{value}</span>' + "".join(f'<div class="sub">{s}</div>' for s in subs) + "</div>"
    )


def _table(table_id: str, headers: list[tuple[str, bool]], rows: list[tuple[str, list[str]]],
           stack: bool = False) -> str:
    """headers: (text, numeric); rows: (css class, cells already escaped). A `stack` table turns
    into labelled blocks on a phone instead of scrolling sideways."""
    head = "".join(f'<th{" class=num" if numeric else ""} scope="col">{escape(text)}</th>' for text, numeric in headers)
    body = []
    for css, cells in rows:
        tds = "".join(
            f'<td class="{"num" if headers[i][1] else "name"}"'
            + (f' data-label="{escape(headers[i][0])}"' if stack else "") + f">{cell}</td>"
            for i, cell in enumerate(cells)
        )
        body.append(f'<tr class="{css}">{tds}</tr>')
    if not body:
        body.append(f'<tr><td colspan="{len(headers)}">Nothing in this report.</td></tr>')
    css = ' class="stack"' if stack else ""
    return f'<div class="scroll"><table id="{table_id}"{css}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


BREAKDOWN_HEADERS = [("Adjust rows", True), ("Matched", True), ("Unmatched", True), ("No identifier", True), ("Match rate", True)]


def _breakdown(table_id: str, first: str, entries: list[Entry], label=lambda s: s) -> str:
    rows = []
    for e in entries:
        t = e.totals
        css = f"d{e.depth}" + (" other" if e.others else "")
        name = escape(e.label) if e.others else name_html(label(e.label))
        rows.append((css, [name, num(t.adjust_rows), num(t.matched), num(t.unmatched), num(t.no_identifier), pct(t.match_rate)]))
    return _table(table_id, [(first, False)] + BREAKDOWN_HEADERS, rows)


def _match_pairs(content: ReportContent) -> str:
    """Which Adjust identifier met which Amplitude one (docs/rules.md, rule 4), per platform."""
    rows = [("d0", [_platform(p.platform), escape(p.match_pair), num(p.rows), pct(p.share)])
            for p in content.match_pairs]
    return _table("by-match-pair", [("Platform", False), ("Adjust ↔ Amplitude", False), ("Matched rows", True),
                                    ("Share of the platform's matched", True)], rows)


def _diagnosis(content: ReportContent) -> str:
    """The causes the exports show (diagnosis.py), each with its evidence and fix."""
    if not content.days_covered:
        return ""
    if not content.diagnosis:
        return ('<h3>What the exports show</h3><p id="diagnosis">No setup problem shows in the exports: device ids, '
                "advertising ids, ATT and late opens are all within their thresholds (see docs/report-and-alerts.md: The diagnosis).</p>")
    rows = [("", [escape(d.title), _platform(d.platform), num(d.rows), pct(d.share),
                  escape(d.evidence), escape(d.fix)]) for d in content.diagnosis]
    return "<h3>What the exports show</h3>" + _table(
        "diagnosis", [("Cause", False), ("Platform", False), ("Rows", True), ("Share", True), ("Evidence", False),
                      ("What to do", False)], rows, stack=True)


def _covered(content: ReportContent) -> str:
    if not content.days_covered:
        return (
            f"No {content.window_hours}-hour window closed in this run, so this report has no rows. Windows close "
            f"{content.window_hours} hours after the attributions; the first report with rows comes once Amplitude "
            "data covers them."
        )
    days = ", ".join(f"{escape(day_text(d))}: {num(n)} rows" for d, n in content.days_covered)
    return (
        f"Covers the {num(content.totals.adjust_rows)} Adjust attributions whose {content.window_hours}-hour window "
        f"closed in this run (Adjust day {days})."
    )


def _run_section(content: ReportContent) -> str:
    r, p = content.run_record, content.push
    rows = [
        ("Adjust rows read by this run (the day and its lookback)", r.get("in_scope_rows")),
        ("Duplicates dropped", r.get("duplicate_rows")),
        ("Invalid rows found", r.get("invalid_rows")),
        ("Of them, rows whose created_at names no day (in no day's figures)", r.get("undated_rows")),
        ("Rows matched by this run", r.get("matched_by_run")),
        ("Rows sent to Amplitude by this run", r.get("sent_by_run")),
        ("Rows refused by Amplitude or unsendable", r.get("api_rejected_by_run")),
    ]
    table = _table("run", [("This run", False), ("Rows", True)], [("", [escape(k), num(v)]) for k, v in rows])
    if p.get("dry_run"):
        push = (f'<p class="banner">Dry run: nothing was sent to Amplitude. The {num(p.get("outbox_events"))} events '
                "that would have been sent are in the outbox file(s) beside this report.</p>")
    else:
        held = (f" {num(p.get('held_elsewhere'))} rows of its days were held by another run's push; this run took "
                f"{num(p.get('taken_over'))} of them over once that push had shown no sign of life, and sent them."
                if p.get("held_elsewhere") else "")
        push = (f"<p>Push: {num(p.get('sent'))} sent, {num(p.get('rejected'))} refused, {num(p.get('retries'))} retries, "
                f"{float(p.get('seconds') or 0):.1f} s, {float(p.get('mean_rate') or 0):.1f} events/s on average.{held}</p>")
    return table + push


def _open_days_legend(content: ReportContent) -> str:
    if not any(p.open for p in content.trend):
        return ""
    return (f'<p class="legend">Hollow points and pale bars: days whose {content.window_hours}-hour windows are not '
            "all closed yet, so their numbers will still change.</p>")


def _level(content: ReportContent) -> str:
    return f"{content.rules.level:.0%}"


def _moves_section(content: ReportContent) -> str:
    """Alerts, the networks and campaigns whose match rate moved, and the reasons that grew."""
    level = _level(content)
    if content.comparison.previous is None:
        return "<p>No earlier report to compare with: changes are shown from the next report on.</p>"
    alerts = "".join(
        f'<p class="alert"><strong>Alert: {marked_html(move_title(m))}.</strong> '
        f"{escape(driver_sentence(m, content.window_hours))}</p>"
        for m in content.alerts
    )
    rows = [("", [name_html(m.label), escape(m.scope), pct(m.rate), pct(m.rate_before),
                  _change("match_rate", m.rate, m.rate_before), escape(f"{m.p_value:.2g}"),
                  escape(reason_name(m.driver.reason, content.window_hours) if m.driver else "–")])
            for m in content.moves]
    moved = _table("moves", [("Group", False), ("Level", False), ("Match rate", True), ("30-day baseline", True),
                             ("Change", True), ("p-value", True), ("Driven by", False)], rows)
    if not content.moves:
        tested = escape(plural(content.tested_groups, "group", "groups"))
        moved = (f"<p>No network or campaign moved significantly ({tested} tested, each having at least "
                 f"{num(content.rules.min_rows)} decided rows).</p>")
    grown = "".join(
        f"<li>{escape(reason_name(g.reason, content.window_hours))} "
        f"({escape(OUTCOME_LABELS.get(g.outcome, g.outcome).lower())}): "
        f"{escape(plural(g.rows, 'row', 'rows'))}, {escape(average_text(g.average))} on average · {_marked(g.test)}</li>"
        for g in content.grown
    )
    grown = f"<h3>Reasons that grew most</h3><ul>{grown}</ul>" if grown else "<p>No reason grew against the 30-day average.</p>"
    return (
        f"{alerts}<h3>Networks and campaigns whose match rate moved</h3>{moved}{grown}"
        f'<p class="note">Significant: chance alone would produce a change this large less than {100 - content.rules.level * 100:.0f}% '
        f"of the time (the {level} level). The match rate is compared by a two-proportion z-test, counts by an exact Poisson "
        f"test. A network or campaign counts as moved only when it is significant over all "
        f"{escape(plural(content.tested_groups, 'group', 'groups'))} tested (Bonferroni), has at least {num(content.rules.min_rows)} decided rows now and in its 30-day baseline, and "
        f"moved at least {content.rules.min_drop_points:g} points; a drop is an alert. The baseline pools the earlier "
        "reports of the last 30 days.</p>"
    )


def render_report(content: ReportContent) -> str:
    t = content.totals
    day = content.run_day.isoformat()
    as_of = (f"Amplitude data up to {escape(content.as_of.strftime('%Y-%m-%d %H:%M UTC'))}."
             if content.as_of else "No Amplitude data yet.")
    dry = ('<p class="banner">Dry run: nothing was sent to Amplitude in this run.</p>'
           if content.push.get("dry_run") else "")
    cards = "".join([
        _card(content, "adjust_rows", "Adjust attributions", num(t.adjust_rows)),
        _card(content, "matched", "Matched in Amplitude", num(t.matched), f"{num(t.sent)} sent to Amplitude"),
        _card(content, "unmatched", f"Unmatched (no activity in {content.window_hours} h)", num(t.unmatched)),
        _card(content, "no_identifier", "No identifier", num(t.no_identifier)),
        _card(content, "rejected", "Rejected (invalid or refused)", num(t.rejected)),
        _card(content, "match_rate", "Match rate", pct(t.match_rate)),
    ])
    reasons = _table(
        "reasons",
        [("Outcome", False), ("Platform", False), ("Why", False), ("Rows", True), ("What to do", False)],
        [("", [escape(OUTCOME_LABELS.get(r.outcome, r.outcome)), _platform(r.platform),
               escape(r.explanation.what), num(r.rows), escape(r.explanation.action)]) for r in content.reasons],
        stack=True,
    )
    missing = t.unmatched + t.no_identifier
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Attribution gap report {escape(day)}: Adjust vs Amplitude</title>
<style>{CSS}</style></head><body>
<header>
<p class="eyebrow">Adjust → Amplitude attribution gap · <a href="index.html">all reports</a></p>
<h1>Report of the run for <span class="nowrap">{escape(day_text(content.run_day))}</span></h1>
<p class="lede">{_covered(content)}</p>
<p class="note">{as_of} Match rate = matched ÷ (matched + unmatched + no identifier); rejected rows are not in it.</p>
{dry}
</header>
<section id="headline"><h2>Headline</h2><div class="cards">{cards}</div></section>
<section id="moved"><h2>What moved</h2>{_moves_section(content)}</section>
<section id="why"><h2>Why rows are missing</h2>
<p>{num(missing)} {"attribution" if missing == 1 else "attributions"} could not be matched in Amplitude and
{num(t.rejected)} {"was" if t.rejected == 1 else "were"} rejected. Per reason:</p>
{reasons}
{_diagnosis(content)}
</section>
<section id="where"><h2>Where the gap is</h2>
<p class="note">Every list is sorted by unmatched rows and shows its largest entries; the rest are summed in one line.</p>
<h3>By network and campaign</h3>
{_breakdown("by-source", "Network / campaign", content.by_source)}
<h3>By ad group and creative</h3>
{_breakdown("by-creative", "Network › campaign › ad group › creative", content.by_creative)}
<h3>By platform</h3>
{_breakdown("by-platform", "Platform", content.by_platform, platform_name)}
<h3>By country</h3>
{_breakdown("by-country", "Country", content.by_country, lambda c: c.upper() if c != "(none)" else c)}
<h3>Matched rows by identifier pair</h3>
{_match_pairs(content)}
</section>
<section id="trend"><h2>Trend over the last 30 Adjust days</h2>
<h3>Match rate by Adjust day</h3>
{charts.match_rate_chart(content.trend)}
<h3>Unmatched rows by Adjust day</h3>
{charts.unmatched_chart(content.trend)}
{_open_days_legend(content)}
<h3>Unmatched rows by network (this report)</h3>
{charts.network_bar_chart(content.unmatched_by_network)}
</section>
<section id="rows"><h2>The rows</h2>
<p>Every unmatched and no-identifier row of this report, with its Adjust columns, reason and the time its window closed:
<a href="{escape(content.csv_name)}" download>{escape(content.csv_name)}</a> ({num(missing)} rows; UTF-8 CSV that opens in Excel and Google Sheets).
Rejected rows are in the <code>rejected_rows</code> table.</p>
</section>
<section id="about"><h2>About this run</h2>{_run_section(content)}</section>
<footer>Generated by adjust-amplitude-sync for the run of {escape(day)}. Re-running the day rewrites this report with the same numbers.</footer>
</body></html>
"""


def render_index(reports: list[dict[str, Any]], window_hours: int) -> str:
    """The report folder's front page: every report, newest first, with its headline numbers.
    `window_hours` is the setting's value when the index is rebuilt (each report's page gives its own)."""
    rows = []
    for r in sorted(reports, key=lambda r: r["run_day"], reverse=True):
        totals = Totals(**{k: int(r.get(k) or 0) for k in ("adjust_rows", "matched", "sent", "unmatched",
                                                           "no_identifier", "rejected")})
        link = f'<a href="{escape(r["html"])}">{escape(r["run_day"])}</a>'
        rows.append(("", [
            link, escape(", ".join(r.get("adjust_days") or []) or "none closed"),
            num(totals.adjust_rows), num(totals.matched),
            num(totals.sent) + (" (dry run)" if r.get("dry_run") else ""), num(totals.unmatched),
            num(totals.no_identifier), num(totals.rejected), pct(totals.match_rate),
            f'<a href="{escape(r["csv"])}">CSV</a>',
        ]))
    table = _table(
        "reports",
        [("Run day", False), ("Adjust days", False), ("Adjust rows", True), ("Matched", True), ("Sent", True),
         ("Unmatched", True), ("No identifier", True), ("Rejected", True), ("Match rate", True), ("Rows", False)],
        rows,
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Attribution gap reports: Adjust vs Amplitude</title>
<style>{CSS}</style></head><body>
<p class="eyebrow">Adjust → Amplitude attribution gap</p>
<h1>All reports</h1>
<p class="lede">{num(len(rows))} reports, newest first. Each covers the Adjust attributions whose {window_hours}-hour window closed in that run.</p>
{table}
</body></html>
"""

"""The discrepancy report: what the page shows equals the warehouse, untrusted names stay inert,
the index lists every report, and report_dir can be a folder or a file:// URL."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import pytest

from adjust_amplitude.config import Settings, SettingsError
from adjust_amplitude.report.content import COUNTRY_LIMIT, SOURCE_PATH_LIMIT, SOURCE_LEVELS
from pipeline_helpers import DAY, adjust_row, amplitude_event, query, run_day, ts, write_inputs
from pipeline_helpers import REPORT_RUN_DAYS as RUN_DAYS  # the days sample_reports runs
from report_html import ReportPage, number, percent

COUNTS = ("adjust_rows", "matched", "sent", "unmatched", "no_identifier", "rejected")


def page(reports: Path, day: dt.date) -> ReportPage:
    return ReportPage((reports / f"discrepancy_{day}.html").read_text(encoding="utf-8"))


def summary_totals(db: Path, day: dt.date, by: tuple[str, ...] = ()) -> dict[tuple, dict[str, int]]:
    keys = ", ".join(by)
    rows = query(
        db,
        f"SELECT {keys + ',' if keys else ''} " + ", ".join(f"sum({c})::BIGINT AS {c}" for c in COUNTS)
        + f" FROM attribution.discrepancy_summary WHERE report_day = ? {'GROUP BY ' + keys if keys else ''}",
        [day],
    )
    return {tuple(r[k] for k in by): {c: int(r[c] or 0) for c in COUNTS} for r in rows}


def breakdown_figures(row) -> dict[str, int]:
    adjust_rows, matched, unmatched, no_identifier = (number(c) for c in row.cells[1:5])
    return {"adjust_rows": adjust_rows, "matched": matched, "unmatched": unmatched, "no_identifier": no_identifier}


def project(totals: dict[str, int]) -> dict[str, int]:
    return {k: totals[k] for k in ("adjust_rows", "matched", "unmatched", "no_identifier")}


def rate(t: dict[str, int]) -> float | None:
    decided = t["matched"] + t["unmatched"] + t["no_identifier"]
    return round(t["matched"] / decided, 3) if decided else None


def test_headline_cards_equal_the_summary_table(sample_reports):
    db, reports, _ = sample_reports
    with_rows = 0
    for day in RUN_DAYS:
        cards = page(reports, day).cards
        (totals,) = summary_totals(db, day).values()
        if not totals["adjust_rows"]:
            assert number(cards["adjust_rows"]) == 0 and cards["match_rate"] == "–"
            continue
        with_rows += 1
        assert {k: number(cards[k]) for k in ("adjust_rows", "matched", "unmatched", "no_identifier", "rejected")} == {
            k: totals[k] for k in ("adjust_rows", "matched", "unmatched", "no_identifier", "rejected")}
        assert percent(cards["match_rate"]) == pytest.approx(rate(totals), abs=0.0005)
        # every row of the report is in exactly one outcome
        assert totals["adjust_rows"] == totals["matched"] + totals["unmatched"] + totals["no_identifier"] + totals["rejected"]
    assert with_rows == 4


def test_breakdowns_equal_the_summary_table_and_sum_to_the_total(sample_reports):
    db, reports, _ = sample_reports
    day = RUN_DAYS[-1]
    p = page(reports, day)
    (total,) = summary_totals(db, day).values()

    for table, column, label in (("by-platform", "platform", {"ios": "iOS", "android": "Android"}),
                                 ("by-country", "country", None)):
        expected = summary_totals(db, day, (column,))
        rows = p.body_rows(table)
        shown = [r for r in rows if "other" not in r.css]
        assert len(shown) <= (COUNTRY_LIMIT if column == "country" else 10)
        for row in shown:
            key = next(k for (k,) in expected if (label or {}).get(k, k.upper() if column == "country" else k) == row.cells[0])
            assert breakdown_figures(row) == project(expected[(key,)])
            assert percent(row.cells[5]) == pytest.approx(rate(expected[(key,)]), abs=0.0005)
        summed = defaultdict(int)
        for row in rows:
            for k, v in breakdown_figures(row).items():
                summed[k] += v
        assert dict(summed) == project(total)

    # network -> campaign: network lines are the network totals, their campaign lines sum within them
    networks = summary_totals(db, day, ("network_name",))
    campaigns = summary_totals(db, day, ("network_name", "campaign_name"))
    current = None
    for row in p.body_rows("by-source"):
        if row.css.startswith("d0") and "other" not in row.css:
            current = row.cells[0]
            assert breakdown_figures(row) == project(networks[(current,)])
        elif row.css.startswith("d1") and "other" not in row.css:
            name = "" if row.cells[0] == "(none)" else row.cells[0]
            assert breakdown_figures(row) == project(campaigns[(current, name)])
    assert SOURCE_LEVELS[0][2] >= len(networks)  # the sample has few networks: all shown

    # network > campaign > ad group > creative: the top entries by unmatched, the rest in one line
    paths = summary_totals(db, day, ("network_name", "campaign_name", "adgroup_name", "creative_name"))
    by_label = {" › ".join(v or "(none)" for v in k): t for k, t in paths.items()}
    rows = p.body_rows("by-creative")
    shown = [r for r in rows if "other" not in r.css]
    assert len(shown) == SOURCE_PATH_LIMIT < len(by_label)
    for row in shown:
        assert breakdown_figures(row) == project(by_label[row.cells[0]])
    unmatched = [breakdown_figures(r)["unmatched"] for r in shown]
    assert unmatched == sorted(unmatched, reverse=True)
    assert min(unmatched) >= max(t["unmatched"] for label, t in by_label.items() if label not in {r.cells[0] for r in shown})
    (other,) = [r for r in rows if "other" in r.css]
    assert other.cells[0] == f"{len(by_label) - SOURCE_PATH_LIMIT} other ad groups and creatives"
    assert breakdown_figures(other)["adjust_rows"] == total["adjust_rows"] - sum(breakdown_figures(r)["adjust_rows"] for r in shown)


def test_reasons_account_for_every_missing_row_with_advice(sample_reports):
    db, reports, _ = sample_reports
    day = RUN_DAYS[-1]
    (total,) = summary_totals(db, day).values()
    rows = page(reports, day).body_rows("reasons")
    per_outcome = defaultdict(int)
    for row in rows:
        outcome, platform, why, count, action = row.cells
        per_outcome[outcome] += number(count)
        assert why and action and platform
    assert dict(per_outcome) == {
        "Unmatched": total["unmatched"], "No identifier": total["no_identifier"], "Rejected": total["rejected"]}
    reasons = {r.cells[2] for r in rows}
    assert any("ATT-limited" in r for r in reasons)  # iOS without IDFA or IDFV
    assert any("more than 72 hours after" in r for r in reasons)  # opened after the window
    outcomes = [r.cells[0] for r in rows]
    assert outcomes == sorted(outcomes, key=["Unmatched", "No identifier", "Rejected"].index)


def change(now: float, before: float) -> str:
    return f"{(now - before) / before * 100:+.1f}%".replace("-", "−")


def test_comparisons_use_the_previous_report_and_the_30_day_average(sample_reports):
    db, reports, _ = sample_reports
    day = RUN_DAYS[-1]
    (now,) = summary_totals(db, day).values()
    earlier = [t for d in RUN_DAYS[:-1] for t in summary_totals(db, d).values() if t["adjust_rows"]]
    assert len(earlier) == 3
    previous, pooled = earlier[-1], {k: sum(t[k] for t in earlier) for k in COUNTS}
    cards = page(reports, day).card_text
    for figure in ("adjust_rows", "unmatched", "no_identifier"):
        average = pooled[figure] / len(earlier)
        assert f"{change(now[figure], previous[figure])} vs previous report ({RUN_DAYS[-2]})" in cards[figure]
        assert f"{change(now[figure], average)} vs 30-day average" in cards[figure]
    exact_rate = now["matched"] / (now["matched"] + now["unmatched"] + now["no_identifier"])
    pooled_rate = pooled["matched"] / (pooled["matched"] + pooled["unmatched"] + pooled["no_identifier"])
    points = f"{(exact_rate - pooled_rate) * 100:+.1f} pts".replace("-", "−")
    assert f"{points} vs 30-day average" in cards["match_rate"]
    first = page(reports, RUN_DAYS[3]).card_text  # the first report with rows has nothing before it
    assert "No earlier report to compare with." in first["unmatched"]


def test_trend_charts_show_30_adjust_days_from_the_summary(sample_reports):
    db, reports, _ = sample_reports
    day = RUN_DAYS[-1]
    p = page(reports, day)
    per_day = {
        r["adjust_day"]: r for r in query(
            db, "SELECT adjust_day, sum(matched)::BIGINT m, sum(unmatched)::BIGINT u, sum(no_identifier)::BIGINT n, "
                "sum(pending)::BIGINT p FROM attribution.discrepancy_summary GROUP BY adjust_day")
    }
    newest = max(r["adjust_day"] for r in query(db, "SELECT adjust_day FROM attribution.discrepancy_summary WHERE report_day = ?", [day]))
    dated = [t for t in p.shape_titles if t[:4].isdigit()]
    dots = [t for t in dated if "%" in t]
    bars = [t for t in dated if " unmatched" in t]
    assert len(dots) + len(bars) == len(dated) and dots and bars
    for title in dots:
        r = per_day[dt.date.fromisoformat(title[:10])]
        assert title[12:].startswith(f"{r['m'] / (r['m'] + r['u'] + r['n']) * 100:.1f}%")
    for title in bars:
        assert title[12:].startswith(f"{per_day[dt.date.fromisoformat(title[:10])]['u']:,} unmatched")
    window = {newest - dt.timedelta(days=i) for i in range(30)}
    assert {t[:10] for t in dots} == {d.isoformat() for d, r in per_day.items() if d in window and r["m"] + r["u"] + r["n"]}
    assert {t[:10] for t in bars} == {d.isoformat() for d, r in per_day.items() if d in window and r["u"]}
    # the network bar chart: one bar per network, the report's unmatched rows
    networks = summary_totals(db, day, ("network_name",))
    network_bars = {t.split(":")[0]: t.split(": ")[1] for t in p.shape_titles if not t[:4].isdigit()}
    assert network_bars == {(k or "(none)"): f"{v['unmatched']:,} unmatched" for (k,), v in networks.items() if v["unmatched"]}


def test_csv_has_every_missing_row_and_the_page_links_it(sample_reports):
    db, reports, _ = sample_reports
    day = RUN_DAYS[-1]
    (total,) = summary_totals(db, day).values()
    raw = (reports / f"discrepancy_{day}.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads it as UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == total["unmatched"] + total["no_identifier"]
    assert {r["reason"] for r in rows} <= {"no_amplitude_match", "opened_after_window", "no_identifier"}
    for r in rows:
        dt.datetime.strptime(r["window_closed_at"], "%Y-%m-%dT%H:%M:%SZ")
        dt.datetime.strptime(r["created_at"], "%Y-%m-%dT%H:%M:%SZ")
        assert r["installed_at"] == r["created_at"]  # the sample sets both to the same second
        assert r["reattributed_at"] == (r["created_at"] if r["activity_kind"] == "reattribution" else "")
        dt.date.fromisoformat(r["adjust_day"])
        assert (r["amplitude_seen_at"] != "") == (r["reason"] == "opened_after_window")
    assert f"discrepancy_{day}.csv" in page(reports, day).links


def test_index_lists_every_report_newest_first_with_its_numbers(sample_reports):
    db, reports, results = sample_reports
    index = ReportPage((reports / "index.html").read_text(encoding="utf-8"))
    rows = index.body_rows("reports")
    assert [r.cells[0] for r in rows] == [d.isoformat() for d in sorted(RUN_DAYS, reverse=True)]
    for row in rows:
        day = dt.date.fromisoformat(row.cells[0])
        totals = next(iter(summary_totals(db, day).values()))
        figures = [number(c.split()[0]) for c in row.cells[2:8]]
        assert figures == [int(totals[k] or 0) for k in COUNTS]
        assert results[day]["paths"]["headline"]["adjust_rows"] == int(totals["adjust_rows"] or 0)
    assert {f"discrepancy_{d}.html" for d in RUN_DAYS} <= set(index.links)


@pytest.mark.parametrize("value", ["partial", "MASKED", ""])
def test_report_identifiers_is_masked_or_full(value):
    with pytest.raises(SettingsError, match=f"report_identifiers = {value!r} must be one of 'masked', 'full'"):
        Settings.from_mapping({"report_identifiers": value})
    assert Settings().report_identifiers == "masked"


def test_reports_hold_identifiers_only_masked_unless_full(sample_reports, tmp_path):
    """report_identifiers: masked by default, so neither the CSV nor the page holds an advertising
    or device id whole (nor row_key, which holds the adid); with full, the CSV holds every one."""
    db, reports, _ = sample_reports
    day = RUN_DAYS[-1]
    closed = query(db, "SELECT * FROM attribution.discrepancy_rows WHERE closed_run_day = ?", [day])
    assert closed
    ids = {r[c] for r in closed for c in ("adid", "idfa", "idfv", "gps_adid", "android_id", "external_device_id")
           if r[c] and len(r[c]) > 4} | {r["row_key"] for r in closed}
    files = [(reports / f"discrepancy_{day}.{ext}").read_text(encoding="utf-8-sig") for ext in ("csv", "html")]
    assert not [i for i in ids if any(i in text for text in files)]
    run_day(db, day, settings=Settings(report_dir=str(tmp_path), report_identifiers="full"))
    full = (tmp_path / f"discrepancy_{day}.csv").read_text(encoding="utf-8-sig")
    assert all(i in full for i in ids)


def test_a_rerun_rewrites_the_same_report(sample_reports, tmp_path):
    db, reports, _ = sample_reports
    day = RUN_DAYS[-1]
    before = {p.name: p.read_bytes() for p in reports.glob(f"discrepancy_{day}.*")}
    run_day(db, day, settings=Settings(report_dir=str(reports)))
    assert {p.name: p.read_bytes() for p in reports.glob(f"discrepancy_{day}.*")} == before


@pytest.fixture(scope="module")
def report_rows_db(tmp_path_factory):
    """A warehouse holding discrepancy_rows, checked against ZetaSQL's reference engine."""
    from adjust_amplitude.tables import run_tables
    from checked_warehouse import CheckedWarehouse

    warehouse = CheckedWarehouse(tmp_path_factory.mktemp("cells") / "cells.duckdb")
    tables = run_tables(Settings(), DAY)
    with warehouse.session() as wh:
        wh.connection.execute("CREATE SCHEMA attribution")
        wh.run("create_discrepancy_rows", t=tables.quoted())
    return warehouse, tables


def exported_cells(report_rows_db, tmp_path, mask: bool, **values) -> dict[str, str]:
    """The CSV row select_report_rows exports for one discrepancy row holding `values`."""
    warehouse, tables = report_rows_db
    stored = {"row_key": "k", "reason": "no_identifier", "window_closed_at": dt.datetime(2026, 11, 21, tzinfo=dt.timezone.utc),
              "closed_run_day": DAY, "adjust_day": DAY, **values}
    with warehouse.session() as wh:
        wh.connection.execute(f"DELETE FROM {tables.quoted().discrepancy_rows}")
        wh.append_rows(tables.discrepancy_rows, [stored], ["k"])
        params = {"run_day": DAY, "mask_identifiers": mask}
        assert wh.export("select_report_rows", params, tmp_path / "rows.csv", "csv", t=tables.quoted()) == 1
    raw = (tmp_path / "rows.csv").read_bytes()
    assert raw.endswith(b"\r\n")
    (row,) = csv.DictReader(io.StringIO(raw.decode("utf-8"), newline=""))
    return row


@pytest.mark.parametrize("column, value, shown", [
    ("created_at", 1763251200, "2025-11-16T00:00:00Z"),
    ("created_at", 0, ""),
    ("created_at", -5, "'-5"),
    ("installed_at", "1763251200", "2025-11-16T00:00:00Z"),
    ("installed_at", " 1763251200 ", "2025-11-16T00:00:00Z"),
    ("installed_at", "0", ""),
    ("installed_at", None, ""),
    ("installed_at", "", ""),
    ("installed_at", "not a time", "not a time"),
    ("installed_at", "99999999999999999999", "99999999999999999999"),
    ("installed_at", "253402300800", "253402300800"),  # past year 9999
    ("installed_at", "253402300799", "9999-12-31T23:59:59Z"),
    ("installed_at", "0000000000001763251200", "2025-11-16T00:00:00Z"),
    ("installed_at", "1763251200.5", "1763251200.5"),
    ("reattributed_at", "-5", "'-5"),
    ("network_name", "1763251200", "1763251200"),
    ("adjust_day", dt.date(2026, 11, 20), "2026-11-20"),
    ("window_closed_at", dt.datetime(2026, 11, 20, 1, 2, 3, tzinfo=dt.timezone(dt.timedelta(hours=2))),
     "2026-11-19T23:02:03Z"),
    ("network_name", "=1+1", "'=1+1"),
    ("network_name", "\tx", "'\tx"),
    ("network_name", "\rx", "'\rx"),
    ("network_name", "@x", "'@x"),
    ("network_name", "a=b", "a=b"),
    ("network_name", 'say "hi", then\r\nbye', 'say "hi", then\r\nbye'),
])
def test_csv_cells(report_rows_db, tmp_path, column, value, shown):
    assert exported_cells(report_rows_db, tmp_path, False, **{column: value})[column] == shown


IDS = {"adid": "5c4d2e1f0a9b8c7d6e5f4a3b2c1d0e9f", "idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC",
       "idfv": "7B2C1E44-0F0A-4F11-9A8E-3C1D2E3F4A5B", "gps_adid": "38400000-8cf0-11bd-b23e-10b96e40000d",
       "android_id": "9774d56d682e549c", "external_device_id": "user-42@example.com"}


def test_identifiers_are_masked_to_their_last_4_characters_unless_full(report_rows_db, tmp_path):
    row_key = f"app|install|{IDS['adid']}|1763251200"
    masked = exported_cells(report_rows_db, tmp_path, True, row_key=row_key, **IDS)
    assert {c: masked[c] for c in IDS} == {c: "*" * (len(v) - 4) + v[-4:] for c, v in IDS.items()}
    # row_key holds the adid: the key's MD5, by which engineers find the row in discrepancy_rows
    assert masked["row_key"] == hashlib.md5(row_key.encode()).hexdigest()
    assert not any(v in ",".join(masked.values()) for v in [*IDS.values(), row_key])
    full = exported_cells(report_rows_db, tmp_path, False, row_key=row_key, **IDS)
    assert {c: full[c] for c in IDS} == IDS and full["row_key"] == row_key
    # 4 characters or fewer have nothing to hide behind their last 4
    assert exported_cells(report_rows_db, tmp_path, True, idfa="ab-1", idfv="-")["idfv"] == "'-"


# --- Untrusted names ------------------------------------------------------------------------

HOSTILE = {
    "network_name": "<script>alert('network')</script>",
    "campaign_name": '=HYPERLINK("http://evil.example","click")',
    "adgroup_name": "+cmd|' /C calc'!A0",
    "creative_name": "@SUM(1+1)",
    "tracker_name": "-2+3",
    "country": "</td><td>x",
}


@pytest.fixture
def hostile_report(tmp_path):
    db = tmp_path / "wh.duckdb"
    rows = [adjust_row(adid=f"h{i}", idfv=f"IDFV-{i}", created_at=ts(DAY, 1 + i), **HOSTILE) for i in range(3)]
    rows.append(adjust_row(adid="ok", idfv="IDFV-OK", network_name='Net "A", Inc. & Co', campaign_name="Café 🚀"))
    events = [amplitude_event(ts(DAY + dt.timedelta(days=4), 1), device_id="someone-else")]
    write_inputs(db, rows, events)
    settings = Settings(report_dir=str(tmp_path / "out"))
    for offset in range(4):
        run_day(db, DAY + dt.timedelta(days=offset), settings=settings)
    return tmp_path / "out", DAY + dt.timedelta(days=3)


def test_hostile_names_are_shown_as_text_never_as_markup(hostile_report):
    reports, day = hostile_report
    html = (reports / f"discrepancy_{day}.html").read_text(encoding="utf-8")
    p = ReportPage(html)
    assert "script" not in p.tags and "<script" not in html
    assert "&lt;script&gt;alert(&#x27;network&#x27;)&lt;/script&gt;" in html
    cells = {c for rows in p.tables.values() for r in rows for c in r.cells}
    assert HOSTILE["network_name"] in cells  # the reader sees the name, as text
    assert any(HOSTILE["country"].upper() == c for c in cells)
    assert 'Net "A", Inc. & Co' in cells and "Net \"A\", Inc. & Co › Café 🚀 › (none) › (none)" in cells
    # the page cannot run scripts or fetch anything, even if a name slipped through
    assert "default-src 'none'" in html and "script-src" not in html
    index = (reports / "index.html").read_text(encoding="utf-8")
    assert "<script" not in index


def test_hostile_names_cannot_become_spreadsheet_formulas(hostile_report):
    reports, day = hostile_report
    rows = list(csv.DictReader(io.StringIO((reports / f"discrepancy_{day}.csv").read_text(encoding="utf-8-sig"))))
    assert len(rows) == 4
    hostile = [r for r in rows if r["adid"].startswith("h")]
    for r in hostile:
        for column, value in HOSTILE.items():
            if value[0] in "=+-@":
                assert r[column] == "'" + value  # a leading quote: shown as text, never evaluated
            else:
                assert r[column] == value
    (ok,) = [r for r in rows if r["adid"] == "ok"]
    assert ok["network_name"] == 'Net "A", Inc. & Co' and ok["campaign_name"] == "Café 🚀"
    for r in rows:
        assert not any(v[:1] in ("=", "+", "-", "@") for v in r.values() if v)


OVERRIDE = "Summer\u202eSale"  # U+202E, right-to-left override: reverses what follows it
FSI, PDI = "\u2068", "\u2069"  # Unicode's isolate marks: what <bdi> is in plain text


class Isolation(HTMLParser):
    """The text of each <bdi>, and each piece of text holding a U+202E outside every <bdi>."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.isolated: list[str] = []
        self.exposed: list[str] = []
        self._open: list[list[str]] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        if tag == "bdi":
            self._open.append([])

    def handle_endtag(self, tag):
        if tag == "bdi":
            self.isolated.append("".join(self._open.pop()))

    def handle_data(self, data):
        if self._open:
            self._open[-1].append(data)
        elif "\u202e" in data:
            self.exposed.append(data)


def test_a_right_to_left_override_in_a_name_acts_on_the_name_alone():
    """Before: a campaign named "Summer\u202eSale" reversed the rest of its cell on the page, and the
    rest of the alert's sentence on the page and in the email."""
    from test_moves import _content, generate

    from adjust_amplitude.report.notice import email_html, notices
    from adjust_amplitude.report.page import render_report

    history, reasons = generate(seed=3, drop={"Meta › Brand": 15})
    for row in history + reasons:
        if (row["network_name"], row["campaign_name"]) == ("Meta", "Brand"):
            row["campaign_name"] = OVERRIDE
    content = _content(history, reasons)
    page = Isolation(render_report(content))
    # The name, in its cell, in the path of the ad group table, in the moves table and in the alert.
    assert page.isolated.count(OVERRIDE) >= 4 and not page.exposed
    assert all(text == OVERRIDE for text in page.isolated if "\u202e" in text)
    alert = notices(content, "r.html")["alert"]
    assert f"campaign {FSI}Meta{PDI} › {FSI}{OVERRIDE}{PDI} dropped" in alert["subject"]  # isolated in plain text too
    email = Isolation(email_html(alert))
    assert email.isolated.count(OVERRIDE) == 2 and not email.exposed  # the subject and the alert's line


# --- Where reports go -----------------------------------------------------------------------

def test_report_dir_as_a_file_url_goes_through_object_storage(tmp_path):
    db = tmp_path / "wh.duckdb"
    write_inputs(db, [adjust_row(idfv="IDFV-1")], [amplitude_event(ts(DAY + dt.timedelta(days=4)), device_id="x")])
    target = tmp_path / "bucket" / "reports"
    settings = Settings(report_dir=target.as_uri(), lookback_days=3)
    result = run_day(db, DAY + dt.timedelta(days=3), settings=settings)
    assert result["paths"]["html"] == str(target / f"discrepancy_{DAY + dt.timedelta(days=3)}.html")
    assert sorted(p.name for p in target.iterdir()) == sorted([
        f"discrepancy_{DAY + dt.timedelta(days=3)}.{ext}" for ext in ("csv", "html", "json")]
        + ["index.html", f"outbox_{DAY + dt.timedelta(days=3)}.jsonl"])
    assert json.loads((target / f"discrepancy_{DAY + dt.timedelta(days=3)}.json").read_text())["unmatched"] == 1
    assert not list(target.glob("*.partial"))


@pytest.mark.parametrize("case", ["a file", "inside a file", "read-only"])
def test_a_report_dir_that_cannot_be_used_fails_before_anything_is_staged_naming_it(tmp_path, case):
    db = tmp_path / "wh.duckdb"
    write_inputs(db, [adjust_row(idfv="IDFV-1")], [amplitude_event(ts(DAY, 2), device_id="IDFV-1")])
    blocker = tmp_path / "reports.txt"
    blocker.write_text("not a folder")
    report_dir = {"a file": blocker, "inside a file": blocker / "reports", "read-only": tmp_path / "ro"}[case]
    if case == "read-only":
        report_dir.mkdir()
        report_dir.chmod(0o500)
        if os.access(report_dir, os.W_OK):
            pytest.skip("running as a user who may write anywhere (root)")
    with pytest.raises(SettingsError, match=r"report_dir = .*(file, not a folder|cannot be made|may not write)"):
        run_day(db, settings=Settings(report_dir=str(report_dir)))
    tables = {r["name"] for r in query(db, "SELECT table_name AS name FROM information_schema.tables")}
    assert not tables & {"sync_ledger", "rejected_rows"} and not any(t.startswith("_stage") for t in tables)


def test_a_full_disk_fails_the_report_naming_the_file_and_leaves_no_partial_file(tmp_path):
    """Before: a bare "[Errno 28] No space left on device", and the .partial file left behind."""
    from adjust_amplitude.failures import NotRetryable

    db = tmp_path / "wh.duckdb"
    write_inputs(db, [adjust_row(idfv="IDFV-1")], [])
    reports = tmp_path / "reports"
    reports.mkdir()
    html = reports / f"discrepancy_{DAY}.html"
    (reports / f"{html.name}.partial").symlink_to("/dev/full")  # the kernel fails every write there: ENOSPC
    with pytest.raises(OSError) as failed:
        run_day(db, settings=Settings(report_dir=str(reports)))
    assert str(failed.value) == (
        f"could not write {html} in the report folder (the report_dir setting): No space left on device. Its "
        "partial file was removed; the task can be retried once there is room (or with report_dir pointing elsewhere)")
    assert not isinstance(failed.value, NotRetryable)  # room can be freed: Airflow retries it
    assert not list(reports.glob("*.partial")) and not html.exists()


@pytest.fixture
def memory_store(monkeypatch):
    """fsspec's in-memory store, registered with Airflow the way the Google and Amazon providers
    register gs:// and s3://: an object store with no folders, without a network."""
    import fsspec
    from airflow.sdk.io.fs import _register_filesystems

    monkeypatch.setitem(_register_filesystems(), "memory", lambda conn_id, options=None: fsspec.filesystem("memory"))


def test_report_dir_in_an_object_store_is_written_through_object_storage_path(tmp_path, memory_store):
    from airflow.sdk import ObjectStoragePath

    db = tmp_path / "wh.duckdb"
    write_inputs(db, [adjust_row(idfv="IDFV-1")], [amplitude_event(ts(DAY + dt.timedelta(days=4)), device_id="x")])
    url = f"memory://reports-{tmp_path.name}/attribution"
    day = DAY + dt.timedelta(days=3)
    result = run_day(db, day, settings=Settings(report_dir=url, lookback_days=3))
    assert result["paths"]["html"] == f"{url}/discrepancy_{day}.html"
    assert result["push"]["outbox_paths"] == [f"{url}/outbox_{day}.jsonl"]
    root = ObjectStoragePath(url)
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [f"discrepancy_{day}.{ext}" for ext in ("csv", "html", "json")] + ["index.html", f"outbox_{day}.jsonl"])
    page = ReportPage((root / f"discrepancy_{day}.html").read_text(encoding="utf-8"))
    assert number(page.cards["unmatched"]) == 1
    assert f"discrepancy_{day}.html" in ReportPage((root / "index.html").read_text(encoding="utf-8")).links


@pytest.mark.parametrize("report_dir, expected", [
    # Relative to AIRFLOW_HOME, never to where the code lies (a platform deploys only the package).
    ("reports", "<AIRFLOW_HOME>/reports"),
    ("/srv/reports", "file:///srv/reports"),
    ("gs://bucket/attribution/reports", "gs://bucket/attribution/reports"),
    ("s3://bucket/reports", "s3://bucket/reports"),
])
def test_report_dir_forms(report_dir, expected):
    home = Path(os.environ["AIRFLOW_HOME"]).resolve().as_uri()
    assert Settings(report_dir=report_dir).report_url() == expected.replace("<AIRFLOW_HOME>", home)


def test_a_damaged_headline_file_is_left_out_of_the_index_with_a_warning(sample_reports, tmp_path, caplog):
    from adjust_amplitude.report import read_headlines
    from adjust_amplitude.report.storage import report_root

    _, reports, _ = sample_reports
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in reports.glob("discrepancy_*.json"):
        (copy / path.name).write_bytes(path.read_bytes())
    (copy / "discrepancy_1999-01-01.json").write_text("{not json")
    headlines = read_headlines(report_root(Settings(report_dir=str(copy))))
    assert sorted(h["run_day"] for h in headlines) == sorted(d.isoformat() for d in RUN_DAYS)
    assert "discrepancy_1999-01-01.json" in caplog.text

"""Significance of a report's changes, and alerts, on generated histories: a stable history raises
no alert; a 10-point drop of one network raises exactly one, naming the network and the reason.
The statistics are checked against scipy, computed here from the generated counts."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest
from scipy import stats

from adjust_amplitude.report.content import Totals, compare
from adjust_amplitude.report.escaping import name_text
from adjust_amplitude.report.moves import OVERALL, Rules, find_moves, grown_reasons
from adjust_amplitude.report.notice import alert_notice, report_notice
from adjust_amplitude.run import Plan, Run

RUN_DAY = dt.date(2026, 11, 30)
NETWORKS = ["Meta", "Google Ads", "TikTok", "Unity", "AppLovin", "Snap"]
CAMPAIGNS = ["Spring", "Summer", "Brand"]
# How the missing rows of a group split between reasons, when nothing is wrong.
REASON_SHARES = {("unmatched", "no_amplitude_match"): 0.6, ("unmatched", "opened_after_window"): 0.1,
                 ("no_identifier", "no_identifier"): 0.3}


def generate(seed: int, days: int = 31, rows: int = 250, drop: dict[str, float] | None = None,
             run_day: dt.date = RUN_DAY) -> tuple[list[dict], list[dict]]:
    """Reports of `days` days up to run_day, as select_report_history and
    select_report_reason_history return them. Each campaign has its own steady match rate; each
    report draws `rows` decided rows per campaign. `drop` lowers a network's (or a 'network ›
    campaign''s) rate on run_day by that many points, all of them rows never seen in Amplitude."""
    rng = np.random.default_rng(seed)
    drop = drop or {}
    history, reasons = [], []
    for offset in range(days):
        day = run_day - dt.timedelta(days=days - 1 - offset)
        for n, network in enumerate(NETWORKS):
            for c, campaign in enumerate(CAMPAIGNS):
                rate = 0.62 + 0.04 * n + 0.03 * c
                lost = drop.get(network, drop.get(f"{network} › {campaign}", 0)) / 100 if day == run_day else 0
                matched = int(rng.binomial(rows, rate - lost))
                extra = int(rng.binomial(rows - matched, lost / (1 - rate + lost))) if lost else 0
                split = rng.multinomial(rows - matched - extra, list(REASON_SHARES.values()))
                counts = dict(zip(REASON_SHARES, (int(k) for k in split)))
                counts[("unmatched", "no_amplitude_match")] += extra
                unmatched = sum(v for (outcome, _), v in counts.items() if outcome == "unmatched")
                history.append({"report_day": day, "network_name": network, "campaign_name": campaign,
                                "adjust_rows": rows, "matched": matched, "sent": matched, "unmatched": unmatched,
                                "no_identifier": rows - matched - unmatched, "rejected": 0})
                reasons += [{"report_day": day, "outcome": outcome, "reason": reason, "platform": "ios", "network_name": network,
                             "campaign_name": campaign, "row_count": k} for (outcome, reason), k in counts.items() if k]
    return history, reasons


def totals(history, day=None, network=None, before=False) -> Totals:
    keep = [h for h in history if (h["report_day"] < RUN_DAY if before else h["report_day"] == (day or RUN_DAY))
            and (network is None or h["network_name"] == network)]
    return Totals.of(keep)


def test_a_stable_history_raises_no_alert():
    history, reasons = generate(seed=1)
    moves, tested = find_moves(RUN_DAY, history, reasons, Rules())
    assert tested == 1 + len(NETWORKS) + len(NETWORKS) * len(CAMPAIGNS)
    assert moves == []


def test_stable_histories_raise_false_alerts_below_the_stated_level():
    """Over many stable reports, the share with any alert stays under 1 - level: the level holds
    for the report as a whole, not per group (without the correction, 25 groups at 5% each would
    raise one most days)."""
    reports = 200
    alerted = sum(bool([m for m in find_moves(RUN_DAY, *generate(seed, days=8), Rules())[0] if m.is_alert])
                  for seed in range(100, 100 + reports))
    assert alerted <= 0.05 * reports
    # Without the correction, the same kind of report would carry a "significant" group most days.
    uncorrected = sum(_smallest_group_p(*generate(seed, days=8)) < 0.05 for seed in range(100, 120))
    assert uncorrected >= 10


def _smallest_group_p(history, reasons) -> float:
    """The smallest p-value of any network or campaign's match rate against its baseline (scipy)."""
    keys = {(h["network_name"], c) for h in history for c in (h["campaign_name"], None)}
    smallest = 1.0
    for network, campaign in keys:
        rows = [h for h in history if h["network_name"] == network and campaign in (None, h["campaign_name"])]
        now, before = Totals.of(h for h in rows if h["report_day"] == RUN_DAY), Totals.of(h for h in rows if h["report_day"] < RUN_DAY)
        table = [[now.matched, now.decided - now.matched], [before.matched, before.decided - before.matched]]
        smallest = min(smallest, stats.chi2_contingency(table, correction=False).pvalue)
    return smallest


def test_a_ten_point_drop_of_one_network_raises_one_alert_naming_it_and_its_reason():
    history, reasons = generate(seed=2, drop={"TikTok": 10})
    moves, tested = find_moves(RUN_DAY, history, reasons, Rules())
    assert [(m.scope, m.label, m.is_alert) for m in moves] == [("network", "TikTok", True)]
    alert = moves[0]
    assert alert.driver.reason == "no_amplitude_match"

    # The test's own figures, from the generated counts.
    now, before = totals(history, network="TikTok"), totals(history, network="TikTok", before=True)
    table = [[now.matched, now.decided - now.matched], [before.matched, before.decided - before.matched]]
    expected_p = stats.chi2_contingency(table, correction=False).pvalue
    assert alert.p_value == pytest.approx(expected_p, rel=1e-9)
    assert expected_p < 0.05 / tested  # significant over every group tested
    assert alert.rate == now.matched / now.decided and alert.rate_before == before.matched / before.decided
    assert alert.points == pytest.approx(-10, abs=3)
    share = lambda rows, decided: rows / decided  # noqa: E731
    lost_now = sum(r["row_count"] for r in reasons if r["report_day"] == RUN_DAY and r["network_name"] == "TikTok"
                   and r["reason"] == "no_amplitude_match")
    assert alert.driver.share == pytest.approx(share(lost_now, now.decided))

    notice = alert_notice(_content(history, reasons), "https://reports.example.com/r.html")
    assert "TikTok" in notice["subject"] and "dropped" in notice["subject"]
    assert len([line for line in notice["lines"] if line.startswith("Alert:")]) == 1
    assert "never seen in Amplitude" in notice["lines"][0]


def test_a_drop_of_one_campaign_names_the_campaign_not_its_network():
    history, reasons = generate(seed=3, drop={"Meta › Brand": 15})
    moves, _ = find_moves(RUN_DAY, history, reasons, Rules())
    assert [(m.scope, m.label) for m in moves] == [("campaign", "Meta › Brand")]


def test_a_drop_everywhere_is_one_alert_on_the_total():
    history, reasons = generate(seed=4, drop={n: 8 for n in NETWORKS})
    moves, _ = find_moves(RUN_DAY, history, reasons, Rules())
    assert (OVERALL, True) in [(m.label, m.is_alert) for m in moves]
    assert all(m.scope != "campaign" for m in moves)  # folded into their networks


def test_groups_with_too_few_rows_are_not_tested():
    history, reasons = generate(seed=2, rows=60, drop={"TikTok": 10})
    moves, tested = find_moves(RUN_DAY, history, reasons, Rules(min_rows=200))
    # A campaign has 60 decided rows, a network 180: only the total has enough.
    assert tested == 1 and moves == []


def test_headline_changes_are_tested_against_scipy():
    history, reasons = generate(seed=5, drop={"Unity": 10})
    current = totals(history)
    comparison = compare(RUN_DAY, history, current, Rules())
    previous = totals(history, day=RUN_DAY - dt.timedelta(days=1))
    pooled = totals(history, before=True)
    assert comparison.previous == previous and comparison.average_reports == 30

    vs_previous, vs_average = comparison.tests["unmatched"]
    assert vs_previous.p_value == pytest.approx(
        stats.binomtest(current.unmatched, current.unmatched + previous.unmatched, 0.5).pvalue, rel=1e-6)
    assert vs_average.p_value == pytest.approx(
        stats.binomtest(current.unmatched, current.unmatched + pooled.unmatched, 1 / 31).pvalue, rel=1e-6)
    assert vs_average.significant == (vs_average.p_value < 0.05)

    rate_previous, rate_average = comparison.tests["match_rate"]
    for test, base in ((rate_previous, previous), (rate_average, pooled)):
        table = [[current.matched, current.decided - current.matched], [base.matched, base.decided - base.matched]]
        assert test.p_value == pytest.approx(stats.chi2_contingency(table, correction=False).pvalue, rel=1e-9)
    # Every row of the adjust_rows figure is fixed by the generator: no change, nothing significant.
    assert comparison.tests["adjust_rows"][0].p_value == 1.0 and not comparison.tests["adjust_rows"][0].significant


def test_the_reasons_that_grew_most_lead_the_headline():
    history, reasons = generate(seed=6, drop={"TikTok": 20, "Snap": 20})
    grown = grown_reasons(RUN_DAY, history, reasons, Rules())
    assert grown[0].reason == "no_amplitude_match" and grown[0].test.significant
    before = sum(r["row_count"] for r in reasons if r["report_day"] < RUN_DAY and r["reason"] == "no_amplitude_match")
    assert grown[0].average == pytest.approx(before / 30)
    assert grown[0].test.p_value == pytest.approx(stats.binomtest(grown[0].rows, grown[0].rows + before, 1 / 31).pvalue, rel=1e-6)
    lines = report_notice(_content(history, reasons), "r.html")["lines"]
    assert any(line.startswith("Reasons that grew most: never seen in Amplitude (unmatched)") and "significant" in line
               for line in lines)
    assert any(line.startswith("Moved: ") and f"{name_text('TikTok')} (network)" in line
               and f"{name_text('Snap')} (network)" in line for line in lines)


def _content(history, reasons):
    from adjust_amplitude.report.content import build_content

    summary = [{**h, "adjust_day": h["report_day"] - dt.timedelta(days=3), "platform": "ios", "country": "",
                "adgroup_name": "", "creative_name": "", "pending": 0} for h in history if h["report_day"] == RUN_DAY]
    return build_content(RUN_DAY, None, summary, history, [], (RUN_DAY, RUN_DAY), reasons, {"push": {"dry_run": False}})


def test_rules_come_from_the_settings():
    from adjust_amplitude.config import Settings

    s = Settings(significance_level=0.99, alert_min_rows=50, alert_min_drop_points=5)
    assert dataclasses.astuple(Rules.of(s)) == (0.99, 50, 5)
    assert dataclasses.astuple(Rules()) == dataclasses.astuple(Rules.of(Settings())) == (0.95, 200, 3.0)


def test_a_run_reads_its_history_from_the_warehouse_and_tells_the_alert(tmp_path):
    """The same generated history, written into discrepancy_summary and discrepancy_rows: the
    report's SQL reads it back, the alert goes into the page and into a message of its own."""
    import duckdb

    from adjust_amplitude import pipeline
    from adjust_amplitude.config import Settings
    from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse
    from pipeline_helpers import write_inputs

    history, reasons = generate(seed=2, drop={"TikTok": 10})
    db = tmp_path / "warehouse.duckdb"
    write_inputs(db, [], [])
    plan = Plan(RUN_DAY, "alert", Settings(report_dir=str(tmp_path / "out"), report_public_url="https://reports.example.com/gap/"))
    pipeline.prepare_outputs(Run(plan, warehouse=DuckDBWarehouse(db)))
    with duckdb.connect(str(db)) as con:
        con.executemany(
            "INSERT INTO attribution.discrepancy_summary VALUES (?::DATE - 3, ?, 'ios', '', ?, ?, '', '', ?, ?, ?, ?, ?, 0, 0, NULL)",
            [[h["report_day"], h["report_day"], h["network_name"], h["campaign_name"], h["adjust_rows"], h["matched"],
              h["sent"], h["unmatched"], h["no_identifier"]] for h in history])
        con.execute("CREATE TEMP TABLE counts (day DATE, network VARCHAR, campaign VARCHAR, reason VARCHAR, n BIGINT)")
        con.executemany("INSERT INTO counts VALUES (?, ?, ?, ?, ?)",
                        [[r["report_day"], r["network_name"], r["campaign_name"], r["reason"], r["row_count"]] for r in reasons])
        con.execute(
            "INSERT INTO attribution.discrepancy_rows (row_key, reason, window_closed_at, closed_run_day, adjust_day, "
            "os_name, network_name, campaign_name) SELECT concat_ws('|', day, network, campaign, reason, i), reason, "
            "day::TIMESTAMP, day, day - 3, 'ios', network, campaign FROM (SELECT *, unnest(range(n)) AS i FROM counts)")

    written = pipeline.write_report(Run(plan, warehouse=DuckDBWarehouse(db)), {"as_of": 0, "push": {"dry_run": False}})
    alert, report = written["notices"]["alert"], written["notices"]["report"]
    expected, _ = find_moves(RUN_DAY, history, reasons, Rules())
    assert alert["subject"] == f"ALERT attribution gap {RUN_DAY}: match rate of network {name_text('TikTok')} dropped " \
        f"{abs(expected[0].points):.1f} pts ({expected[0].rate_before * 100:.1f}% → {expected[0].rate * 100:.1f}%)"
    assert f"p = {expected[0].p_value:.2g}" in alert["lines"][0] and "never seen in Amplitude" in alert["lines"][0]
    assert alert["link"] == report["link"] == f"https://reports.example.com/gap/discrepancy_{RUN_DAY}.html"
    assert "1 alert, sent as a message of its own." in report["lines"]
    page = (tmp_path / "out" / f"discrepancy_{RUN_DAY}.html").read_text()
    assert "Alert: match rate of network <bdi>TikTok</bdi> dropped" in page and page.count('class="alert"') == 1

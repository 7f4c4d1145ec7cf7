"""The report's significance tests: every p-value equals scipy's (an independent implementation),
textbook values worked out by hand come out, and bad input is refused."""

from __future__ import annotations

import math
import random

import pytest
import scipy.stats

from adjust_amplitude.report.significance import count_p_value, rate_p_value

LEVEL = 0.95  # the report's default level

# 30 daily reports of about a million rows each: the largest baseline the report compares with.
BIG_REPORTS = 30
BIG_BASELINE = 30_000_000
BIG_MEAN = BIG_BASELINE / BIG_REPORTS
BIG_SD = math.sqrt((BIG_MEAN + BIG_BASELINE) * (1 / 31) * (30 / 31))  # about 984


def mismatches(cases, ours, theirs, rel, abs_=0.0):
    """The cases where ours differs from theirs, with both values, so a failure shows them all."""
    wrong = []
    for case in cases:
        got, expected = ours(*case), theirs(*case)
        if got != pytest.approx(expected, rel=rel, abs=abs_):
            wrong.append((case, got, expected))
    return wrong


# --- rate_p_value: two-proportion z-test -------------------------------------------------------

def rate_cases(seed: int, count: int) -> list[tuple[int, int, int, int]]:
    """Small, medium and huge samples, rates anywhere from 0 to 1, pooled rate never 0 or 1
    (chi2_contingency refuses those)."""
    rng = random.Random(seed)
    sizes = (1, 2, 5, 17, 100, 999, 20_000, 1_000_000)
    cases = []
    while len(cases) < count:
        n, n0 = rng.choice(sizes), rng.choice(sizes)
        # Rates near each other as well as far apart, so p-values span 1 down to underflow.
        rate = rng.random()
        x = min(n, max(0, round(n * rate + rng.gauss(0, 3 * math.sqrt(n)))))
        x0 = min(n0, max(0, round(n0 * rate)))
        if 0 < x + x0 < n + n0:
            cases.append((x, n, x0, n0))
    return cases


def chi2_p(x, n, x0, n0):
    return scipy.stats.chi2_contingency([[x, n - x], [x0, n0 - x0]], correction=False).pvalue


def normal_less_p(x, n, x0, n0):
    # The textbook statistic, written out: difference of rates over the pooled standard error.
    p1, p2 = x / n, x0 / n0
    pooled = (x + x0) / (n + n0)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / n0))
    return scipy.stats.norm.cdf(z)


def test_rate_two_sided_equals_chi_square_test():
    grid = [(x, n, x0, n0) for n in (5, 1_000_000) for n0 in (5, 1_000_000)
            for x in {0, 1, n // 2, n - 1, n} for x0 in {0, 2, n0 // 3, n0}
            if 0 < x + x0 < n + n0]
    cases = grid + rate_cases(seed=1, count=400)
    assert mismatches(cases, rate_p_value, chi2_p, rel=1e-9, abs_=1e-300) == []
    # The sample reaches both ends: no difference at all and differences chance never makes.
    values = [rate_p_value(*case) for case in cases]
    assert max(values) == 1.0 and min(values) < 1e-100


def test_rate_less_equals_normal_lower_tail():
    cases = rate_cases(seed=2, count=400)
    less = lambda *case: rate_p_value(*case, alternative="less")  # noqa: E731
    assert mismatches(cases, less, normal_less_p, rel=1e-9, abs_=1e-300) == []


def test_rate_less_looks_for_a_drop():
    # 50% against a baseline of 60%: a drop chance rarely makes, on either test.
    assert rate_p_value(500, 1000, 600, 1000, alternative="less") < 1e-5
    assert rate_p_value(500, 1000, 600, 1000) < 1e-5
    # 70% against 60% is a rise: as a drop it is no evidence at all.
    assert rate_p_value(700, 1000, 600, 1000, alternative="less") > 0.5
    assert rate_p_value(700, 1000, 600, 1000) < 1e-5
    # One-sided, a drop counts only its own tail: half the two-sided p-value.
    assert rate_p_value(550, 1000, 600, 1000, alternative="less") == pytest.approx(
        rate_p_value(550, 1000, 600, 1000) / 2, rel=1e-12)


def test_rate_textbook_values():
    # 60/100 against 40/100: pooled rate 1/2, se = sqrt(1/2 * 1/2 * (1/100 + 1/100)) = sqrt(0.005),
    # z = 0.2 / sqrt(0.005) = 2 sqrt(2) = 2.8284..., two-sided p = erfc(2) = 0.0046777...
    assert rate_p_value(60, 100, 40, 100) == pytest.approx(0.004677734981047266, rel=1e-12)
    assert rate_p_value(40, 100, 60, 100) == pytest.approx(0.004677734981047266, rel=1e-12)
    assert rate_p_value(40, 100, 60, 100, alternative="less") == pytest.approx(0.002338867490523633, rel=1e-12)
    # Equal rates: no evidence of any difference.
    assert rate_p_value(30, 100, 300, 1000) == 1.0
    # Significant at the report's level, and only just not at 99.9%.
    assert rate_p_value(60, 100, 40, 100) < 1 - LEVEL
    assert rate_p_value(60, 100, 40, 100) > 0.001


@pytest.mark.parametrize("case", [
    (0, 0, 5, 10),  # no rows today
    (3, 10, 0, 0),  # no baseline
    (0, 10, 0, 500),  # nothing matched on either side
    (10, 10, 500, 500),  # everything matched on either side
    (0, 0, 0, 0),
])
@pytest.mark.parametrize("alternative", ["two-sided", "less"])
def test_rate_without_variance_tells_nothing(case, alternative):
    assert rate_p_value(*case, alternative=alternative) == 1.0


@pytest.mark.parametrize("args, kwargs, message", [
    ((1, 10, 1, 10), {"alternative": "greater"}, "alternative"),
    ((1, 10, 1, 10), {"alternative": "two_sided"}, "alternative"),
    ((11, 10, 1, 10), {}, "x must be at most n"),
    ((1, 10, 11, 10), {}, "x0 must be at most n0"),
    ((-1, 10, 1, 10), {}, "x must not be negative"),
    ((1, -10, 1, 10), {}, "n must not be negative"),
    ((1, 10, -1, 10), {}, "x0 must not be negative"),
    ((1, 10, 1, -10), {}, "n0 must not be negative"),
    ((1.0, 10, 1, 10), {}, "x must be a whole number"),
    ((1, 10, 1, "10"), {}, "n0 must be a whole number"),
    ((True, 10, 1, 10), {}, "x must be a whole number"),
])
def test_rate_refuses_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        rate_p_value(*args, **kwargs)


# --- count_p_value: conditional Poisson (binomial) test -----------------------------------------

def binomtest_p(x, baseline, reports):
    return scipy.stats.binomtest(x, x + baseline, 1 / (1 + reports)).pvalue


def test_count_equals_binomial_test_small():
    # Every pair of small counts, against 1, 2 and one more number of reports from 3 to 30 (all 28
    # of them in turn): where ties between outcomes and the two-mode cases happen.
    cases = [(x, baseline, reports) for x in range(31) for baseline in range(31)
             for reports in (1, 2, 3 + (x * 31 + baseline) % 28) if x + baseline > 0]
    assert mismatches(cases, count_p_value, binomtest_p, rel=1e-6) == []


def test_count_equals_binomial_test_medium():
    rng = random.Random(3)
    cases = []
    for _ in range(300):
        reports = rng.randint(1, 40)
        baseline = rng.randint(0, 200_000)
        mean = baseline / reports
        cases.append((max(0, round(mean + rng.uniform(-8, 8) * math.sqrt(mean + 1))), baseline, reports))
    assert mismatches(cases, count_p_value, binomtest_p, rel=1e-6) == []


@pytest.mark.parametrize("sds", [0, 0.001, 0.3, -0.3, 1, -1, 2, -2, 3.5, -3.5, 6, -6, 20, -20, 37, -37])
def test_count_equals_binomial_test_large(sds):
    # 30 million outcomes: summing them one by one would take seconds per case.
    x = round(BIG_MEAN + sds * BIG_SD)
    expected = binomtest_p(x, BIG_BASELINE, BIG_REPORTS)
    assert expected > 1e-300  # far tails, yet still comparable digit for digit
    assert count_p_value(x, BIG_BASELINE, BIG_REPORTS) == pytest.approx(expected, rel=1e-6)


def test_count_large_keeps_its_digits():
    # lgamma(n + 1) is near 5e8 for 30 million outcomes: a log pmf that subtracts such numbers
    # is off by about 1e-7, as much as the tolerance that decides ties. Held to 1e-9 here (the
    # module and scipy agree to about 1e-12).
    cases = [(round(BIG_MEAN + sds * BIG_SD), BIG_BASELINE, BIG_REPORTS) for sds in (0.001, 1, -1, 3.5, -3.5, 20, -20)]
    assert mismatches(cases, count_p_value, binomtest_p, rel=1e-9) == []


@pytest.mark.parametrize("x, baseline, reports", [
    (0, BIG_BASELINE, BIG_REPORTS),
    (BIG_BASELINE, 0, BIG_REPORTS),
    (round(BIG_MEAN - 60 * BIG_SD), BIG_BASELINE, BIG_REPORTS),
    (round(BIG_MEAN + 60 * BIG_SD), BIG_BASELINE, BIG_REPORTS),
    (0, 5000, 1),
    (5000, 0, 1),
])
def test_count_beyond_the_smallest_double(x, baseline, reports):
    # The p-value is below 1e-300 here: it may come out as 0.0, or as a tiny number.
    got = count_p_value(x, baseline, reports)
    assert 0.0 <= got < 1e-300
    assert got == pytest.approx(binomtest_p(x, baseline, reports), abs=1e-300)


def test_count_textbook_values():
    # 10 today against 4 in one earlier report: under H0 the 14 fall on either day with
    # probability 1/2, and 10 or more, or 4 or fewer, happen (1001 + 364 + 91 + 14 + 1) * 2 times
    # in 2^14.
    assert count_p_value(10, 4) == pytest.approx(2942 / 16384, rel=1e-12)
    assert count_p_value(10, 4) == pytest.approx(0.1795654296875, rel=1e-12)
    assert count_p_value(4, 10) == pytest.approx(0.1795654296875, rel=1e-12)
    # 0 today against 5 over two reports: Binomial(5, 1/3) weighs 0..5 as 32, 80, 80, 40, 10, 1
    # in 243; no more likely than 0 (32) are 0, 4 and 5.
    assert count_p_value(0, 5, 2) == pytest.approx(43 / 243, rel=1e-12)
    # 1 today: 80 in 243, tied with 2 on the other side of the mean (5/3). The tie counts, so
    # every outcome is no more likely than 1.
    assert count_p_value(1, 4, 2) == 1.0
    # The expected count itself.
    assert count_p_value(7, 210, 30) == 1.0
    assert count_p_value(1_000_000, BIG_BASELINE, BIG_REPORTS) == 1.0
    # 3 today against a steady 10 a day for 30 days: significant at the report's level.
    assert count_p_value(3, 300, 30) < 1 - LEVEL < count_p_value(5, 300, 30)


def test_count_without_rows_tells_nothing():
    assert count_p_value(0, 0) == 1.0
    assert count_p_value(0, 0, 30) == 1.0


@pytest.mark.parametrize("args, message", [
    ((1, 1, 0), "baseline_reports must be at least 1"),
    ((1, 1, -2), "baseline_reports must not be negative"),
    ((-1, 1, 1), "x must not be negative"),
    ((1, -1, 1), "baseline must not be negative"),
    ((1.5, 1, 1), "x must be a whole number"),
    ((1, None, 1), "baseline must be a whole number"),
    ((1, 1, 2.0), "baseline_reports must be a whole number"),
    ((1, 1, True), "baseline_reports must be a whole number"),
])
def test_count_refuses_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        count_p_value(*args)

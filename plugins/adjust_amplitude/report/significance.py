"""Is a change in the discrepancy report more than chance?

A day's match rate or row count always differs a little from the baseline's, if only because
installs arrive at random. The report marks a change as significant only when chance alone would
rarely produce it: when its p-value is below 1 - level (the significance_level setting), so at
95% a change that is pure noise is marked about once in twenty comparisons.

Pure Python (math only): the report runs inside an Airflow task, and these two tests do not
justify pulling numpy and scipy into it. The tests check every result against scipy.
"""

from __future__ import annotations

import math


_ALTERNATIVES = ("two-sided", "less")
_SQRT2 = math.sqrt(2.0)
_LOG_2PI = math.log(2.0 * math.pi)
# scipy.stats.binomtest counts an outcome as "no more likely than x" up to this relative error,
# so that ties computed with rounding errors (p = 1/2, or a two-mode distribution) still count.
_TIE = math.log1p(1e-7)
# A tail is summed until its next term is this small a part of the sum: past it nothing more
# can change a double.
_NEGLIGIBLE = 1e-18


def rate_p_value(x: int, n: int, x0: int, n0: int, alternative: str = "two-sided") -> float:
    """Two-proportion z-test, pooled variance, no continuity correction: is the rate x/n different
    from x0/n0 ('two-sided'), or lower ('less')? Returns 1.0 when n or n0 is 0, or when the pooled
    rate is 0 or 1 (no variance: nothing can be told apart)."""
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}, not {alternative!r}")
    _check_count("x", x)
    _check_count("n", n)
    _check_count("x0", x0)
    _check_count("n0", n0)
    if x > n:
        raise ValueError(f"x must be at most n: {x} successes out of {n}")
    if x0 > n0:
        raise ValueError(f"x0 must be at most n0: {x0} successes out of {n0}")
    if n == 0 or n0 == 0 or x + x0 == 0 or x + x0 == n + n0:
        return 1.0
    # Under H0 the two rates are one, so its variance is estimated from both samples together
    # (unpooled, a side at 0% or 100% would count as having no noise at all). Pooled, z squared is
    # the chi-square statistic of the 2x2 table.
    pooled = (x + x0) / (n + n0)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n + 1.0 / n0))
    z = (x / n - x0 / n0) / se
    # erfc keeps its precision in the far tails, where 1 - cdf would round to 0 long before.
    if alternative == "less":
        return 0.5 * math.erfc(-z / _SQRT2)
    return math.erfc(abs(z) / _SQRT2)


def count_p_value(x: int, baseline: int, baseline_reports: int = 1) -> float:
    """Exact conditional Poisson test, two-sided: is the count x of one report different from the
    per-report rate of `baseline`, the total of `baseline_reports` earlier reports? Under H0 both are
    Poisson with the same rate per report, so x given x + baseline is Binomial(x + baseline,
    1 / (1 + baseline_reports)); the p-value is the binomial test's, two-sided by the 'minlike' rule
    (the sum of the probabilities of all outcomes no more likely than x, with a relative tolerance of 1e-7,
    as scipy.stats.binomtest does). Returns 1.0 when x + baseline is 0."""
    _check_count("x", x)
    _check_count("baseline", baseline)
    _check_count("baseline_reports", baseline_reports)
    if baseline_reports < 1:
        raise ValueError(f"baseline_reports must be at least 1, not {baseline_reports}")
    n, r = x + baseline, baseline_reports
    # x = n / (1 + r) exactly, compared in integers: x is the expected count, as likely as any.
    if n == 0 or x * r == baseline:
        return 1.0
    p = 1.0 / (1 + r)
    mean, mean_q = n / (1 + r), n * r / (1 + r)

    def log_pmf(k: int) -> float:
        return _binomial_log_pmf(k, n, p, mean, mean_q)

    # Every term is kept relative to pmf(x) and the sum only leaves log space at the end, so
    # the far tails (pmf far below the smallest double) still add up right.
    log_d = log_pmf(x)
    threshold = log_d + _TIE
    # Moving one outcome away from the mode multiplies the pmf by these ratios, which is far
    # cheaper than a log_pmf per outcome; they only get smaller further out, so the walk stops
    # once a term is negligible: about ten standard deviations past the mode at most, a few
    # thousand steps even for 30 million outcomes.
    if x * r < baseline:
        # x is below the mean. The mode is at most ceil(mean), so every outcome at or below x is
        # no more likely than x, and above ceil(mean) the pmf only falls: binary-search the first
        # outcome there that is no more likely than x, then walk up from it.
        total = _walk_down(x, 1.0, n, r)
        y = _first_at_most(log_pmf, threshold, -(-n // (1 + r)), n)
        if y is not None:
            total += _walk_up(y, math.exp(log_pmf(y) - log_d), n, r)
    else:
        total = _walk_up(x, 1.0, n, r)
        y = _last_at_most(log_pmf, threshold, 0, n // (1 + r))
        if y is not None:
            total += _walk_down(y, math.exp(log_pmf(y) - log_d), n, r)
    log_p = log_d + math.log(total)
    # The two-mode case sums to a hair over 1; in the far tails exp underflows to 0.0.
    return min(1.0, math.exp(log_p))


def _check_count(name: str, value: object) -> None:
    # bool is an int to Python, but True rows is a caller's bug, not a count.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, not {value}")


def _walk_down(k: int, term: float, n: int, r: int) -> float:
    """Sum of pmf(k), pmf(k-1), ... down to 0 or until negligible, in units where pmf(k) = term."""
    total = term
    while k > 0 and term > total * _NEGLIGIBLE:
        # pmf(k-1) / pmf(k) = k / (n - k + 1) * (1 - p) / p, and (1 - p) / p = r
        term *= k * r / (n - k + 1)
        k -= 1
        total += term
    return total


def _walk_up(k: int, term: float, n: int, r: int) -> float:
    """Sum of pmf(k), pmf(k+1), ... up to n or until negligible, in units where pmf(k) = term."""
    total = term
    while k < n and term > total * _NEGLIGIBLE:
        term *= (n - k) / ((k + 1) * r)
        k += 1
        total += term
    return total


def _first_at_most(log_pmf, threshold: float, lo: int, hi: int) -> int | None:
    """The first k in [lo, hi] with log_pmf(k) <= threshold, where log_pmf falls over the range."""
    if log_pmf(hi) > threshold:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if log_pmf(mid) <= threshold:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _last_at_most(log_pmf, threshold: float, lo: int, hi: int) -> int | None:
    """The last k in [lo, hi] with log_pmf(k) <= threshold, where log_pmf rises over the range."""
    if log_pmf(lo) > threshold:
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if log_pmf(mid) <= threshold:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _binomial_log_pmf(k: int, n: int, p: float, mean: float, mean_q: float) -> float:
    """log P(X = k) for X ~ Binomial(n, p), mean = n p and mean_q = n (1 - p).

    Loader's saddle-point form ("Fast and accurate computation of binomial probabilities", 2000,
    as in R's dbinom): lgamma(n + 1) - lgamma(k + 1) - ... would cancel numbers near 5e8 for
    n = 30 million and leave only seven good digits, too few for a test that must tell apart
    outcomes equally likely to within 1e-7."""
    if k == 0:
        return n * math.log1p(-p)
    if k == n:
        return n * math.log(p)
    return (
        _stirling_error(n)
        - _stirling_error(k)
        - _stirling_error(n - k)
        - _deviance(k, mean)
        - _deviance(n - k, mean_q)
        - 0.5 * (_LOG_2PI + math.log(k) + math.log1p(-k / n))
    )


def _stirling_error(n: int) -> float:
    """log(n!) - log(sqrt(2 pi n) (n / e)^n), for n >= 1."""
    if n <= 15:
        # Small enough that lgamma's own rounding stays near 1e-15.
        return math.lgamma(n + 1.0) - (n + 0.5) * math.log(n) + n - 0.5 * _LOG_2PI
    # Its asymptotic series; fewer terms suffice the larger n is.
    s0, s1, s2, s3, s4 = 1 / 12, 1 / 360, 1 / 1260, 1 / 1680, 1 / 1188
    nn = float(n) * n
    if n > 500:
        return (s0 - s1 / nn) / n
    if n > 80:
        return (s0 - (s1 - s2 / nn) / nn) / n
    if n > 35:
        return (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / n
    return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n


def _deviance(x: int, m: float) -> float:
    """x log(x / m) + m - x, for x >= 1 and m > 0."""
    if abs(x - m) < 0.1 * (x + m):
        # Near the mean the closed form cancels almost all its digits; this series does not.
        v = (x - m) / (x + m)
        s = (x - m) * v
        ej = 2.0 * x * v
        v *= v
        j = 1
        while True:
            ej *= v
            s1 = s + ej / (2 * j + 1)
            if s1 == s:
                return s1
            s = s1
            j += 1
    return x * math.log(x / m) + m - x

"""Confidence intervals for comparisons across seeds.

Policies are compared on the same seeds (common random numbers), so the difference between two
policies is a *paired* difference: seed k of policy A is compared with seed k of policy B, and
the shared market noise cancels. With :math:`n` seeds and values :math:`x_1..x_n`:

.. math::  \\bar x \\pm t_{0.975,\\,n-1}\\; s / \\sqrt{n}

where :math:`s` is the sample standard deviation (Student's t interval; for a paired difference
the :math:`x_k` are the per-seed differences :math:`a_k - b_k`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    def excludes_zero(self) -> bool:
        """False when the interval is undefined (one value): one seed supports no claim."""
        return self.low > 0 or self.high < 0

    def __format__(self, spec: str) -> str:
        """``mean [low, high]``, each number in the format ``spec`` (``f"{ci:+.2f}"``); one value has no interval."""
        spec = spec or ",.2f"
        if np.isnan(self.low):
            why = f"from {self.n} value" if self.n < 2 else f"NaN among the {self.n} values"
            return f"{self.mean:{spec}} [no interval {why}]"
        return f"{self.mean:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"

    def __str__(self) -> str:
        return format(self)


def mean_ci(values: np.ndarray, level: float = 0.95) -> Interval:
    """Student's t interval of the mean.

    A single value has no interval: its bounds are NaN, not the value itself, so that a one-seed run
    never shows (or claims from) a zero-width interval. Values with no spread give a zero-width one.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("mean_ci: no values")
    if not 0 < level < 1:
        raise ValueError(f"level={level}: must be in (0, 1)")
    mean = float(x.mean())
    if x.size < 2:
        return Interval(mean, np.nan, np.nan, int(x.size))
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return Interval(mean, mean - half, mean + half, int(x.size))


def paired_diff_ci(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> Interval:
    """Interval of the mean of ``a - b`` over paired observations (the same seeds, in the same order)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired_diff_ci: a and b must pair up, got shapes {a.shape} and {b.shape}")
    return mean_ci(a - b, level)


def proportion_ci(x: np.ndarray, level: float = 0.95) -> Interval:
    """Wald interval of a proportion from 0/1 outcomes: :math:`\\hat p \\pm z \\sqrt{\\hat p (1 - \\hat p) / n}`."""
    x = np.asarray(x, dtype=np.float64)
    p = float(x.mean())
    half = float(stats.norm.ppf(0.5 + level / 2) * np.sqrt(p * (1 - p) / x.size))
    return Interval(p, p - half, p + half, int(x.size))


def proportion_diff_ci(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> Interval:
    """Wald interval of :math:`p_a - p_b` for independent samples of 0/1 outcomes.

    .. math::  \\hat p_a - \\hat p_b \\pm z \\sqrt{\\hat p_a(1-\\hat p_a)/n_a + \\hat p_b(1-\\hat p_b)/n_b}
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    pa, pb = a.mean(), b.mean()
    half = stats.norm.ppf(0.5 + level / 2) * np.sqrt(pa * (1 - pa) / a.size + pb * (1 - pb) / b.size)
    return Interval(float(pa - pb), float(pa - pb - half), float(pa - pb + half), int(a.size + b.size))


def welch_diff_ci(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> Interval:
    """Welch's t interval of :math:`\\bar a - \\bar b` for independent samples with unequal variances.

    .. math::  \\bar a - \\bar b \\pm t_{0.975,\\,\\nu} \\sqrt{s_a^2/n_a + s_b^2/n_b},\\quad
               \\nu = \\frac{(s_a^2/n_a + s_b^2/n_b)^2}{(s_a^2/n_a)^2/(n_a-1) + (s_b^2/n_b)^2/(n_b-1)}

    (Welch-Satterthwaite degrees of freedom).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    diff = float(a.mean() - b.mean())
    if va + vb == 0:
        return Interval(diff, diff, diff, int(a.size + b.size))
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(stats.t.ppf(0.5 + level / 2, dof) * np.sqrt(va + vb))
    return Interval(diff, diff - half, diff + half, int(a.size + b.size))

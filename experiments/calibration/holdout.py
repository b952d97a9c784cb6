"""The held-out test of a calibrated market: one joint chi-square (Wald) test of its values against the held-out half.

A market fitted to one half of a randomised test is checked on the other half. Asking every one of
the 15 held-out values (rates and lifts per arm) to lie inside its own 95% interval is not a test
at a known level: the fit half's values themselves, the best any fit can do, pass it in about one
halving in five (``python -m studies.holdout_check``), because each comparison carries the sampling
error of both halves and 15 of them must all succeed.

The test here asks one question of all values together. With :math:`s` the simulator's values,
:math:`h` the held-out half's, and :math:`d = s - h`,

.. math::  T = d^\\top (\\Sigma_s + \\Sigma_h)^{+}\\, d \\;\\sim\\; \\chi^2_r \\text{ under } H_0,
           \\qquad \\text{pass} \\iff T \\le \\chi^2_{r,\\,1-\\alpha},\\quad \\alpha = 0.05,

where :math:`\\Sigma_h` is the held-out half's sampling covariance
(:func:`experiments.calibration.hillstrom.covariance`), :math:`\\Sigma_s` the covariance of the
simulator's values, :math:`{}^{+}` the Moore-Penrose inverse and :math:`r` the rank of
:math:`\\Sigma_s + \\Sigma_h`. :math:`H_0` is "the simulator is as right as a perfect fit to the fit
half": a simulator fitted to a sample carries that sample's error, so :math:`\\Sigma_s` is the fit
half's sampling covariance plus the simulation's own noise (the covariance of a mean over seeds).
A perfect fit, the fit half's own values, then has :math:`d` = the difference of two independent
halves, whose covariance is exactly :math:`\\Sigma_s + \\Sigma_h`: it passes with probability
:math:`1 - \\alpha` by construction (as far as the means are normal, which 10,000 customers per
arm and half make them; measured: ``python -m studies.holdout_check``). A market with fewer free
parameters than values predicts the held-out half with less than the fit half's error, so for it
the test errs on the side of passing a good market rather than failing it.

Why a joint Wald test rather than counting values outside their intervals: it weighs each
deviation by its precision and accounts for the values that move together (an arm's visit and
spend, a lift and its arm's rate, the control's rates inside both lifts), so its level is exact
rather than a count's discrete, conservative quantile, and it sees a shift spread over several
values that no single interval would flag. The lifts are differences of the rates, so the 15 values
span 9 dimensions (:math:`r = 9`); :math:`T` equals the same test on the nine rates alone, and a
simulator whose lifts are not the differences of its rates is refused as malformed input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.05
"""the test's level: a perfect simulator fails it this often"""
RANK_TOLERANCE = 1e-10
"""eigenvalues of the correlation matrix below this share of the largest are the lifts' exact dependence on the rates"""
SPAN_TOLERANCE = 1e-6
"""largest part of the standardised difference allowed outside the covariance's span (rounding, not a malformed lift)"""


@dataclass(frozen=True)
class HoldoutTest:
    """The outcome of :func:`holdout_test`: :math:`T`, its degrees of freedom and the level."""

    statistic: float
    df: int
    level: float = LEVEL

    @property
    def threshold(self) -> float:
        """:math:`\\chi^2_{r,1-\\alpha}`: the largest statistic that passes."""
        return float(stats.chi2.ppf(1 - self.level, self.df))

    @property
    def p_value(self) -> float:
        return float(stats.chi2.sf(self.statistic, self.df))

    @property
    def passed(self) -> bool:
        return self.statistic <= self.threshold

    def __str__(self) -> str:
        sign = "<=" if self.passed else ">"
        return (f"chi-square {self.statistic:.2f} on {self.df} df {sign} {self.threshold:.2f} (the {self.level:.0%} level), "
                f"p = {self.p_value:.3f}: {'passes' if self.passed else 'FAILS'}")


def holdout_test(simulated: pd.Series, simulated_cov: pd.DataFrame, held: pd.Series, held_cov: pd.DataFrame,
                 level: float = LEVEL) -> HoldoutTest:
    """The joint chi-square test of the simulator's values against the held-out half's (see the module docstring).

    ``simulated`` and ``held`` are values keyed by the same ``(arm, metric)`` index (in any order);
    ``simulated_cov`` and ``held_cov`` are their covariances, indexed by the same keys on both axes
    (:func:`experiments.calibration.hillstrom.covariance`). The statistic is computed on the
    differences standardised by their standard deviations, so that rates near 1% and spends near $1
    do not decide the rank between them.
    """
    if not 0 < level < 1:
        raise ValueError(f"holdout_test: level={level!r} is not allowed; it must lie in (0, 1)")
    if not held.index.is_unique:
        raise ValueError(f"holdout_test: the held-out values repeat keys {sorted(set(held.index[held.index.duplicated()]))}")
    order = list(held.index)
    for name, keys in (("simulated", simulated.index), ("simulated_cov rows", simulated_cov.index),
                       ("simulated_cov columns", simulated_cov.columns), ("held_cov rows", held_cov.index),
                       ("held_cov columns", held_cov.columns)):
        missing, extra = set(order) - set(keys), set(keys) - set(order)
        if missing or extra or len(keys) != len(order):
            raise ValueError(f"holdout_test: the keys of {name} do not match the held-out values'; missing {sorted(missing)}, "
                             f"extra {sorted(extra)}{', repeated keys' if not missing and not extra else ''}")
    diff = simulated.reindex(order).to_numpy(np.float64) - held.to_numpy(np.float64)
    cov = (simulated_cov.reindex(index=order, columns=order).to_numpy(np.float64)
           + held_cov.reindex(index=order, columns=order).to_numpy(np.float64))
    for k, key in enumerate(order):
        if not np.isfinite(diff[k]):
            raise ValueError(f"holdout_test: value {key} is {float(simulated[key])} simulated and {float(held[key])} held out; both must be finite")
        if not cov[k, k] > 0:
            raise ValueError(f"holdout_test: value {key} has variance {cov[k, k]!r}; every value needs a positive variance")
    if not np.allclose(cov, cov.T, rtol=1e-9, atol=0):
        raise ValueError("holdout_test: the covariances are not symmetric")
    sd = np.sqrt(np.diag(cov))
    z, corr = diff / sd, cov / np.outer(sd, sd)
    eigenvalues, vectors = np.linalg.eigh(corr)
    if eigenvalues.min() < -RANK_TOLERANCE * eigenvalues.max():
        raise ValueError(f"holdout_test: the covariances are not positive semi-definite (eigenvalue {eigenvalues.min():.3g})")
    kept = eigenvalues > RANK_TOLERANCE * eigenvalues.max()
    along = vectors[:, kept].T @ z
    outside = z - vectors[:, kept] @ along
    worst = int(np.argmax(np.abs(outside)))
    if abs(outside[worst]) > SPAN_TOLERANCE:
        raise ValueError(f"holdout_test: the differences leave the span of their covariance by {outside[worst]:.3g} standard deviations "
                         f"at {order[worst]}: the simulated values are not related as the held-out ones are (a lift that is not "
                         "the difference of its rates?)")
    return HoldoutTest(float(np.sum(along**2 / eigenvalues[kept])), int(kept.sum()), level)

r"""Off-policy estimators of a candidate policy's value, their bootstrap intervals and their diagnostics.

Logged rows :math:`i = 1..n` hold a context :math:`x_i`, the action :math:`a_i` that ran, its
probability :math:`p_i = \pi_b(a_i|x_i)` under the policy that logged it, and the reward
:math:`r_i`. The candidate gives :math:`\pi_e(a|x)`; a reward model gives :math:`\hat q(x, a)`. With

.. math::  w_i = \frac{\pi_e(a_i|x_i)}{p_i}, \qquad \hat q_\pi(x_i) = \sum_a \pi_e(a|x_i)\, \hat q(x_i, a),
           \qquad \varepsilon_i = r_i - \hat q(x_i, a_i),

the estimand is the candidate's mean reward per decision on the logged contexts,
:math:`V(\pi_e) = \mathbb{E}_x\, \mathbb{E}_{a \sim \pi_e(\cdot|x)}[r]`, and

.. math::
    \hat V_{DM} = \tfrac1n \textstyle\sum_i \hat q_\pi(x_i), \qquad
    \hat V_{IPS} = \tfrac1n \sum_i w_i r_i, \qquad
    \hat V_{SNIPS} = \frac{\sum_i w_i r_i}{\sum_i w_i},

    \hat V_{DR} = \tfrac1n \textstyle\sum_i \big[\hat q_\pi(x_i) + w_i \varepsilon_i\big], \qquad
    \hat V_{switch} = \tfrac1n \sum_i \big[\hat q_\pi(x_i) + \mathbb 1\{w_i \le \tau\}\, w_i \varepsilon_i\big], \qquad
    \hat V_{DRos} = \tfrac1n \sum_i \big[\hat q_\pi(x_i) + \frac{\lambda w_i}{w_i^2 + \lambda} \varepsilon_i\big].

DM is as good as the reward model; IPS is unbiased wherever the logger could take every action the
candidate takes, at a variance that grows with the weights; SNIPS (Swaminathan and Joachims, NeurIPS
2015) trades a small bias for less variance; DR (Dudík, Langford and Li, ICML 2011) is unbiased if
either the propensities or the model are right, and its variance is that of the model's residuals;
switch-DR (Wang, Agarwal and Dudík, ICML 2017, in Open Bandit Pipeline's form: the decision of the
switch is made on the logged action's weight, so it needs the logged propensity only) falls back to
DM on rows whose weight exceeds :math:`\tau`; DR with optimistic shrinkage (Su, Dimakopoulou,
Krishnamurthy and Dudík, ICML 2020) shrinks each weight towards zero, continuously. :math:`\tau` and
:math:`\lambda` are chosen from a grid by the estimated mean squared error of Su et al. (2020, their
direct bias estimate, also Open Bandit Pipeline's):

.. math::  \widehat{MSE}(\hat w) = \frac{\widehat{Var}_i[\hat q_\pi(x_i) + \hat w_i \varepsilon_i]}{n}
           + \Big(\tfrac1n \textstyle\sum_i (w_i - \hat w_i)\, \varepsilon_i\Big)^2 .

Intervals are percentile bootstrap intervals that resample whole groups of rows (a shopper's
decisions are not independent of one another), with the reward model and the tuned :math:`\tau`,
:math:`\lambda` held fixed; each estimate is a ratio of group sums, so a replicate is one matrix
product. Holding the model fixed leaves its own error out of the intervals of the estimators that
lean on it (:data:`MODEL_FIXED`): theirs are narrower than their errors; those of IPS, SNIPS and DR
are not (DR's error does not depend on the model's being right). Diagnostics: the effective sample size :math:`(\sum w_i)^2 / \sum w_i^2` (Kish), the share
of logged decisions the candidate could have made (:math:`\pi_e(a_i|x_i) > 0`), and :math:`\bar w`,
which estimates the candidate's probability mass on actions the logger could take (1 with full
support; below 1, IPS and DR miss the rest: Sachdeva, Su and Joachims, KDD 2020).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

ESTIMATORS: dict[str, str] = {
    "dm": "direct method (DM)", "ips": "inverse propensity (IPS)", "snips": "self-normalised IPS (SNIPS)",
    "dr": "doubly robust (DR)", "switch_dr": "switch-DR", "dr_os": "DR with optimistic shrinkage (DRos)",
}
"""estimator key -> its name in tables, in the order of the tables"""
MODEL_FIXED = ("dm", "switch_dr", "dr_os")
"""estimators whose interval holds the reward model fixed and so leaves out the model's own error: they lean on the model
(DM wholly, switch-DR and DRos where weights are large) and their intervals cover less often than stated (docs/ope.md)"""
COVERED = "covered_mass"
"""the diagnostic :math:`\\bar w`, bootstrapped with the estimators"""
SWITCH_QUANTILES = (0.5, 0.75, 0.9, 0.95, 0.99, 0.999)
"""candidate thresholds :math:`\\tau` of switch-DR: these quantiles of the positive weights, and no switch (:math:`\\infty`)"""
SHRINKAGE_SCALES = tuple(10.0 ** (k / 2) for k in range(-6, 7))
"""candidate :math:`\\lambda` of DRos: these multiples of :math:`\\overline{w^2}`, and no shrinkage (:math:`\\infty`: DR)"""


class NoSupport(ValueError):
    """The candidate could have made too few of the logged decisions for any estimate to mean something."""


@dataclass(frozen=True)
class Logged:
    """What every estimator reads, one entry per logged decision; all of shape (n,)."""

    reward: np.ndarray
    """:math:`r_i`"""
    weight: np.ndarray
    """:math:`w_i = \\pi_e(a_i|x_i) / p_i`"""
    q_logged: np.ndarray
    """:math:`\\hat q(x_i, a_i)`, out of fold"""
    q_policy: np.ndarray
    """:math:`\\hat q_\\pi(x_i)`, out of fold"""

    def __post_init__(self) -> None:
        arrays = {k: np.asarray(getattr(self, k), dtype=np.float64) for k in ("reward", "weight", "q_logged", "q_policy")}
        n = arrays["reward"].shape
        for name, a in arrays.items():
            if a.ndim != 1 or a.shape != n:
                raise ValueError(f"{name}: shape {a.shape}, expected {n} like reward")
            if not np.isfinite(a).all():
                raise ValueError(f"{name}: {int((~np.isfinite(a)).sum())} values are not finite numbers")
            object.__setattr__(self, name, a)
        if (arrays["weight"] < 0).any():
            raise ValueError(f"weight: {arrays['weight'].min()!r} is negative; importance weights are >= 0")

    @property
    def residual(self) -> np.ndarray:
        """:math:`\\varepsilon_i = r_i - \\hat q(x_i, a_i)`"""
        return self.reward - self.q_logged


def switched(weight: np.ndarray, tau: float) -> np.ndarray:
    """:math:`\\mathbb 1\\{w \\le \\tau\\}\\, w`: switch-DR's weights (no switch at :math:`\\tau = \\infty`)."""
    return np.where(weight <= tau, weight, 0.0)


def shrunk(weight: np.ndarray, lam: float) -> np.ndarray:
    """:math:`\\lambda w / (w^2 + \\lambda)`: DRos's weights (:math:`\\lambda = \\infty`: unchanged, DR)."""
    if np.isinf(lam):
        return weight
    return lam * weight / (weight**2 + lam)


def estimated_mse(data: Logged, w_hat: np.ndarray) -> float:
    """Su et al.'s (2020) estimate of the mean squared error of DR with the weights ``w_hat`` (module docstring)."""
    eps = data.residual
    rows = data.q_policy + w_hat * eps
    return float(rows.var() / rows.size + np.mean((data.weight - w_hat) * eps) ** 2)


def tune(data: Logged, modify: Callable[[np.ndarray, float], np.ndarray], grid: list[float]) -> float:
    """The value of ``grid`` whose modified weights have the smallest :func:`estimated_mse` (the first of equals)."""
    scores = [estimated_mse(data, modify(data.weight, h)) for h in grid]
    return float(grid[int(np.argmin(scores))])


def switch_grid(weight: np.ndarray) -> list[float]:
    positive = weight[weight > 0]
    return [*np.unique(np.quantile(positive, SWITCH_QUANTILES)).tolist(), np.inf] if positive.size else [np.inf]


def shrinkage_grid(weight: np.ndarray) -> list[float]:
    scale = float(np.mean(weight**2))
    return [scale * s for s in SHRINKAGE_SCALES] + [np.inf] if scale > 0 else [np.inf]


def row_terms(data: Logged, tau: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """(numerator, denominator), each (n, len(ESTIMATORS) + 1): every estimate, and :math:`\\bar w`, is
    :math:`\\sum_i \\text{num}_{ij} / \\sum_i \\text{den}_{ij}` (a mean, but for SNIPS, whose denominator is :math:`w_i`)."""
    w, eps, dm = data.weight, data.residual, data.q_policy
    num = np.column_stack([dm, w * data.reward, w * data.reward, dm + w * eps, dm + switched(w, tau) * eps, dm + shrunk(w, lam) * eps, w])
    den = np.ones_like(num)
    den[:, list(ESTIMATORS).index("snips")] = w
    return num, den


def group_codes(groups: np.ndarray | None, n: int) -> np.ndarray:
    """(n,) 0..G-1: each row's group (a row of its own where ``groups`` is None)."""
    if groups is None:
        return np.arange(n)
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"groups: shape {groups.shape}, expected ({n},): one group key per row")
    return np.unique(groups, return_inverse=True)[1].reshape(-1)


def replicates(num: np.ndarray, den: np.ndarray, codes: np.ndarray, count: int, rng: np.random.Generator, block: int = 64) -> np.ndarray:
    """(count, columns) bootstrap replicates of each column's ratio :math:`\\sum \\text{num} / \\sum \\text{den}`, resampling groups.

    Groups are drawn with replacement, as many as there are: replicate b counts group g
    :math:`k_{bg}` times and estimates :math:`\\sum_g k_{bg} N_g / \\sum_g k_{bg} D_g` with the group sums
    :math:`N_g, D_g`. ``block`` replicates are drawn at a time, to bound the memory of the counts. The draws
    depend on ``rng`` and the number of groups only, so two candidates' terms on the same rows, resampled
    from equal generators, give paired replicates (their differences bootstrap a paired difference).
    """
    groups = int(codes.max()) + 1
    sums_num = np.stack([np.bincount(codes, weights=num[:, j], minlength=groups) for j in range(num.shape[1])], axis=1)
    sums_den = np.stack([np.bincount(codes, weights=den[:, j], minlength=groups) for j in range(den.shape[1])], axis=1)
    estimates = []
    for start in range(0, count, block):
        b = min(block, count - start)
        picks = rng.integers(0, groups, size=(b, groups))
        counts = np.stack([np.bincount(p, minlength=groups) for p in picks]).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            estimates.append((counts @ sums_num) / (counts @ sums_den))
    return np.concatenate(estimates)


def percentile_interval(boot: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval of each column of bootstrap replicates (NaN replicates left out)."""
    tail = (1 - level) / 2
    return np.nanquantile(boot, tail, axis=0), np.nanquantile(boot, 1 - tail, axis=0)


def bootstrap(num: np.ndarray, den: np.ndarray, codes: np.ndarray, count: int, rng: np.random.Generator,
              level: float = 0.95, block: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of each column's ratio :math:`\\sum \\text{num} / \\sum \\text{den}` (:func:`replicates`)."""
    return percentile_interval(replicates(num, den, codes, count, rng, block), level)


@dataclass(frozen=True)
class Estimate:
    """The candidate's value by every estimator, with intervals, and the diagnostics that say which to believe."""

    table: pd.DataFrame
    """one row per estimator: ``estimator``, ``name``, ``value``, ``low``, ``high`` (NaN where there is no support),
    ``interval`` (what the interval accounts for: ``sampling``, or ``sampling, model fixed`` for :data:`MODEL_FIXED`)"""
    rows: int
    groups: int
    supported: int
    """logged decisions the candidate could have made, :math:`\\pi_e(a_i|x_i) > 0`"""
    ess: float
    """:math:`(\\sum w_i)^2 / \\sum w_i^2`, in rows"""
    covered: tuple[float, float, float]
    """:math:`\\bar w` and its interval"""
    tau: float
    lam: float
    level: float
    warnings: list[str] = field(default_factory=list)

    @property
    def support(self) -> float:
        return self.supported / self.rows if self.rows else 0.0

    def value(self, estimator: str) -> float:
        return float(self.table.set_index("estimator").loc[estimator, "value"])


def _table(value: np.ndarray, low: np.ndarray, high: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"estimator": list(ESTIMATORS), "name": list(ESTIMATORS.values()), "value": value, "low": low, "high": high,
                         "interval": ["sampling, model fixed" if k in MODEL_FIXED else "sampling" for k in ESTIMATORS]})


def estimate(data: Logged, groups: np.ndarray | None = None, replicates: int = 500, seed: int = 0, level: float = 0.95,
             min_support: int = 1) -> Estimate:
    """Every estimator of :data:`ESTIMATORS` on ``data``, with its bootstrap interval (groups of rows resampled together).

    With fewer than ``min_support`` logged decisions that the candidate could have made, the
    estimates are NaN and :attr:`Estimate.warnings` says why: without such rows IPS is 0 whatever
    the candidate is worth, and DM and DR are the reward model's extrapolation, unchecked by data.
    The same ``data``, ``groups`` and ``seed`` give the same numbers, bit for bit.
    """
    n = data.reward.size
    if n == 0:
        raise ValueError("no logged decisions to evaluate on")
    if not 0 < level < 1:
        raise ValueError(f"level={level}: must be in (0, 1)")
    codes = group_codes(groups, n)
    w = data.weight
    supported = int((w > 0).sum())
    ess = float(w.sum() ** 2 / (w**2).sum()) if supported else 0.0
    warnings = []
    if supported < min_support:
        warnings.append(f"no support: the candidate could have made {supported} of the {n:,} logged decisions (fewer than "
                        f"{min_support}); no estimate is given, as none would be checked by data")
        nan = np.full(len(ESTIMATORS), np.nan)
        return Estimate(_table(nan, nan, nan), n, int(codes.max()) + 1, supported, ess, (float(w.mean()), np.nan, np.nan), np.nan, np.nan,
                        level, warnings)
    tau = tune(data, switched, switch_grid(w))
    lam = tune(data, shrunk, shrinkage_grid(w))
    num, den = row_terms(data, tau, lam)
    value = num.sum(axis=0) / den.sum(axis=0)
    low, high = bootstrap(num, den, codes, replicates, np.random.default_rng(seed), level)
    covered = (float(value[-1]), float(low[-1]), float(high[-1]))
    return Estimate(_table(value[:-1], low[:-1], high[:-1]), n, int(codes.max()) + 1, supported, ess, covered, tau, lam, level, warnings)

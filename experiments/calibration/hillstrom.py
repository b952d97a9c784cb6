"""The Hillstrom e-mail experiment as data: its arms, the fit/holdout halves, and its effects with intervals.

The file ships with the project (``data/hillstrom.csv.gz``, provenance in ``data/README.md``):
64,000 customers randomly split into a men's merchandise e-mail, a women's merchandise e-mail and
no e-mail, with their site visit, conversion and spend over the next two weeks.

:func:`effects` computes the experiment's table the way the data's README does, for the real
customers and for simulated ones alike (a simulated customer frame has the same columns):

* rates per arm: visit and conversion with Wald intervals, :math:`\\hat p \\pm 1.96 \\sqrt{\\hat p(1-\\hat p)/n}`;
  spend per customer with a Student t interval;
* lifts over no e-mail (absolute differences): Wald intervals for the difference of independent
  proportions, Welch's t interval for the difference in spend.

:func:`covariance` gives the joint sampling covariance of those values, which the held-out test
(:mod:`experiments.calibration.holdout`) needs: the per-value intervals ignore that values of one arm
(its rates, its lift, the control's rates inside every lift) move together.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.stats import Interval, mean_ci, proportion_ci, proportion_diff_ci, welch_diff_ci
from sim.config import ConfigError
from sim.customers import CustomerTable, load_customers
from sim.resources import data_dir

DATA = data_dir() / "hillstrom.csv.gz"
CONTROL = "No E-Mail"
ARMS = (CONTROL, "Mens E-Mail", "Womens E-Mail")
CAMPAIGN_OF_ARM = {"Mens E-Mail": "mens_email", "Womens E-Mail": "womens_email"}
"""the market campaign (``market.campaigns``) that plays each e-mail arm"""
OUTCOMES = ("visit", "conversion", "spend")
LIFTS = tuple(f"{m}_lift" for m in OUTCOMES)
HALVES = ("fit", "holdout")


def load() -> CustomerTable:
    """The 64,000 customers with their arm and outcomes (checked like any customer table)."""
    table = load_customers(DATA)
    arms = set(table.frame["segment"].unique())
    if not arms <= set(ARMS) or not {"visit", "conversion", "spend"} <= set(table.frame.columns):
        raise ConfigError(f"{DATA}: not the Hillstrom file (arms {sorted(arms)}; expected {', '.join(ARMS)} and visit, conversion, spend)")
    return table


def halves(table: CustomerTable, split_seed: int) -> dict[str, CustomerTable]:
    """A random half of the customers to fit on and the other half held out, each in file order."""
    order = np.random.default_rng(split_seed).permutation(len(table))
    cut = len(table) // 2
    return {"fit": table.take(np.sort(order[:cut])), "holdout": table.take(np.sort(order[cut:]))}


def effects(frame: pd.DataFrame) -> pd.DataFrame:
    """The experiment's table: ``arm, metric, value, low, high, n`` (rates per arm, then lifts over no e-mail).

    ``frame`` has one row per customer with ``segment`` (the arm) and the outcomes ``visit``,
    ``conversion`` (0/1) and ``spend``; an arm missing from ``frame`` is left out.
    """
    by_arm = {arm: g for arm, g in frame.groupby("segment") if arm in ARMS}
    rows = []
    for arm, g in by_arm.items():
        rows += [_row(arm, "visit", proportion_ci(g["visit"]), len(g)), _row(arm, "conversion", proportion_ci(g["conversion"]), len(g)),
                 _row(arm, "spend", mean_ci(g["spend"]), len(g))]
    control = by_arm.get(CONTROL)
    for arm, g in by_arm.items():
        if arm == CONTROL or control is None:
            continue
        rows += [
            _row(arm, "visit_lift", proportion_diff_ci(g["visit"], control["visit"]), len(g)),
            _row(arm, "conversion_lift", proportion_diff_ci(g["conversion"], control["conversion"]), len(g)),
            _row(arm, "spend_lift", welch_diff_ci(g["spend"], control["spend"]), len(g)),
        ]
    order = {m: k for k, m in enumerate(OUTCOMES + LIFTS)}
    out = pd.DataFrame(rows, columns=["arm", "metric", "value", "low", "high", "n"])
    return out.sort_values(["metric", "arm"], key=lambda s: s.map(order) if s.name == "metric" else s.map(ARMS.index), ignore_index=True)


def keys(arms: set[str]) -> list[tuple[str, str]]:
    """The ``(arm, metric)`` rows of :func:`effects` for the arms present, in its order (metric, then arm)."""
    rates = [(arm, m) for m in OUTCOMES for arm in ARMS if arm in arms]
    lifts = [(arm, m) for m in LIFTS for arm in ARMS if arm in arms and arm != CONTROL] if CONTROL in arms else []
    return rates + lifts


def covariance(frame: pd.DataFrame) -> pd.DataFrame:
    """The sampling covariance of the values of :func:`effects` (rows and columns: its ``(arm, metric)`` keys, in its order).

    Every value is linear in the nine arm means :math:`m_{a,o}` (arm :math:`a`, outcome
    :math:`o` in visit, conversion, spend): a rate is :math:`m_{a,o}`, a lift is
    :math:`m_{a,o} - m_{\\text{control},o}`. Arms are disjoint sets of customers, so their means are
    independent and, within an arm of :math:`n_a` customers, the three means covary as the
    outcomes do:

    .. math::  \\operatorname{Cov}(m_a) = S_a / n_a,\\qquad \\Sigma = J\\,\\operatorname{diag}(S_1/n_1, S_2/n_2, S_3/n_3)\\,J^\\top

    with :math:`S_a` the sample covariance (divisor :math:`n_a - 1`) of the outcomes in arm
    :math:`a` and :math:`J` the 0/±1 matrix taking arm means to the table's values. Its diagonal is
    the variance behind each interval of :func:`effects` (to the factor :math:`n/(n-1)` for the Wald
    ones). With two e-mail arms, the 15 values span only 9 dimensions (each lift is a difference
    of rates), so :math:`\\Sigma` has rank 9.
    """
    groups = {arm: g for arm, g in frame.groupby("segment") if arm in ARMS}
    rows = keys(set(groups))
    means = [(arm, o) for arm in ARMS if arm in groups for o in OUTCOMES]
    at = {k: i for i, k in enumerate(means)}
    blocks = np.zeros((len(means), len(means)))
    for arm, g in groups.items():
        i = at[arm, OUTCOMES[0]]
        blocks[i:i + len(OUTCOMES), i:i + len(OUTCOMES)] = np.atleast_2d(np.cov(g[list(OUTCOMES)].to_numpy(np.float64), rowvar=False)) / len(g)
    to_values = np.zeros((len(rows), len(means)))
    for r, (arm, metric) in enumerate(rows):
        outcome = metric.removesuffix("_lift")
        to_values[r, at[arm, outcome]] = 1.0
        if metric in LIFTS:
            to_values[r, at[CONTROL, outcome]] -= 1.0
    index = pd.MultiIndex.from_tuples(rows, names=["arm", "metric"])
    return pd.DataFrame(to_values @ blocks @ to_values.T, index=index, columns=index)


def _row(arm: str, metric: str, ci: Interval, n: int) -> tuple:
    return arm, metric, ci.mean, ci.low, ci.high, n


def purchase_group(frame: pd.DataFrame) -> pd.Series:
    """Which merchandise each customer bought in the past year: ``mens only``, ``womens only``, ``both`` (or ``neither``)."""
    names = np.array(["neither", "womens only", "mens only", "both"])
    return pd.Series(names[2 * frame["mens"].to_numpy() + frame["womens"].to_numpy()], index=frame.index, name="bought")

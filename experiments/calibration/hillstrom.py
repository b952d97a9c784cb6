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


def _row(arm: str, metric: str, ci: Interval, n: int) -> tuple:
    return arm, metric, ci.mean, ci.low, ci.high, n


def purchase_group(frame: pd.DataFrame) -> pd.Series:
    """Which merchandise each customer bought in the past year: ``mens only``, ``womens only``, ``both`` (or ``neither``)."""
    names = np.array(["neither", "womens only", "mens only", "both"])
    return pd.Series(names[2 * frame["mens"].to_numpy() + frame["womens"].to_numpy()], index=frame.index, name="bought")

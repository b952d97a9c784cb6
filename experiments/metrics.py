"""From run results to tables: per policy x seed, per day, per archetype, action mix, and the comparison.

Incremental profit is always against the no-contact twin run on the same seed:

.. math::  \\Delta_{p,k} = \\Pi_{p,k} - \\Pi_{\\text{no\\_contact},k}

and "% of reference" is :math:`100\\, \\Delta_{p,k} / \\Delta_{\\text{reference},k}` on the same seed k, the reference being
the non-myopic planner (:mod:`policies.planner`), which knows the latent traits and charges each message its later cost:
no policy here beats it, on the long-run market either, where the myopic oracle loses money. The same two
numbers over the last :data:`LATE_DAYS` days of the horizon (``*_last_30d``) say where a learner ends up, once it has
learned, rather than what its first weeks cost.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.runner import RunResult, action_mix
from experiments.stats import mean_ci, paired_diff_ci
from sim.catalogue import CHANNEL_NAMES, OFFER_NAMES, SLOTS
from sim.config import ARCHETYPES

HOLDOUT = "no_contact"
ORACLE = "oracle"
BLAST = "blast"
"""the weekly information e-mail to everyone: the plainest thing a shop does, the second yardstick of every learner"""
REFERENCE = "reference"
"""the denominator of "% of reference" (:mod:`policies.planner`)"""
LATE_DAYS = 30
"""the final days over which ``*_last_30d`` are measured (the whole horizon if it is shorter)"""
SUMMARY_COLUMNS = [
    "policy", "seed", "profit", "incremental_profit", "incremental_profit_per_shopper", "revenue", "discount_cost",
    "channel_cost", "sends", "sends_per_shopper", *[f"sends_{h}" for h in CHANNEL_NAMES], "opens", "open_rate",
    "redeemed", "conversion_rate", "purchases", "repeat_purchase_rate", "gross_margin_pct", "unsubscribes", "churned",
    "violations", "shoppers", "pct_of_reference", "incremental_profit_last_30d", "incremental_profit_last_30d_per_shopper",
    "pct_of_reference_last_30d", "decide_seconds", "train_seconds",
]


def _twins(results: list[RunResult], name: str) -> dict[int, RunResult]:
    return {r.seed: r for r in results if r.policy == name}


def summary_table(results: list[RunResult]) -> pd.DataFrame:
    """One row per policy x seed with every headline metric."""
    holdout = _twins(results, HOLDOUT)
    missing = {r.seed for r in results} - set(holdout)
    if missing:
        raise ValueError(f"no {HOLDOUT} twin run for seed(s) {sorted(missing)}: incremental profit needs one per seed")
    rows = []
    for r in results:
        d = r.daily.sum()
        channel = action_mix(r.sends_by_day.sum(axis=0))["channel"]
        buyers = r.purchases_by_row >= 1
        row = {
            "policy": r.policy, "seed": r.seed, "profit": d["profit"],
            "incremental_profit": d["profit"] - holdout[r.seed].daily["profit"].sum(),
            "incremental_profit_last_30d": (r.daily["profit"].to_numpy() - holdout[r.seed].daily["profit"].to_numpy())[-LATE_DAYS:].sum(),
            "revenue": d["revenue"], "discount_cost": d["discount"], "channel_cost": d["channel_cost"],
            "sends": d["sends"], "opens": d["opens"], "redeemed": d["redeemed"], "purchases": d["purchases"],
            "open_rate": d["opens"] / d["sends"] if d["sends"] else 0.0,
            "conversion_rate": d["redeemed"] / d["sends"] if d["sends"] else 0.0,
            "repeat_purchase_rate": float((r.purchases_by_row[buyers] >= 2).mean()) if buyers.any() else 0.0,
            "gross_margin_pct": 100 * (d["profit"] + d["channel_cost"]) / d["revenue"] if d["revenue"] else 0.0,
            "unsubscribes": d["unsubscribes"], "churned": r.churned, "violations": d["violations"], "shoppers": r.shoppers,
            "decide_seconds": r.decide_seconds, "train_seconds": r.train_seconds,
        }
        row |= {f"sends_{h}": channel[k] for k, h in enumerate(CHANNEL_NAMES)}
        row["incremental_profit_per_shopper"] = row["incremental_profit"] / r.shoppers
        row["sends_per_shopper"] = row["sends"] / r.shoppers
        row["incremental_profit_last_30d_per_shopper"] = row["incremental_profit_last_30d"] / r.shoppers
        rows.append(row)
    return with_pct_of_reference(pd.DataFrame(rows))[SUMMARY_COLUMNS]


def with_pct_of_reference(summary: pd.DataFrame) -> pd.DataFrame:
    """``pct_of_reference`` (and ``pct_of_reference_last_30d``) of every row from the reference's row on the same seed (NaN without one).

    Recomputed when summaries of separate runs are gathered: the reference may have run in another one.
    """
    table = summary.copy()
    for pct, metric in (("pct_of_reference", "incremental_profit"), ("pct_of_reference_last_30d", "incremental_profit_last_30d")):
        reference = table[table.policy == REFERENCE].set_index("seed")[metric]
        table[pct] = [100 * inc / reference[s] if s in reference.index and reference[s] > 0 else np.nan
                      for s, inc in zip(table.seed, table[metric])]
    return table


def best_rule(summary: pd.DataFrame) -> str | None:
    """The rule set with the highest mean incremental profit: the yardstick for every learner."""
    rules = summary[summary.policy.str.startswith("rules_")]
    if rules.empty:
        return None
    return str(rules.groupby("policy")["incremental_profit"].mean().idxmax())


def comparison_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per policy: mean and 95% interval of each metric across seeds, and the paired differences in
    incremental profit to the best rule set and to ``blast``, the weekly e-mail to all (same seeds)."""
    metrics = [c for c in SUMMARY_COLUMNS if c not in ("policy", "seed")]
    yardstick = best_rule(summary)
    blast = summary[summary.policy == BLAST].sort_values("seed")
    rows = []
    for policy, group in summary.groupby("policy", sort=False):
        group = group.sort_values("seed")
        row: dict[str, object] = {"policy": policy, "seeds": len(group)}
        for m in metrics:
            ci = mean_ci(group[m].dropna().to_numpy()) if group[m].notna().any() else None
            row[f"{m}_mean"], row[f"{m}_low"], row[f"{m}_high"] = (ci.mean, ci.low, ci.high) if ci else (np.nan,) * 3
        if yardstick is not None:
            ref = summary[summary.policy == yardstick].sort_values("seed")
            diff = paired_diff_ci(group["incremental_profit"].to_numpy(), ref["incremental_profit"].to_numpy())
            row |= {"best_rule": yardstick, "diff_vs_best_rule_mean": diff.mean, "diff_vs_best_rule_low": diff.low,
                    "diff_vs_best_rule_high": diff.high}
        if not blast.empty:
            diff = paired_diff_ci(group["incremental_profit"].to_numpy(), blast["incremental_profit"].to_numpy())
            row |= {"diff_vs_blast_mean": diff.mean, "diff_vs_blast_low": diff.low, "diff_vs_blast_high": diff.high}
        rows.append(row)
    return pd.DataFrame(rows)


def daily_table(results: list[RunResult]) -> pd.DataFrame:
    """One row per policy x seed x day, with that day's incremental profit and its running sum."""
    holdout = _twins(results, HOLDOUT)
    frames = []
    for r in results:
        d = r.daily.copy()
        d.insert(0, "seed", r.seed)
        d.insert(0, "policy", r.policy)
        d["incremental_profit"] = d["profit"].to_numpy() - holdout[r.seed].daily["profit"].to_numpy()
        d["cumulative_incremental_profit"] = d["incremental_profit"].cumsum()
        frames.append(d)
    out = pd.concat(frames, ignore_index=True)
    out["day"] = out["day"].astype(int)
    return out


def archetype_table(results: list[RunResult]) -> pd.DataFrame:
    """Incremental profit per shopper of each archetype (latent: for the report, never for a policy)."""
    holdout = _twins(results, HOLDOUT)
    rows = []
    for r in results:
        base = holdout[r.seed].profit_by_row
        for k, name in enumerate(ARCHETYPES):
            members = r.archetype == k
            if members.any():
                rows.append({"policy": r.policy, "seed": r.seed, "archetype": name,
                             "incremental_profit_per_shopper": float((r.profit_by_row[members] - base[members]).mean())})
    return pd.DataFrame(rows)


EVERYONE = "all"
"""the ``archetype`` of the mix table's rows over every shopper"""


def mix_table(results: list[RunResult]) -> pd.DataFrame:
    """Share of each policy's messages by channel, offer and slot, over all its seeds: for every shopper
    (``archetype`` = :data:`EVERYONE`) and per archetype of the shopper who got them (latent: what a policy learned
    to send to whom, for the report; no policy reads it)."""
    rows = []
    names = {"channel": CHANNEL_NAMES, "offer": OFFER_NAMES, "slot": SLOTS}
    for policy in dict.fromkeys(r.policy for r in results):
        by_archetype = sum(r.sends_by_archetype for r in results if r.policy == policy)
        for archetype, counts_by_action in ((EVERYONE, by_archetype.sum(axis=0)), *zip(ARCHETYPES, by_archetype)):
            for part, counts in action_mix(counts_by_action).items():
                rows += [{"policy": policy, "archetype": archetype, "part": part, "value": names[part][k], "sends": counts[k]}
                         for k in range(len(counts))]
    return with_shares(pd.DataFrame(rows))


def combine_mix(mixes: list[pd.DataFrame]) -> pd.DataFrame:
    """Mix tables of runs on different seeds as one: their sends added up per policy and archetype, shares recomputed
    (a table without archetypes counts as every shopper's)."""
    mixes = [m if "archetype" in m else m.assign(archetype=EVERYONE) for m in mixes]
    keys = ["policy", "archetype", "part", "value"]
    return with_shares(pd.concat(mixes, ignore_index=True).groupby(keys, sort=False, as_index=False)["sends"].sum())


def with_shares(mix: pd.DataFrame) -> pd.DataFrame:
    """``share``: each row's sends over its policy's sends to that archetype in that part (0 where nothing was sent)."""
    total = mix.groupby(["policy", "archetype", "part"], sort=False)["sends"].transform("sum")
    return mix.assign(share=(mix["sends"] / total.where(total > 0)).fillna(0.0))

"""How often a perfect fit passes the held-out half of the Hillstrom test: the old check and the held-out test.

A simulator fitted to one half of the customers can at best reproduce that half. This script takes
the real fit half's own values as that perfect fit and, over many random halvings of the 64,000
customers (drawn with seeds 0, 1, ...; the project's split ``calibration.split_seed`` reported on
its own), measures how often it passes

* the old check: every one of the 15 arm-level rates and lifts inside the held-out half's 95%
  interval (and how often each value is);
* the held-out test the replay's verdict uses (:mod:`experiments.calibration.holdout`): the joint
  chi-square test of the 15 differences, with the fit half's sampling covariance as the
  perfect simulator's; by construction it passes 95% of halvings.

Each pass rate comes with its exact (Clopper-Pearson) binomial 95% interval over the halvings.

Run on demand: ``python -m studies.holdout_check [--splits 1000] [--split-seed 2008]``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
from scipy import stats

from experiments.calibration import hillstrom, holdout
from sim.customers import CustomerTable


@dataclass(frozen=True)
class Halving:
    """The perfect simulator on one random halving: per value, inside the held-out interval or not; and the held-out test."""

    keys: list[tuple[str, str]]
    inside: np.ndarray
    test: holdout.HoldoutTest


def check(table: CustomerTable, split_seed: int) -> Halving:
    """Both criteria for the fit half's real values against the held-out half's, on the halving of ``split_seed``."""
    halves = hillstrom.halves(table, split_seed)
    fit, held = (halves[h].frame for h in hillstrom.HALVES)
    fit_values, held_values = (hillstrom.effects(f).set_index(["arm", "metric"]) for f in (fit, held))
    keys = list(held_values.index)
    fit_values = fit_values.reindex(keys)
    inside = ((fit_values["value"] >= held_values["low"]) & (fit_values["value"] <= held_values["high"])).to_numpy()
    test = holdout.holdout_test(fit_values["value"], hillstrom.covariance(fit), held_values["value"], hillstrom.covariance(held))
    return Halving(keys, inside, test)


def pass_rate(passed: np.ndarray) -> tuple[float, float, float]:
    """The share of ``True`` with its exact (Clopper-Pearson) binomial 95% interval."""
    k, n = int(np.sum(passed)), int(np.size(passed))
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return k / n, float(ci.low), float(ci.high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=1000)
    parser.add_argument("--split-seed", type=int, default=2008, help="the project's split (calibration.split_seed), reported on its own")
    args = parser.parse_args()
    if args.splits < 1:
        parser.error(f"--splits={args.splits} is not allowed; it must be at least 1")
    table = hillstrom.load()
    ours = check(table, args.split_seed)
    runs = [check(table, seed) for seed in range(args.splits)]
    hits = np.array([r.inside for r in runs])
    statistic = np.array([r.test.statistic for r in runs])
    df = {r.test.df for r in runs}
    keys = ours.keys
    print(f"holdout_check: {len(table):,} Hillstrom customers, {args.splits} random halvings (seeds 0-{args.splits - 1}); "
          f"a perfect fit = the fit half's real values\n")
    print("| criterion | perfect simulator passes [95% CI] |\n|---|---:|")
    old, new = pass_rate(hits.all(axis=1)), pass_rate([r.test.passed for r in runs])
    print(f"| old: all {len(keys)} values inside the held-out 95% intervals | {old[0]:.1%} [{old[1]:.1%}, {old[2]:.1%}] |")
    print(f"| held-out test: joint chi-square at the 5% level | {new[0]:.1%} [{new[1]:.1%}, {new[2]:.1%}] |\n")
    print(f"mean number of the {len(keys)} outside: {(~hits).sum(axis=1).mean():.2f}")
    print(f"chi-square statistic: degrees of freedom {sorted(df)}, mean {statistic.mean():.2f} (a chi-square's mean is its {min(df)} df), "
          f"Kolmogorov-Smirnov p-value against chi-square({min(df)}) {stats.kstest(statistic, stats.chi2(min(df)).cdf).pvalue:.2f}")
    print(f"split {args.split_seed}: {ours.test}\n")
    print(f"| arm | metric | share of halvings inside | split {args.split_seed} |\n|---|---|---:|---|")
    for (arm, metric), rate, hit in zip(keys, hits.mean(axis=0), ours.inside):
        print(f"| {arm} | {metric} | {rate:.1%} | {'inside' if hit else 'outside'} |")


if __name__ == "__main__":
    main()

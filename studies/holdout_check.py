"""How often a perfect fit passes the held-out half of the Hillstrom test: the chance of issue 9's check.

The replay's acceptance asks every simulated arm-level rate and lift (15 values) to lie inside the
real held-out half's 95% interval. A simulator fitted to the other half can at best reproduce that
half. This script takes the real fit half's own values as that perfect fit and, over many random
halvings of the 64,000 customers (the split of ``calibration.split_seed``, drawn again with seeds
0, 1, ...), counts how often all 15 lie inside the held-out intervals, and how often each does:
the pass rate of the check for a simulator with no error at all, from sampling alone.

Run on demand: ``python -m studies.holdout_check [--splits 500] [--split-seed 2008]``.
"""

from __future__ import annotations

import argparse

import numpy as np

from experiments.calibration import hillstrom


def inside(table, split_seed: int) -> tuple[list[tuple[str, str]], np.ndarray]:
    """The (arm, metric) keys and, for each, whether the fit half's value lies in the held-out half's interval."""
    halves = hillstrom.halves(table, split_seed)
    fit, held = (hillstrom.effects(halves[h].frame) for h in hillstrom.HALVES)
    keys = list(zip(held.arm, held.metric))
    return keys, ((fit.value >= held.low) & (fit.value <= held.high)).to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=500)
    parser.add_argument("--split-seed", type=int, default=2008, help="the project's split (calibration.split_seed), reported on its own")
    args = parser.parse_args()
    table = hillstrom.load()
    keys, ours = inside(table, args.split_seed)
    hits = np.array([inside(table, seed)[1] for seed in range(args.splits)])
    print(f"holdout_check: {len(table):,} Hillstrom customers, {args.splits} random halvings; a perfect fit = the fit half's real values")
    print(f"share of halvings in which all {len(keys)} values lie inside the held-out 95% intervals: {hits.all(axis=1).mean():.1%}")
    print(f"mean number of the {len(keys)} outside: {(~hits).sum(axis=1).mean():.2f}\n")
    print(f"| arm | metric | share of halvings inside | split {args.split_seed} |\n|---|---|---:|---|")
    for (arm, metric), rate, hit in zip(keys, hits.mean(axis=0), ours):
        print(f"| {arm} | {metric} | {rate:.1%} | {'inside' if hit else 'outside'} |")


if __name__ == "__main__":
    main()

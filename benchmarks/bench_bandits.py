"""Decisions plus updates per second of each contextual bandit, batched, at the default features and arms.

Run on demand: ``python benchmarks/bench_bandits.py [--shoppers 10000] [--repeats 3]``.

For each learner, a batch of real CRM observations (a default market's shoppers on day 0, all
256 arms, the market's own masks) is decided in one ``act`` call, then learned from in one
``update`` call with random rewards; the rate is shoppers / (decide + update seconds), best of
``--repeats``. Vowpal Wabbit (``vw``, the [vw] extra) parses one text example per shopper, so it
runs on ``--vw-shoppers`` shoppers only. Target: at least 200,000 per second on one core for ours.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from policies.base import DecisionContext, Feedback
from policies.registry import LEARNERS, make_policy
from sim import MarketModel
from sim.config import MarketConfig, PopulationConfig


def measure(name: str, obs: np.ndarray, mask, repeats: int) -> tuple[float, float]:
    """Best (decide seconds, update seconds) over ``repeats`` fresh batches."""
    best = (np.inf, np.inf)
    policy = make_policy(name, None, None)
    for k in range(repeats):
        ctx = DecisionContext(day=k, weekday=k % 7, rng=np.random.default_rng(k), rows=np.arange(len(obs)))
        start = time.perf_counter()
        decision = policy.act(obs, mask, ctx)
        decided = time.perf_counter()
        reward = np.random.default_rng(k).normal(0, 20, len(obs))
        policy.update(Feedback(np.full(len(obs), k), obs, decision.actions, decision.propensity, reward))
        best = min(best, (decided - start, time.perf_counter() - decided), key=sum)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shoppers", type=int, default=10_000)
    parser.add_argument("--vw-shoppers", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    market = MarketModel(MarketConfig(population=PopulationConfig(size=args.shoppers)), seed=0)
    rows = np.flatnonzero(market.present)
    obs, mask = market.observe(rows), market.action_mask().subset(rows)
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"bench_bandits: {os.cpu_count()} cores (OMP_NUM_THREADS={threads}), python {platform.python_version()}, numpy {np.__version__}, "
          f"{len(rows):,} shoppers (vw: {args.vw_shoppers}), 256 arms, best of {args.repeats}")
    print("\n| learner | shoppers | decide s | update s | decisions+updates / s | target 200k/s |\n|---|---:|---:|---:|---:|---|")
    for name in LEARNERS:
        n = args.vw_shoppers if name == "vw" else len(rows)
        decide, update = measure(name, obs[:n], mask.subset(slice(0, n)), args.repeats)
        rate = n / (decide + update)
        verdict = "n/a (reference engine)" if name == "vw" else ("PASS" if rate >= 200_000 else "FAIL")
        print(f"| {name} | {n:,} | {decide:.3f} | {update:.3f} | {rate:,.0f} | {verdict} |")


if __name__ == "__main__":
    main()

"""Decisions plus updates per second of each contextual bandit, batched, at the default features and arms.

Run on demand: ``python benchmarks/bench_bandits.py [--shoppers 10000] [--repeats 7] [--value-horizon 365]``.

For each learner, a batch of real CRM observations (a default market's shoppers on day 0, all
256 arms, the market's own masks) is decided in one ``act`` call, then learned from in one
``update`` call with random rewards; the rate is shoppers / (decide + update seconds), best of
``--repeats``. Vowpal Wabbit (``vw``, the [vw] extra) parses one text example per shopper, so it
runs on ``--vw-shoppers`` shoppers only. Target: at least 200,000 per second on one core for ours.
With ``--value-horizon H`` the learners price a decision's later cost (:mod:`bandits.long_term`): the
update also fits the record's value and the lapse hazard from the record after each window (here the
batch's own observations, one shopper in a hundred leaving the list).

"One core": BLAS runs single-threaded (set before numpy loads), and the verdict uses the
process's CPU seconds, which other jobs sharing the machine disturb far less than wall time;
both are printed.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core: before numpy loads its BLAS

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from policies.base import DecisionContext, Feedback  # noqa: E402
from policies.registry import LEARNERS, make_policy  # noqa: E402
from sim import MarketModel  # noqa: E402
from sim.config import MarketConfig, PopulationConfig  # noqa: E402


def measure(name: str, obs: np.ndarray, mask, repeats: int, params: dict | None = None) -> tuple[float, float, float]:
    """Best (decide CPU seconds, update CPU seconds, wall seconds of both) over ``repeats`` fresh batches."""
    best = (np.inf, np.inf, np.inf)
    policy = make_policy(name, None, params)
    for k in range(repeats):
        ctx = DecisionContext(day=k, weekday=k % 7, rng=np.random.default_rng(k), rows=np.arange(len(obs)))
        wall, start = time.perf_counter(), time.process_time()
        decision = policy.act(obs, mask, ctx)
        decided = time.process_time()
        noise = np.random.default_rng(k)
        reward, opened = noise.normal(0, 20, len(obs)), (decision.actions > 0) & (noise.random(len(obs)) < 0.2)
        policy.update(Feedback(np.full(len(obs), k), obs, decision.actions, decision.propensity, reward, opened, after=obs,
                               ended=noise.random(len(obs)) < 0.01))
        run = (decided - start, time.process_time() - decided, time.perf_counter() - wall)
        best = min(best, run, key=lambda r: r[0] + r[1])
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shoppers", type=int, default=10_000)
    parser.add_argument("--vw-shoppers", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--value-horizon", type=float, default=0.0, help="the learners' value_horizon (0 = myopic, their default)")
    args = parser.parse_args()
    market = MarketModel(MarketConfig(population=PopulationConfig(size=args.shoppers)), seed=0)
    rows = np.flatnonzero(market.present)
    obs, mask = market.observe(rows), market.action_mask().subset(rows)
    print(f"bench_bandits: {os.cpu_count()} cores, BLAS on 1 thread, load average {os.getloadavg()[0]:.1f}, python {platform.python_version()}, "
          f"numpy {np.__version__}, {len(rows):,} shoppers (vw: {args.vw_shoppers}), 256 arms, best of {args.repeats}, "
          f"value_horizon {args.value_horizon:g}")
    print("\n| learner | shoppers | decide CPU s | update CPU s | wall s | decisions+updates / CPU s | target 200k/s |\n"
          "|---|---:|---:|---:|---:|---:|---|")
    for name in LEARNERS:
        n = args.vw_shoppers if name == "vw" else len(rows)
        params = {"value_horizon": args.value_horizon} if args.value_horizon and name != "vw" else None
        decide, update, wall = measure(name, obs[:n], mask.subset(slice(0, n)), args.repeats, params)
        rate = n / (decide + update)
        verdict = "n/a (reference engine)" if name == "vw" else ("PASS" if rate >= 200_000 else "FAIL")
        print(f"| {name} | {n:,} | {decide:.3f} | {update:.3f} | {wall:.3f} | {rate:,.0f} | {verdict} |")


if __name__ == "__main__":
    main()

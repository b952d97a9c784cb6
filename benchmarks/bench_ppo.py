"""Benchmark of PPO: environment steps per second while training, and decision speed of the trained policy.

What it measures (one table, conditions in its header)
    * ``market``: the training market alone (:class:`sim.vec_env.MarketVecEnv`, every shopper a
      parallel env) stepped with no contact and its action masks read: the ceiling;
    * ``training``: :func:`policies.ppo.training.train` for ``--episodes`` episodes of the market (rollout
      collection with the no-contact twin, then the PPO updates), as ``training.json`` reports it:
      env steps (shopper-days) per wall-clock second, updates included; the evaluations during
      training are switched off except the two of 100 shoppers at the start and the end;
    * ``decide``: :meth:`policies.ppo.inference.PPOPolicy.act` on one day of a market of ``--decide-sizes``
      shoppers (masked probabilities and a draw for every shopper), the cost of PPO inside a
      comparison, in decisions per second and seconds per simulated day.

Run (from the repository root; not a test, run on demand)::

    python benchmarks/bench_ppo.py [--shoppers 500] [--episodes 1] [--decide-sizes 2000 50000] [--threads 1] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch as th

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.train_ppo import train  # noqa: E402
from policies.base import DecisionContext  # noqa: E402
from policies.ppo.config import PPOConfig  # noqa: E402
from policies.ppo.inference import PPOPolicy  # noqa: E402
from policies.ppo.training import resized  # noqa: E402
from sim.config import GuardrailConfig, MarketConfig  # noqa: E402
from sim.market import MarketModel  # noqa: E402
from sim.vec_env import MarketVecEnv  # noqa: E402


def market_rate(market: MarketConfig, days: int) -> float:
    env = MarketVecEnv(market, GuardrailConfig(), seed=1000)
    env.reset()
    start = time.perf_counter()
    for _ in range(days):
        env.action_masks()
        env.step(np.zeros(env.num_envs, dtype=np.int64))
    return env.num_envs * days / (time.perf_counter() - start)


def decide_rate(model: Path, size: int) -> tuple[float, float]:
    """(decisions per second, seconds per day) of PPOPolicy.act on day 0 of a market of ``size`` shoppers."""
    market = MarketModel(resized(MarketConfig(), size), seed=0)
    rows = np.flatnonzero(market.present)
    obs, mask = market.observe(rows), market.action_mask().subset(rows)
    policy = PPOPolicy.from_file(model)
    ctx = DecisionContext(day=0, weekday=0, rng=np.random.default_rng(0), rows=rows)
    policy.act(obs, mask, ctx)  # warm-up
    start = time.perf_counter()
    repeats = 3
    for _ in range(repeats):
        policy.act(obs, mask, ctx)
    seconds = (time.perf_counter() - start) / repeats
    return rows.size / seconds, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shoppers", type=int, default=PPOConfig().train_shoppers, help="train_shoppers: shoppers of the training market (default: ppo.yaml's)")
    ap.add_argument("--episodes", type=int, default=1, help="training episodes of 90 days")
    ap.add_argument("--decide-sizes", type=int, nargs="+", default=[2000, 50_000])
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--out", type=Path, default=None, help="also write bench_ppo.md here")
    args = ap.parse_args()
    th.set_num_threads(args.threads)
    market = resized(MarketConfig(), args.shoppers)
    rows = []
    rate = market_rate(market, market.horizon_days)
    rows.append(("market", f"{args.shoppers:,} shoppers", f"{rate:,.0f} env steps/s", "no contact, masks read"))
    with tempfile.TemporaryDirectory() as tmp:
        n_rows = MarketModel(market, seed=1000).n_rows
        config = PPOConfig(train_shoppers=args.shoppers, total_timesteps=args.episodes * market.horizon_days * n_rows, eval_shoppers=100,
                           eval_every=10**10, checkpoint_every=10**10, threads=args.threads)
        train(config, MarketConfig(), GuardrailConfig(), Path(tmp))
        summary = json.loads((Path(tmp) / "training.json").read_text())
        rows.append(("training", f"{args.shoppers:,} shoppers x {args.episodes} x 90 days",
                     f"{summary['env_steps_per_second']:,.0f} env steps/s",
                     f"{summary['timesteps']:,} steps in {summary['seconds']:.0f} s; batch {config.batch_size}, {config.n_epochs} epochs"))
        for size in args.decide_sizes:
            per_second, per_day = decide_rate(Path(tmp) / "final_model.zip", size)
            rows.append(("decide", f"{size:,} shoppers", f"{per_second:,.0f} decisions/s", f"{per_day:.3f} s per simulated day"))
    header = (f"PPO benchmark: default market, torch {th.__version__} on {args.threads} thread(s), Python {platform.python_version()}, "
              f"{platform.machine()}")
    table = "| what | size | speed | notes |\n|---|---|---:|---|\n" + "\n".join(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows)
    print(header + "\n\n" + table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_ppo.md").write_text(header + "\n\n" + table + "\n")


if __name__ == "__main__":
    main()

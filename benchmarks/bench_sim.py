"""Benchmark of the simulated market: vectorised vs per-agent (Mesa) speed, and memory.

What it measures
    * the vectorised market (``MarketModel(per_agent=False)``) at N = 10k, 100k and 1M shoppers
      for ``--days`` days (default 90), under a random policy that contacts shoppers: each day
      ~5% of shoppers get a uniformly random allowed send (random channel among those the
      action mask allows, random offer and slot); the policy's cost counts in the run time;
    * the same market run the per-agent Mesa way (``per_agent=True``, ``agents.shuffle_do``) at
      N = 10k for ``--agent-days`` days (default 10: the per-agent way is slow). Rates are per
      shopper-day, so rows with different day counts compare directly.

    Each configuration runs in a fresh subprocess, so its peak memory (``ru_maxrss``) is its own.
    Per row: setup seconds (``MarketModel`` construction), run seconds, total, shopper-days per
    second (rows x days / run seconds; rows include the newcomers allocated up front) and peak
    memory. Then the speed ratio vectorised / per-agent at 10k and PASS/FAIL for the targets.

Targets
    * vectorised / per-agent speed at 10k (shopper-days per second) >= 50x;
    * 1M shoppers x 90 days, setup included, < 60 s;
    * 1M shoppers peak memory < 4 GiB.

Run (from the repository root; not a test, run on demand)::

    python benchmarks/bench_sim.py [--sizes 10000 100000 1000000] [--days 90] [--agent-days 10]
                                   [--seed 0] [--out DIR]

``--out DIR`` also writes the table to ``DIR/bench_sim.csv`` and ``DIR/bench_sim.md``. The
Markdown table is printed to stdout as well, ready to paste into the README.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.catalogue import N_OFFERS, N_SLOTS, encode  # noqa: E402
from sim.config import MarketConfig, PopulationConfig  # noqa: E402
from sim.market import MarketModel  # noqa: E402

CONTACT_SHARE = 0.05
AGENT_N = 10_000
BIG_N = 1_000_000
TARGET_RATIO, TARGET_TOTAL_S, TARGET_MEM_GIB = 50.0, 60.0, 4.0
COLUMNS = ("mode", "N", "rows", "days", "setup_s", "run_s", "total_s", "shopper_days_per_s", "peak_mem_gib")


def random_policy(market: MarketModel, rng: np.random.Generator, share: float = CONTACT_SHARE) -> np.ndarray:
    """(n_rows,) actions: for ~``share`` of shoppers, a uniformly random allowed send; else 0."""
    actions = np.zeros(market.n_rows, dtype=np.int64)
    picked = np.flatnonzero(rng.random(market.n_rows) < share)
    ok = market.action_mask().channel_ok[picked]  # (k, H)
    keys = np.where(ok, rng.random(ok.shape), -1.0)  # a random allowed channel wins the argmax
    channel = keys.argmax(axis=1)
    offer = rng.integers(0, N_OFFERS, picked.size)
    slot = rng.integers(0, N_SLOTS, picked.size)
    actions[picked] = np.where(ok.any(axis=1), encode(offer, channel, slot), 0)
    return actions


def run_one(mode: str, n: int, days: int, horizon: int, seed: int) -> dict[str, float | int | str]:
    """One configuration in this process: build the market, run ``days`` days, time and measure."""
    config = MarketConfig(population=PopulationConfig(size=n), horizon_days=horizon)
    t0 = time.perf_counter()
    market = MarketModel(config, seed=seed, per_agent=(mode == "per-agent"))
    t1 = time.perf_counter()
    rng = np.random.default_rng(seed)
    for _ in range(days):
        market.step(random_policy(market, rng))
    t2 = time.perf_counter()
    rows = market.n_rows
    return {
        "mode": mode, "N": n, "rows": rows, "days": days,
        "setup_s": t1 - t0, "run_s": t2 - t1, "total_s": t2 - t0,
        "shopper_days_per_s": rows * days / (t2 - t1),
        "peak_mem_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,  # KiB on Linux
    }


def run_in_subprocess(mode: str, n: int, days: int, horizon: int, seed: int) -> dict[str, float | int | str]:
    """Run one configuration in a fresh interpreter, so peak memory is measured in isolation."""
    cmd = [sys.executable, __file__, "--child", mode, str(n), str(days), str(horizon), str(seed)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} N={n} failed (rc={done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def fmt(row: dict[str, float | int | str]) -> list[str]:
    return [
        str(row["mode"]), f"{row['N']:,}", f"{row['rows']:,}", str(row["days"]),
        f"{row['setup_s']:.2f}", f"{row['run_s']:.2f}", f"{row['total_s']:.2f}",
        f"{row['shopper_days_per_s']:,.0f}", f"{row['peak_mem_gib']:.2f}",
    ]


def markdown(rows: list[dict[str, float | int | str]]) -> str:
    head = ["mode", "N", "rows", "days", "setup (s)", "run (s)", "total (s)", "shopper-days/s", "peak mem (GiB)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    lines += ["| " + " | ".join(fmt(r)) + " |" for r in rows]
    return "\n".join(lines)


def verdicts(rows: list[dict[str, float | int | str]], days: int) -> list[str]:
    """The 10k speed ratio and a PASS/FAIL (or SKIP) line per target."""
    find = lambda mode, n: next((r for r in rows if r["mode"] == mode and r["N"] == n), None)  # noqa: E731
    vec, agent, big = find("vectorised", AGENT_N), find("per-agent", AGENT_N), find("vectorised", BIG_N)
    out = []
    if vec and agent:
        ratio = float(vec["shopper_days_per_s"]) / float(agent["shopper_days_per_s"])
        out.append(f"speed ratio vectorised / per-agent at N={AGENT_N:,}: {ratio:,.0f}x (shopper-days per second)")
        out.append(f"{'PASS' if ratio >= TARGET_RATIO else 'FAIL'}: ratio {ratio:,.0f}x >= {TARGET_RATIO:.0f}x")
    else:
        out.append(f"SKIP: ratio target needs N={AGENT_N} in --sizes")
    if big and days == 90:
        total, mem = float(big["total_s"]), float(big["peak_mem_gib"])
        out.append(f"{'PASS' if total < TARGET_TOTAL_S else 'FAIL'}: 1M x 90 days total {total:.1f} s < {TARGET_TOTAL_S:.0f} s")
        out.append(f"{'PASS' if mem < TARGET_MEM_GIB else 'FAIL'}: 1M peak memory {mem:.2f} GiB < {TARGET_MEM_GIB:.0f} GiB")
    else:
        out.append(f"SKIP: 1M targets need N={BIG_N} in --sizes and --days 90")
    return out


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        mode, n, days, horizon, seed = argv[1], *map(int, argv[2:6])
        print(json.dumps(run_one(mode, n, days, horizon, seed)))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--days", type=int, default=90, help="days of the vectorised runs (and the market horizon)")
    ap.add_argument("--agent-days", type=int, default=10, help="days of the per-agent run at N=10k")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="also write bench_sim.csv and bench_sim.md here")
    args = ap.parse_args(argv)

    header = (
        f"bench_sim: {os.cpu_count()} cores ({platform.machine()}), python {platform.python_version()}, "
        f"numpy {np.__version__}, days {args.days} (per-agent: {args.agent_days}), seed {args.seed}, "
        f"policy: random allowed send to ~{CONTACT_SHARE:.0%} of shoppers per day"
    )
    print(header, flush=True)
    plan = [("vectorised", n, args.days) for n in args.sizes]
    if AGENT_N in args.sizes:
        plan.append(("per-agent", AGENT_N, args.agent_days))
    rows = []
    for mode, n, days in plan:
        print(f"  running {mode} N={n:,} x {days} days ...", file=sys.stderr, flush=True)
        rows.append(run_in_subprocess(mode, n, days, args.days, args.seed))
    note = (
        f"Per-agent row: {args.agent_days} days of the same {args.days}-day market (the per-agent way is slow); "
        "shopper-days/s = rows x days / run s, comparable across rows. Each row ran in a fresh process."
    )
    table = markdown(rows)
    lines = verdicts(rows, args.days)
    print("\n" + table + "\n\n" + note + "\n")
    print("\n".join(lines))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        with open(args.out / "bench_sim.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        (args.out / "bench_sim.md").write_text(f"{header}\n\n{table}\n\n{note}\n\n" + "\n".join(f"- {v}" for v in lines) + "\n")


if __name__ == "__main__":
    main()

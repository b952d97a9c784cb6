"""Does pricing a message's later cost let a bandit beat the weekly e-mail, and does a pilot period help?

Three measurements of the value horizon (``value_horizon``, :mod:`bandits.long_term`), each against
``blast`` (the weekly information e-mail to everyone) and no contact on the same market seeds
(common random numbers), per seed and as a mean with the paired 95% interval:

* **cold**: the learners start from nothing on each seed of the long-run market, with value horizons
  0 (myopic), 30, 90 and 365 days;
* **pilot**: a learner first learns on pilot seeds (``--pilot-seeds``, other shoppers of the same
  market, one after the other, each run resuming from the last one's state, as a shop would carry a
  pilot's model into production), then runs on the evaluation seeds from that state, still learning;
* **default**: the same horizons on the default market, where the 7-day reward already works.

Markets are resized (``--shoppers``, ``--default-shoppers``) so the study runs in minutes; the full
presets are in ``offerlab experiment=long_run`` and the results page (docs/results/long_term.md).

Run on demand: ``python -m studies.long_term_value [--shoppers 4000] [--seeds 0 1 2 3]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir

from experiments import schema
from experiments.cli import CONFIG_DIR
from experiments.runner import run_policy
from experiments.stats import mean_ci, paired_diff_ci
from sim.config import GuardrailConfig, MarketConfig

LEARNERS = ("linucb", "thompson")
HORIZONS = (0, 30, 90, 365)


def market(name: str, shoppers: int = 0) -> tuple[MarketConfig, GuardrailConfig]:
    """The preset ``market=<name>`` with ``shoppers`` shoppers (0: the preset's own number), and the default guardrails."""
    schema.register()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = schema.to_config(compose(config_name="config", overrides=[f"market={name}"]))
    if not shoppers:
        return cfg.market, cfg.guardrails
    return dataclasses.replace(cfg.market, population=dataclasses.replace(cfg.market.population, size=shoppers)), cfg.guardrails


def incremental(config: MarketConfig, guardrails: GuardrailConfig, seeds: list[int], name: str, params: dict | None = None,
                holdout: dict[int, float] | None = None) -> np.ndarray:
    """(seeds,) incremental profit per shopper of ``name`` against no contact on each seed."""
    out = []
    for seed in seeds:
        run = run_policy(name, seed, config, guardrails, params=params)
        base = holdout[seed] if holdout is not None else run_policy("no_contact", seed, config, guardrails).profit_by_row.sum()
        out.append((run.profit_by_row.sum() - base) / run.shoppers)
    return np.array(out)


def line(label: str, values: np.ndarray, blast: np.ndarray) -> str:
    """A table row: per seed, mean [95% CI], and the paired difference to blast."""
    per_seed = " ".join(f"{v:+.2f}" for v in values)
    return f"| {label} | {per_seed} | {mean_ci(values):+.2f} | {paired_diff_ci(values, blast):+.2f} |"


def table(title: str, rows: list[str], seeds: list[int]) -> None:
    print(f"\n### {title}\n\n| policy | per seed ({', '.join(map(str, seeds))}) | mean [95% CI] | vs blast, paired [95% CI] |\n|---|---|---:|---:|")
    print("\n".join(rows), flush=True)


def horizons(name: str, shoppers: int, seeds: list[int], horizon_list: tuple[int, ...]) -> None:
    config, guard = market(name, shoppers)
    holdout = {s: run_policy("no_contact", s, config, guard).profit_by_row.sum() for s in seeds}
    blast = incremental(config, guard, seeds, "blast", holdout=holdout)
    rows = [line("blast", blast, blast)]
    for learner in LEARNERS:
        for h in horizon_list:
            rows.append(line(f"{learner}, value_horizon {h}", incremental(config, guard, seeds, learner, {"value_horizon": h}, holdout), blast))
    table(f"{name}, {shoppers:,} shoppers, learners from nothing", rows, seeds)


def pilot(shoppers: int, seeds: list[int], pilot_seeds: list[int], horizon_list: tuple[int, ...]) -> None:
    config, guard = market("long_run", shoppers)
    holdout = {s: run_policy("no_contact", s, config, guard).profit_by_row.sum() for s in seeds}
    blast = incremental(config, guard, seeds, "blast", holdout=holdout)
    rows = [line("blast", blast, blast)]
    with tempfile.TemporaryDirectory() as tmp:
        for learner in LEARNERS:
            for h in horizon_list:
                state: Path | None = None
                for seed in pilot_seeds:
                    folder = Path(tmp) / f"{learner}_{h}"
                    run_policy(learner, seed, config, guard, params={"state": str(state)} if state else {"value_horizon": h}, save_dir=folder)
                    state = folder / f"{learner}_seed{seed}.npz"
                values = incremental(config, guard, seeds, learner, {"state": str(state)}, holdout)
                rows.append(line(f"{learner}, value_horizon {h}, after a pilot on seeds {pilot_seeds}", values, blast))
    table(f"long_run, {shoppers:,} shoppers, learners after a pilot", rows, seeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shoppers", type=int, default=4000)
    parser.add_argument("--default-shoppers", type=int, default=10000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--pilot-seeds", type=int, nargs="+", default=[1000, 1001, 1002])
    args = parser.parse_args()
    horizons("long_run", args.shoppers, args.seeds, HORIZONS)
    pilot(args.shoppers, args.seeds, args.pilot_seeds, (0, 365))
    horizons("default", args.default_shoppers, args.seeds, (0, 90, 365))


if __name__ == "__main__":
    main()

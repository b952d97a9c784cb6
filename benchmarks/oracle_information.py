"""What knowing the active hours is worth: the oracle against oracles that must guess the send slot.

Run on demand: ``python benchmarks/oracle_information.py [--shoppers 10000] [--seeds 0 1 2]``.

The oracle (:mod:`policies.oracle`) knows every latent trait and sends in the shopper's active
slot. Its twins here know the same traits but choose the slot as a learner would have to:

- *session slot*: the slot with the most site sessions in the CRM's log (``sessions_*`` of
  :mod:`sim.features`; midday when there are none, e.g. without data consent);
- *fixed slot*: one slot for everyone, as a shop without send-time optimisation does.

The table is incremental profit per shopper over the horizon and over its last 30 days (the
window of the bandits' "% of oracle" criterion), mean over the seeds with a 95% t interval
(common random numbers: the same shoppers for every row of a seed), and the last-30-day share of
the oracle's. No learner that reads only the CRM can beat the *session slot* row by choosing the
slot better; it is an upper bound on what the observation allows, given perfect knowledge of
everything else.
"""

from __future__ import annotations

import argparse

import numpy as np

from experiments.metrics import summary_table
from experiments.runner import run_policy
from experiments.stats import mean_ci
from policies.baselines import Blast
from policies.oracle import Oracle
from sim import MarketModel
from sim.catalogue import SLOTS
from sim.config import GuardrailConfig, MarketConfig, PopulationConfig
from sim.features import index

_SESSIONS = [index(f"sessions_{s}") for s in SLOTS]


class SessionSlotOracle(Oracle):
    def send_slot(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        logged = obs[:, _SESSIONS]
        return np.where(logged.sum(axis=1) > 0, logged.argmax(axis=1), SLOTS.index("midday"))


class FixedSlotOracle(Oracle):
    def __init__(self, market: MarketModel, slot: int):
        super().__init__(market)
        self.slot = slot

    def send_slot(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return np.full(len(rows), self.slot)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shoppers", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    config = MarketConfig(population=PopulationConfig(size=args.shoppers))
    rows = [("oracle (active slot)", Oracle), ("oracle, session slot", SessionSlotOracle)]
    rows += [(f"oracle, always {s}", lambda m, k=k: FixedSlotOracle(m, k)) for k, s in enumerate(SLOTS)]
    rows += [("blast", lambda m: Blast())]
    runs = [run_policy("no_contact", seed, config, GuardrailConfig()) for seed in args.seeds]
    runs += [run_policy(name, seed, config, GuardrailConfig(), factory=make) for seed in args.seeds for name, make in rows]
    summary = summary_table(runs).sort_values("seed")
    by_policy = {name: summary[summary.policy == name] for name, _ in rows}
    whole = {name: t.incremental_profit_per_shopper.to_numpy() for name, t in by_policy.items()}
    last = {name: t.incremental_profit_last_30d_per_shopper.to_numpy() for name, t in by_policy.items()}
    oracle_last = last["oracle (active slot)"]
    print(f"oracle_information: {args.shoppers:,} shoppers x {config.horizon_days} days, seeds {args.seeds}; "
          f"incremental profit per shopper, mean [95% CI]\n")
    print("| policy | whole horizon | last 30 days | last 30 days, % of oracle |\n|---|---:|---:|---:|")
    for name, _ in rows:
        w, t = mean_ci(whole[name]), mean_ci(last[name])
        share = mean_ci(last[name] / oracle_last * 100)
        print(f"| {name} | {w:.2f} | {t:.2f} | {share.mean:.0f}% [{share.low:.0f}, {share.high:.0f}] |")


if __name__ == "__main__":
    main()

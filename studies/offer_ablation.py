"""What learning the offer is worth: ``thompson`` against itself with the offer taken out of its hands.

Run on demand: ``python -m studies.offer_ablation [--shoppers 50000] [--seeds 0 1 2 3 4] [--offer info]``
(about 9 minutes at the default size on 2 cores).

``thompson`` (:mod:`bandits.open_value`) learns whom to contact, on which channel, in which
slot and with which of the 17 offers. Its twin here learns the same models from the same kind
of feedback, but may send only ``--offer``: what is left to learn is whom, where and when. If
the twin earns more, learning the offer costs the learner more (in exploration and in wrong
choices) than it finds: the offer is where its gap to the oracle lies, and
``studies/diagnose_bandit.py`` shows the same on one trained model. The twin is a
diagnostic, not a policy: one offer for everyone is a rule a person chose.

The table is incremental profit per shopper over the horizon and its last 30 days, mean over
the seeds with a 95% t interval, and the paired difference (common random numbers: the same
shoppers for every row of a seed).
"""

from __future__ import annotations

import argparse

import numpy as np

from bandits.features import ArmFeatures
from bandits.open_value import OpenValueThompson
from experiments.metrics import summary_table
from experiments.runner import run_policy
from experiments.stats import mean_ci, paired_diff_ci
from sim.catalogue import OFFER_NAMES
from sim.config import GuardrailConfig, MarketConfig, PopulationConfig


class OneOfferOpenValue(OpenValueThompson):
    """``thompson`` whose value model rates every offer but one at minus infinity, so it never sends them."""

    def __init__(self, offer: int, **params: float):
        super().__init__(**params)
        self.offer = offer

    def _values(self, rest: np.ndarray, feats: ArmFeatures) -> np.ndarray:
        value = super()._values(rest, feats)
        others = np.arange(value.shape[1]) != self.offer
        return np.where(others, -np.inf, value).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shoppers", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--offer", default="info", choices=OFFER_NAMES)
    args = parser.parse_args()
    config = MarketConfig(population=PopulationConfig(size=args.shoppers))
    twin = f"thompson, {args.offer} only"
    offer = OFFER_NAMES.index(args.offer)
    runs = [run_policy("no_contact", seed, config, GuardrailConfig()) for seed in args.seeds]
    runs += [run_policy("thompson", seed, config, GuardrailConfig()) for seed in args.seeds]
    runs += [run_policy(twin, seed, config, GuardrailConfig(), factory=lambda m: OneOfferOpenValue(offer)) for seed in args.seeds]
    summary = summary_table(runs).sort_values("seed")
    column = {"whole horizon": "incremental_profit_per_shopper", "last 30 days": "incremental_profit_last_30d_per_shopper"}
    values = {(name, span): summary[summary.policy == name][col].to_numpy() for name in ("thompson", twin) for span, col in column.items()}
    print(f"offer_ablation: {args.shoppers:,} shoppers x {config.horizon_days} days, seeds {args.seeds}; "
          f"incremental profit per shopper, mean [95% CI]\n")
    print("| policy | whole horizon | last 30 days |\n|---|---:|---:|")
    for name in ("thompson", twin):
        print(f"| {name} | " + " | ".join(f"{mean_ci(values[name, span]):.2f}" for span in column) + " |")
    print(f"| {twin} - thompson, paired | "
          + " | ".join(f"{paired_diff_ci(values[twin, span], values['thompson', span]):+.2f}" for span in column) + " |")
    print(f"\nper seed, whole horizon: thompson {np.round(values['thompson', 'whole horizon'], 2).tolist()}, "
          f"{args.offer} only {np.round(values[twin, 'whole horizon'], 2).tolist()}")


if __name__ == "__main__":
    main()

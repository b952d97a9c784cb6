"""What knowing the active hours is worth: the oracle against oracles that must guess the send slot.

Run on demand: ``python -m studies.oracle_information [--shoppers 10000] [--seeds 0 1 2]``.

The oracle (:mod:`policies.oracle`) knows every latent trait and sends in the shopper's active
slot. Its twins here know the same traits but choose the slot as a learner would have to:

- *session slot*: the slot with the most site sessions in the CRM's log (``sessions_*`` of
  :mod:`sim.features`; midday when there are none, e.g. without data consent);
- *fixed slot*: one slot for everyone, as a shop without send-time optimisation does.

The table (:mod:`studies.oracle_share`) is incremental profit per shopper over the horizon and over its last
30 days, with the last-30-day share of the oracle's. No learner that reads only the CRM can beat the
*session slot* row by choosing the slot better; it is an upper bound on what the observation allows,
given perfect knowledge of everything else.
"""

from __future__ import annotations

import argparse

import numpy as np

from studies.oracle_share import oracle_share_table
from policies.baselines import Blast
from policies.oracle import Oracle
from sim import MarketModel
from sim.catalogue import SLOTS
from sim.config import MarketConfig, PopulationConfig
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
    print(f"oracle_information: {args.shoppers:,} shoppers x {config.horizon_days} days, seeds {args.seeds}; "
          f"incremental profit per shopper, mean [95% CI]\n")
    print(oracle_share_table(rows, args.seeds, config))


if __name__ == "__main__":
    main()

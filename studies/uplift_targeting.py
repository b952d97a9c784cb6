"""Does an uplift model's targeting beat its pilot's arms, judged on a pilot it was not fitted on?

Run on demand: ``python -m studies.uplift_targeting [--models t] [--shoppers 50000]`` (about 5
minutes for the T-learner at the default size on a busy 2-core machine; the X-learner takes about
six times as long).

The pilot of ``uplift_<model>`` (:class:`policies.uplift.pilot.PilotPolicy`, the default arms and
holdout) runs on training seed 3000, whose matured randomised decisions fit the learner, and on
seed 3001, whose decisions judge it. The pilot is randomised with known propensities, so the 7-day
profit a deterministic rule :math:`\\pi` would earn per decision on seed 3001 has the unbiased
inverse-propensity estimate

.. math::  \\hat V(\\pi) = \\frac{1}{n} \\sum_i \\frac{\\mathbb{1}[a_i = \\pi(x_i)]}{p_i}\\, y_i ,

and the table gives :math:`\\hat V(\\pi) - \\hat V(\\text{no contact})` per decision for the
targeting rule of :class:`policies.uplift.policy.UpliftPolicy` under each boosting setting, for
the model's best arm sent to everyone who can get it, and for each arm sent to everyone. One
estimate's standard error is about 0.1-0.2 (a week's profit spreads by tens, an arm is drawn with
probability about 1/16): differences below that are noise. It judges single decisions over their
7-day window, not the fatigue a daily policy builds up, which the comparison measures.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from experiments.runner import run_policy
from experiments.train_uplift import pilot_market
from policies.decision_log import logged_mask
from policies.uplift.config import UpliftConfig
from policies.uplift.pilot import PilotPolicy
from policies.uplift.training import PilotRows
from sim.config import GuardrailConfig, MarketConfig, PopulationConfig
from sim.features import FEATURE_NAMES
from uplift.models import BoostingParams, make_model

SETTINGS = {
    "library default": {},
    "7 leaves >= 1000, lr 0.05": {"min_samples_leaf": 1000, "learning_rate": 0.05, "max_leaf_nodes": 7},
    "7 leaves >= 3000, lr 0.05, 50 trees": {"min_samples_leaf": 3000, "max_iter": 50, "learning_rate": 0.05, "max_leaf_nodes": 7},
}
"""boosting settings compared (uplift.models.BoostingParams fields over its defaults)"""
FIT_SEED, JUDGE_SEED = 3000, 3001


def randomised_log(config: UpliftConfig, market: MarketConfig, guardrails: GuardrailConfig, seed: int) -> pd.DataFrame:
    """The matured decisions the pilot randomised on training market ``seed``."""
    log = run_policy("uplift_pilot", seed, pilot_market(config, market), guardrails, log_shoppers=-1,
                     factory=lambda _m: PilotPolicy(config.parsed_arms, config.control_share)).decisions
    return log[log.matured & (log.propensity < 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="t", help="learners of uplift.models, comma-separated")
    parser.add_argument("--shoppers", type=int, default=50_000)
    args = parser.parse_args()
    config = UpliftConfig()
    market, guardrails = MarketConfig(population=PopulationConfig(size=args.shoppers)), GuardrailConfig()
    fit = PilotRows.from_log(randomised_log(config, market, guardrails, FIT_SEED), config.parsed_arms)
    judge = randomised_log(config, market, guardrails, JUDGE_SEED)
    x = judge[list(FEATURE_NAMES)].to_numpy(np.float32)
    a, p, y = judge.action.to_numpy(), judge.propensity.to_numpy(), judge.reward.to_numpy()
    sendable = config.parsed_arms.actions(x, logged_mask(judge, guardrails.frequency_cap_7d))
    rows = np.arange(len(x))
    holdout = np.mean((a == 0) / p * y)

    def value(actions: np.ndarray) -> float:
        return float(np.mean((a == actions) / p * y) - holdout)

    print(f"fitted on {len(fit):,} decisions of seed {FIT_SEED}, judged on {len(judge):,} of seed {JUDGE_SEED}; "
          f"the holdout earns {holdout:.2f} per decision over 7 days\n")
    print("| learner | boosting | fit s | share sent | targeting, per decision | its best arm to all |\n|---|---|---:|---:|---:|---:|")
    for model in args.models.split(","):
        for name, setting in SETTINGS.items():
            start = time.perf_counter()
            learner = make_model(model, config.seed, dataclasses.replace(BoostingParams(), **setting))
            with threadpool_limits(limits=1):
                learner.fit(fit.x, fit.treatment, fit.profit)
            gain = np.where(sendable > 0, learner.predict(x), -np.inf)
            best = gain.argmax(axis=1)
            targeted = np.where(gain[rows, best] > 0, sendable[rows, best], 0)
            print(f"| {model} | {name} | {time.perf_counter() - start:.0f} | {np.mean(targeted > 0):.2f} | {value(targeted):+.3f} | "
                  f"{value(sendable[rows, best]):+.3f} |", flush=True)
    print("\n| arm sent to everyone who can get it | per decision |\n|---|---:|")
    for k, arm in enumerate(config.arms):
        print(f"| {arm} | {value(sendable[:, k]):+.3f} |")


if __name__ == "__main__":
    main()

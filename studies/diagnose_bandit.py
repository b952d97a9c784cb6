"""How well a trained bandit's model knows the value of each arm: its predictions against the oracle's.

Run on demand: ``python -m studies.diagnose_bandit [--learner linucb_additive] [--shoppers 10000] [--days 90] [--uniform 0.1]``.

The learner runs on a default market (seed 0) for ``--days``; with ``--uniform p`` its ridge model
learns instead from a randomised log, each shopper sent a uniformly random allowed arm with
probability p each day (no adaptive choice, so no confounding by the learner's own decisions).
The final ridge model then scores
every send arm of the shoppers of a fresh market (seed 5, after 20 days of random e-mails so that
their CRM records have some history) as incremental profit over no contact. The truth is the
oracle's expected incremental profit over the offer's 7-day window (:mod:`policies.oracle`),
computed from the latent traits at the shopper's active slot and scaled to the other slots by the
slot match of the open probability,

.. math::  v_{ohs} = (\\mathrm{EIP}_{oh} + c_h)\\, m_{a(i), s} - c_h,

which ignores the open probability's cap at 0.95. The table says how far the model's view of the
arms is from the truth: the mean over all arms, their correlation, and what the arm the model
rates best is really worth. A second table splits the gap between the model's arm and the oracle's into
its parts, keeping the model's offer or its channel and slot and letting the truth pick the rest; a third
rates each offer. It explains the bandits' results in the README, it does not grade them.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from bandits.features import arm_features
from bandits.open_value import OpenValueBandit
from experiments.runner import run_policy
from policies.base import Decision, DecisionContext, Feedback, Policy
from policies.baselines import uniform_allowed
from policies.oracle import Oracle
from policies.registry import LEARNERS
from sim import MarketModel, response
from sim.catalogue import CHANNEL_COST, CHANNEL_NAMES, OFFER_NAMES
from sim.config import GuardrailConfig, MarketConfig, PopulationConfig
from sim.guardrails import ActionMask


class UniformLogger(Policy):
    """Sends a uniformly random allowed arm to a share of the shoppers, and feeds the outcomes to ``learner``."""

    learns = True

    def __init__(self, learner, share: float):
        self.learner, self.share = learner, share

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        actions, count = uniform_allowed(mask, context.rng)
        send = context.rng.random(len(obs)) < self.share
        return Decision(np.where(send, actions, 0), np.ones(len(obs)))

    def update(self, feedback: Feedback) -> None:
        self.learner.update(feedback)

    def save(self, path: Path, seed: int | None = None) -> None:
        self.learner.save(path, seed)


def true_values(market: MarketModel, rows: np.ndarray) -> np.ndarray:
    """(n, O, H, S) the oracle's expected incremental profit of every send arm (see the module docstring)."""
    eip = Oracle(market).expected_incremental_profit(rows)
    match = response.SLOT_MATCH[market.latent().active_slot[rows]]  # (n, S)
    cost = CHANNEL_COST[None, None, :, None]
    return (eip[..., None] + cost) * match[:, None, None, :] - cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learner", default="linucb_additive", choices=[k for k in LEARNERS if k != "vw"])
    parser.add_argument("--shoppers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--uniform", type=float, default=0.0, help="learn from a log of uniformly random sends to this share of shoppers a day")
    args = parser.parse_args()
    config = MarketConfig(population=PopulationConfig(size=args.shoppers), horizon_days=args.days)
    with tempfile.TemporaryDirectory() as folder:
        explorer = (lambda market: UniformLogger(LEARNERS[args.learner](), args.uniform)) if args.uniform else None
        run_policy(args.learner, 0, config, GuardrailConfig(), save_dir=Path(folder), factory=explorer)
        learner = LEARNERS[args.learner].load_state(Path(folder) / f"{args.learner}_seed0.npz")

    market = MarketModel(config, seed=5)
    rng = np.random.default_rng(0)
    for _ in range(20):
        ok = market.action_mask().channel_ok
        market.step(np.where(ok[:, 0] & (rng.random(len(ok)) < 0.1), 1, 0))  # an info e-mail to some, every day
    rows = np.flatnonzero(market.present)
    predicted = learner.incremental_scores(arm_features(market.observe(rows), learner.nonlinear, learner.history))
    truth = true_values(market, rows)
    n = len(rows)
    best = predicted.reshape(n, -1).argmax(axis=1)

    print(f"diagnose_bandit: {args.learner} trained on {args.shoppers:,} shoppers x {args.days} days "
          f"({learner.model.n_obs:,} matured decisions, residual SD of the reward {learner.model.noise_sd:.1f}); "
          f"scored on {n:,} shoppers of a fresh market\n")
    print("| what | model | truth (oracle) |\n|---|---:|---:|")
    print(f"| mean incremental profit of a send arm | {predicted.mean():+.3f} | {truth.mean():+.3f} |")
    for h, channel in enumerate(CHANNEL_NAMES):
        print(f"| mean over {channel} arms | {predicted[:, :, h].mean():+.3f} | {truth[:, :, h].mean():+.3f} |")
    print(f"| value of the arm the model rates best, per shopper | {predicted.reshape(n, -1).max(axis=1).mean():+.3f} | "
          f"{truth.reshape(n, -1)[np.arange(n), best].mean():+.3f} |")
    print(f"| value of the oracle's best arm, per shopper | | {truth.reshape(n, -1).max(axis=1).mean():+.3f} |")
    print(f"| correlation of model and truth over all arms | {np.corrcoef(predicted.ravel(), truth.ravel())[0, 1]:.3f} | |")
    if isinstance(learner, OpenValueBandit):  # the last column of its open model is the slot's share of sessions
        opens = learner.open_model
        se = opens.noise_sd * np.sqrt(opens.cov[-1, -1])
        print(f"| open model: coefficient of the slot's share of sessions (standard error) | {opens.theta[-1]:+.3f} ({se:.3f}) | positive |")
    where_the_gap_lies(predicted, truth, best)


def where_the_gap_lies(predicted: np.ndarray, truth: np.ndarray, best: np.ndarray) -> None:
    """Print what each part of the model's choice costs against the oracle's, and how it rates each offer.

    Each row keeps some of the model's choice (offer, or channel and slot) and lets the truth pick
    the rest, so the distance between rows is what that part of the choice loses. ``best`` (n,) is
    the flat index of the arm the model rates best.
    """
    n = len(truth)
    i = np.arange(n)
    o, h, s = np.unravel_index(best, predicted.shape[1:])
    oracle_offer = np.unravel_index(truth.reshape(n, -1).argmax(axis=1), truth.shape[1:])[0]
    on_its_slots = truth[i, :, h, s]  # (n, O): every offer on the model's channel and slot
    print("\n| the choice (per shopper, true value) | value |\n|---|---:|")
    print(f"| the model's arm | {truth[i, o, h, s].mean():+.3f} |")
    print(f"| the model's offer on the best channel and slot for it | {truth[i, o].reshape(n, -1).max(axis=1).mean():+.3f} |")
    print(f"| the best offer on the model's channel and slot | {on_its_slots.max(axis=1).mean():+.3f} |")
    print(f"| one offer for everyone, the best such ({OFFER_NAMES[on_its_slots.mean(axis=0).argmax()]}), on the model's channel and slot | "
          f"{on_its_slots.mean(axis=0).max():+.3f} |")
    print(f"| the oracle's arm | {truth.reshape(n, -1).max(axis=1).mean():+.3f} |")
    print("\n| offer | model: mean over its arms | truth | model's best arm carries it | oracle's best arm carries it |\n|---|---:|---:|---:|---:|")
    for k, offer in enumerate(OFFER_NAMES):
        print(f"| {offer} | {predicted[:, k].mean():+.3f} | {truth[:, k].mean():+.3f} | {np.mean(o == k):.1%} | {np.mean(oracle_offer == k):.1%} |")


if __name__ == "__main__":
    main()

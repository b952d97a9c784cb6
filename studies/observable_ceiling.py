"""How much of the oracle a policy can reach that reads only the CRM, however much it has learned.

Run on demand: ``python -m studies.observable_ceiling [--shoppers 50000] [--seeds 0 1 2 3 4]``.

The oracle (:mod:`policies.oracle`) reads the latent traits. A learner reads the observed
features (:mod:`sim.features`), so the best any learner can do with them is, per shopper and day,
the allowed arm with the highest *conditional* expected incremental profit

.. math::  a^*(x) = \\arg\\max_a \\; \\mathbb{E}[\\,v_a(\\text{latent}) \\mid x\\,], \\qquad \\text{no contact if every } \\mathbb{E}[v_a \\mid x] \\le 0,

with :math:`v_a` the oracle's expected incremental profit of arm a over the offer's window
(:meth:`policies.oracle.Oracle.arm_values`, every offer x channel x slot). This script estimates
that policy by regression, far more generously than any bandit could learn it: a multilayer
perceptron maps the observation (and the day of the horizon, which a shop knows) to the oracle's
*noise-free* value of *all 255 send arms* at once, trained on shopper-days of other market seeds
(``--train-seeds``); a bandit sees one arm per decision and its reward through the organic noise
(residual SD about 21 per 7-day window against message effects of about 0.3). Minimising squared
error makes the network's output an estimate of the conditional mean, and the policy acts on it
greedily, without exploring.

The states a policy meets depend on what it sent (contacts, fatigue, opens), so the training data
are gathered as in DAgger (Ross, Gordon and Bagnell, AISTATS 2011): round 0 under the oracle, each
later round under the previous round's network, each with a share ``--explore`` of shoppers sent a
uniformly random allowed arm; the network is refitted on everything gathered so far.

The table (:mod:`studies.oracle_share`) is incremental profit per shopper over the horizon and over its last
30 days, with the last-30-day share of the oracle's. Read it as a ceiling for every policy whose choice
is a function of today's observation, as all of ``bandits/`` are, up to how well the network fits: the
fit table says how well (R^2 on a held-out seed, and the offline value of its choices against the
oracle's on the same shopper-days).

``--reveal FIELD ...`` adds latent traits or state to the network's input (:data:`LATENT`, :data:`STATE`): what each
missing piece of information costs, and, with everything the oracle reads, a check of the method itself, as the
greedy policy should then come close to the oracle.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from experiments.runner import run_policy
from studies.oracle_share import Row, oracle_share_table
from policies.base import Decision, DecisionContext, Policy
from policies.baselines import uniform_allowed
from policies.oracle import Oracle
from sim import MarketModel
from sim.catalogue import N_ACTIONS, N_CHANNELS, N_SLOTS
from sim.config import GuardrailConfig, MarketConfig, PopulationConfig
from sim.guardrails import ActionMask

SENDS = N_ACTIONS - 1
"""the regression's outputs: send arm ``a`` is output ``a - 1`` (``sim.catalogue.encode``'s order, offer x channel x slot)"""

LATENT = ("interest_mean", "buy_base", "price_sensitivity", "churn_hazard", "channel_affinity", "active_slot",
          "social_susceptibility", "basket_scale")
"""latent traits ``--reveal`` may add to the input (:class:`sim.population.Traits`; the active slot one-hot)"""
STATE = ("interest", "fatigue", "engagement")
"""latent state ``--reveal`` may add: today's interests (which drift about ``interest_mean``), fatigue and engagement"""


@dataclass
class Inputs:
    """The network's input for the shoppers of ``rows``: the observation, the day's position in the horizon (which a
    shop knows) and, to measure what a missing piece of information costs, the latent fields named in ``reveal``."""

    market: MarketModel
    horizon: int
    reveal: tuple[str, ...] = ()

    def __call__(self, obs: np.ndarray, rows: np.ndarray, day: int) -> np.ndarray:
        columns = [obs, np.full((len(obs), 1), day / self.horizon, dtype=np.float32)]
        for name in self.reveal:
            if name == "active_slot":
                columns.append(np.eye(N_SLOTS, dtype=np.float32)[self.market.latent().active_slot[rows]])
            else:
                source = self.market.latent() if name in LATENT else self.market.state
                columns.append(getattr(source, name)[rows].reshape(len(rows), -1).astype(np.float32))
        return np.hstack(columns)


def allowed_best(values: np.ndarray, mask: ActionMask) -> tuple[np.ndarray, np.ndarray]:
    """(actions, their value): the allowed send arm with the highest of ``values`` (n, SENDS), no contact when none is positive."""
    scored = np.where(mask.dense()[:, 1:], values, -np.inf)
    flat = scored.argmax(axis=1)
    best = scored[np.arange(len(scored)), flat]
    return np.where(best > 0, flat + 1, 0).astype(np.int64), np.where(best > 0, best, 0.0)


@dataclass
class Regressor:
    """A fitted perceptron in numpy: standardised input, ``tanh`` hidden layers, output in reward units.

    .. math::  \\hat v(x) = \\sigma_v \\, W_L \\tanh(\\cdots \\tanh(W_1 (x - \\mu_x)/\\sigma_x + b_1) \\cdots) + b_L
    """

    x_mean: np.ndarray
    x_scale: np.ndarray
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    v_scale: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h = (x - self.x_mean) / self.x_scale
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ w + b
            if k < len(self.weights) - 1:
                np.tanh(h, out=h)
        return h * self.v_scale


class ObservableGreedy(Policy):
    """Sends the allowed arm the regression rates best, if it is rated positive; with ``explore``, a uniformly random
    allowed arm to that share of shoppers instead (only while gathering data)."""

    name = "observable_greedy"

    def __init__(self, model: Regressor, inputs: Inputs, explore: float = 0.0):
        self.model, self.inputs, self.explore = model, inputs, explore

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        actions, value = allowed_best(self.model(self.inputs(obs, context.rows, context.day)), mask)
        return explored(actions, value, self.explore, mask, context)


class ExploredOracle(Oracle):
    """The oracle with a share ``explore`` of shoppers sent a uniformly random allowed arm: round 0's behaviour."""

    def __init__(self, market: MarketModel, explore: float):
        super().__init__(market)
        self.explore = explore

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        decision = super().act(obs, mask, context)
        return explored(decision.actions, decision.priority, self.explore, mask, context)


def explored(actions: np.ndarray, priority: np.ndarray, share: float, mask: ActionMask, context: DecisionContext) -> Decision:
    """``actions`` with a share of shoppers switched to a uniformly random allowed arm (propensities are not needed here)."""
    if share > 0:
        random_arm, _ = uniform_allowed(mask, context.rng)
        actions = np.where(context.rng.random(len(actions)) < share, random_arm, actions)
    return Decision(actions, np.ones(len(actions)), priority)


class Recorder(Policy):
    """Acts as ``behaviour`` and keeps, for a random share of the shoppers decided each day, their network input and
    the oracle's value of every send arm: the regression's training rows."""

    def __init__(self, market: MarketModel, behaviour: Policy, share: float, inputs: Inputs):
        self.oracle, self.behaviour, self.share, self.inputs = Oracle(market), behaviour, share, inputs
        self.x: list[np.ndarray] = []
        self.v: list[np.ndarray] = []

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        pick = np.flatnonzero(np.random.default_rng([context.day, len(obs), 7]).random(len(obs)) < self.share)
        self.x.append(self.inputs(obs[pick], context.rows[pick], context.day))
        self.v.append(self.oracle.arm_values(context.rows[pick]).reshape(len(pick), SENDS).astype(np.float32))
        return self.behaviour.act(obs, mask, context)


def gather(behaviour: Callable[[MarketModel], Policy], seeds: list[int], config: MarketConfig, share: float,
           reveal: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Training rows from one run of ``behaviour`` on each seed."""
    recorders: list[Recorder] = []

    def factory(market: MarketModel) -> Recorder:
        recorders.append(Recorder(market, behaviour(market), share, Inputs(market, config.horizon_days, reveal)))
        return recorders[-1]

    for seed in seeds:
        run_policy("recorder", seed, config, GuardrailConfig(), factory=factory)
    return np.vstack([x for r in recorders for x in r.x]), np.vstack([v for r in recorders for v in r.v])


def fit(x: np.ndarray, v: np.ndarray, hidden: int, layers: int, epochs: int, seed: int) -> Regressor:
    """Least squares on every arm at once (Adam, mini-batches of 1,024, a cosine learning rate)."""
    torch.manual_seed(seed)
    x_mean, x_scale = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-3)
    v_scale = float(v.std())
    xt = torch.from_numpy((x - x_mean) / x_scale)
    vt = torch.from_numpy(v / v_scale)
    sizes = [x.shape[1]] + [hidden] * layers + [SENDS]
    modules: list[torch.nn.Module] = []
    for k in range(len(sizes) - 1):
        modules.append(torch.nn.Linear(sizes[k], sizes[k + 1]))
        if k < len(sizes) - 2:
            modules.append(torch.nn.Tanh())
    net = torch.nn.Sequential(*modules)
    steps_per_epoch = -(-len(x) // 1024)
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(1024):
            loss = torch.nn.functional.mse_loss(net(xt[batch]), vt[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    linear = [m for m in net if isinstance(m, torch.nn.Linear)]
    return Regressor(x_mean, x_scale, [m.weight.detach().numpy().T.copy() for m in linear],
                     [m.bias.detach().numpy().copy() for m in linear], v_scale)


def fit_quality(model: Regressor, x: np.ndarray, v: np.ndarray) -> tuple[float, float, float]:
    """(R^2 over all arms, true value of the arms the model picks, of the oracle's picks), both per shopper-day, every
    channel allowed: what the regression gets right offline, on rows it was not fitted to."""
    predicted = model(x)
    r2 = 1 - float(((predicted - v) ** 2).sum() / ((v - v.mean(axis=0)) ** 2).sum())
    everything = ActionMask(np.ones((len(x), N_CHANNELS), dtype=bool))
    picked, _ = allowed_best(predicted, everything)
    rows = np.arange(len(v))
    its_value = np.where(picked > 0, v[rows, np.maximum(picked - 1, 0)], 0.0)
    return r2, float(its_value.mean()), float(np.maximum(v.max(axis=1), 0).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shoppers", type=int, default=50_000, help="shoppers of the evaluation markets")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="evaluation seeds")
    parser.add_argument("--train-shoppers", type=int, default=20_000)
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[100, 101, 102, 103], help="the last one is held out for the fit table")
    parser.add_argument("--share", type=float, default=0.125, help="share of each day's shoppers recorded for training")
    parser.add_argument("--explore", type=float, default=0.2, help="share of shoppers sent a random arm while gathering data")
    parser.add_argument("--rounds", type=int, default=3, help="gathering rounds (DAgger); round 0 runs under the oracle")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--learners", nargs="*", default=["thompson"], help="named policies to put in the table too")
    parser.add_argument("--reveal", nargs="*", default=[], choices=LATENT + STATE, metavar="FIELD",
                        help=f"latent fields added to the network's input, to price what the CRM does not see: {', '.join(LATENT + STATE)}")
    args = parser.parse_args()
    reveal = tuple(args.reveal)
    torch.set_num_threads(2)
    train = MarketConfig(population=PopulationConfig(size=args.train_shoppers))
    evaluate = MarketConfig(population=PopulationConfig(size=args.shoppers))
    fit_seeds, held_out = args.train_seeds[:-1], args.train_seeds[-1:]
    xs, vs = [], []
    behaviour: Callable[[MarketModel], Policy] = lambda market: ExploredOracle(market, args.explore)
    print(f"observable_ceiling: fitted on {args.train_shoppers:,} shoppers x {train.horizon_days} days, seeds {fit_seeds} "
          f"(seed {held_out[0]} held out), {args.share:.1%} of each day's shoppers, {args.explore:.0%} random arms; "
          f"{args.layers} x {args.hidden} tanh, {args.epochs} epochs a round" + (f"; revealed: {', '.join(reveal)}" if reveal else "") + "\n")
    print("| round | behaviour | training rows | R^2, held out | value of its picks / oracle's picks, held out | seconds |\n"
          "|---:|---|---:|---:|---:|---:|")
    for k in range(args.rounds):
        start = time.perf_counter()
        x, v = gather(behaviour, fit_seeds, train, args.share, reveal)
        xs.append(x)
        vs.append(v)
        model = fit(np.vstack(xs), np.vstack(vs), args.hidden, args.layers, args.epochs, seed=k)
        x_test, v_test = gather(behaviour, held_out, train, args.share, reveal)
        r2, picked, best = fit_quality(model, x_test, v_test)
        print(f"| {k} | {'oracle' if k == 0 else f'round {k - 1}'} | {sum(len(a) for a in xs):,} | {r2:.3f} | "
              f"{picked:+.3f} / {best:+.3f} ({picked / best:.0%}) | {time.perf_counter() - start:.0f} |", flush=True)
        behaviour = lambda market, m=model: ObservableGreedy(m, Inputs(market, train.horizon_days, reveal), args.explore)

    greedy = "observable greedy" + (f" + {', '.join(reveal)}" if reveal else "")
    rows: list[Row] = [
        ("oracle", None), (greedy, lambda market: ObservableGreedy(model, Inputs(market, evaluate.horizon_days, reveal)))]
    rows += [(name, None) for name in args.learners]
    print(f"\nevaluated on {args.shoppers:,} shoppers x {evaluate.horizon_days} days, seeds {args.seeds}; incremental profit per shopper, "
          f"mean [95% CI]\n")
    print(oracle_share_table(rows, args.seeds, evaluate))


if __name__ == "__main__":
    main()

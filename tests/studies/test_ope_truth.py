"""The OPE truth study measures what it says: a probe reads the 7-day reward of the probed decision, a learning
logger never learns from its probes, recording the oracle leaves the logger's run unchanged (tiny markets)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.runner import run_policy
from policies.base import Decision, DecisionContext, Feedback, Policy, deterministic
from policies.ope.estimators import replicates
from sim.config import GuardrailConfig
from sim.guardrails import ActionMask
from sim.market import MarketModel
from studies import ope_truth
from tests.conftest import small_config

SEED = 3


@pytest.fixture
def setup() -> ope_truth.Setup:
    return ope_truth.Setup(small_config(size=300, horizon=21), GuardrailConfig(), -1, "")


def test_a_probe_of_the_logger_by_itself_reads_the_logged_reward_of_the_probed_decision(setup):
    """Blast probed with blast runs as blast did: each probe's reward is the logged reward of that shopper on that day."""
    log = run_policy("blast", SEED, setup.config, setup.guardrails, log_shoppers=-1).decisions
    truth = ope_truth.probe_run("blast", "blast", SEED, setup)
    n_rows = MarketModel(setup.config, setup.guardrails, seed=SEED).n_rows
    days = ope_truth.probe_days(n_rows, SEED, setup.config.horizon_days)
    probed = log[log["day"].to_numpy() == days[log["shopper"].to_numpy()]]
    assert probed["matured"].all() and truth["probes"] == len(probed) > 200
    assert truth["truth"] == pytest.approx(probed["reward"].mean(), rel=1e-12)
    assert truth["truth_se"] == pytest.approx(probed["reward"].std(ddof=1) / np.sqrt(len(probed)), rel=1e-9)


class Silent(Policy):
    """A learner that never sends and keeps every feedback row it is given."""

    learns = True

    def __init__(self) -> None:
        self.pending_actions: list[np.ndarray] = []
        self.updated_actions: list[np.ndarray] = []
        self.decided = 0

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        self.decided += len(obs)
        return deterministic(np.zeros(len(obs), dtype=np.int64))

    def pending(self, decisions: Feedback) -> None:
        self.pending_actions.append(decisions.actions)

    def update(self, feedback: Feedback) -> None:
        self.updated_actions.append(feedback.actions)


class Sender(Policy):
    """Sends action 1's channel's first allowed action to everyone who can be contacted."""

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        allowed = mask.dense()
        first_send = np.where(allowed[:, 1:].any(axis=1), allowed[:, 1:].argmax(axis=1) + 1, 0)
        return deterministic(first_send)


def test_a_learning_logger_never_learns_from_its_probes(setup):
    logger = Silent()
    probes: list[ope_truth.Probing] = []

    def factory(market: MarketModel) -> Policy:
        days = ope_truth.probe_days(market.n_rows, SEED, setup.config.horizon_days)
        probes.append(ope_truth.Probing(logger, Sender(), market, days, SEED))
        return probes[0]

    run_policy("silent", SEED, setup.config, setup.guardrails, factory=factory)
    mean, _, count = probes[0].close()
    pending = np.concatenate(logger.pending_actions)
    updated = np.concatenate(logger.updated_actions)
    assert count > 100 and mean != 0
    assert (pending == 0).all() and (updated == 0).all()  # every send was a probe's, and none reached the learner
    assert len(pending) == logger.decided - count
    assert len(updated) <= len(pending)


def test_recording_the_oracle_leaves_the_loggers_run_as_it_was(setup):
    plain = run_policy("random", SEED, setup.config, setup.guardrails, log_shoppers=50).decisions
    recorded = ope_truth.own_run("random", SEED, ope_truth.Setup(setup.config, setup.guardrails, 50, ""))
    pd.testing.assert_frame_equal(plain, recorded["log"])
    keys, actions, n_rows = recorded["oracle"]
    assert len(keys) == len(plain) and (actions >= 0).any()
    replayed = ope_truth.Replayed(keys, actions, n_rows)
    first = plain.iloc[:5]
    context = DecisionContext(int(first["day"].iloc[0]), 0, np.random.default_rng(0), first["shopper"].to_numpy())
    got = replayed.act(np.zeros((5, 1), dtype=np.float32), None, context).actions
    order = np.argsort(keys)
    want = actions[order][np.searchsorted(keys[order], context.day * n_rows + context.rows)]
    assert (got == want).all()
    with pytest.raises(KeyError, match="no recorded oracle choice"):
        replayed.act(np.zeros((1, 1), dtype=np.float32), None, DecisionContext(10_000, 0, np.random.default_rng(0), np.array([0])))


def test_replicates_from_equal_generators_are_paired():
    """For means, the difference of two candidates' replicates is the replicate of their difference: a paired bootstrap."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 2)), rng.normal(size=(400, 2))
    codes = rng.integers(0, 50, 400)
    ones = np.ones_like(a)
    diff = replicates(a, ones, codes, 100, np.random.default_rng(7)) - replicates(b, ones, codes, 100, np.random.default_rng(7))
    np.testing.assert_allclose(diff, replicates(a - b, ones, codes, 100, np.random.default_rng(7)), atol=1e-12)

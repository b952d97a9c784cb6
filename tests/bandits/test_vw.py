"""The Vowpal Wabbit policy: same contract as our learners, on the same runner."""

from __future__ import annotations

import numpy as np
import pytest

from bandits import vw
from experiments.runner import run_policy
from policies.base import DecisionContext, Feedback
from sim import GuardrailConfig
from sim.catalogue import N_CHANNELS
from sim.guardrails import ActionMask
from tests.bandits.test_bandits import contexts
from tests.conftest import small_config

pytestmark = pytest.mark.skipif(not vw.available(), reason="the [vw] extra is not installed")


def test_vw_returns_allowed_actions_with_exact_probabilities():
    policy = vw.VowpalPolicy(epsilon=0.2)
    rng = np.random.default_rng(0)
    obs = contexts(rng, 40)
    mask = ActionMask(rng.random((40, N_CHANNELS)) < 0.4)
    d = policy.act(obs, mask, DecisionContext(0, 0, np.random.default_rng(1), np.arange(40)))
    assert mask.allows(d.actions).all() and ((d.propensity > 0) & (d.propensity <= 1)).all()
    policy.update(Feedback(np.zeros(40), obs, d.actions, d.propensity, rng.normal(size=40)))


def test_vw_runs_in_the_runner_without_violations():
    result = run_policy("vw", 0, small_config(size=120, horizon=10), GuardrailConfig())
    assert result.daily["violations"].sum() == 0 and result.daily["sends"].sum() > 0

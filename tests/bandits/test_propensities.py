"""Each learner's logged propensity against how often it really chooses the action.

Off-policy evaluation and every audit divide by the logged propensity, so it must be the
probability with which the learner chooses what it logged. The reference here is independent of
the learner's formulas: a few fixed shoppers, a fixed model state that has learned a little, and
thousands of independent decisions for each shopper (the shopper's row repeated within a batch,
since every learner draws each row's choice independently, and batches under distinct
generators); the share of decisions that chose an action is its empirical probability.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bandits import vw
from bandits.bootstrap import BootstrapEnsemble
from bandits.epsilon_greedy import EpsilonGreedy
from bandits.open_value import OpenValueThompson
from bandits.thompson import POOL, LinearThompson
from policies.base import DecisionContext, Feedback, Policy
from sim.catalogue import N_CHANNELS
from sim.guardrails import ActionMask
from tests.conftest import contexts

CHANNELS_OK = np.array([[1, 0, 0, 0, 0], [0, 1, 1, 0, 0], [1, 0, 1, 0, 1], [0, 0, 0, 1, 0]], dtype=bool)
"""each fixed shopper's allowed channels: 52, 103, 154 and 52 allowed actions (few, so each exploring action is seen often)"""


def warmed(policy: Policy, opens: bool = False, rows: int = 200) -> Policy:
    """``policy`` after two days of ``rows`` synthetic decisions with noisy rewards: an opinion, and still uncertain."""
    rng = np.random.default_rng(0)
    obs = contexts(rng, rows)
    mask = ActionMask(np.ones((rows, N_CHANNELS), dtype=bool))
    for day in range(2):
        d = policy.act(obs, mask, DecisionContext(day, day, np.random.default_rng(100 + day), np.arange(rows)))
        opened = rng.random(rows) < 0.3 if opens else None
        policy.update(Feedback(np.full(rows, day), obs, d.actions, d.propensity, rng.normal(size=rows), opened))
    return policy


def decide(policy: Policy, generators: int, repeats: int, shoppers: int = len(CHANNELS_OK)) -> tuple[np.ndarray, np.ndarray]:
    """(shoppers, generators x repeats) actions and logged propensities of the fixed shoppers, each decided
    ``repeats`` times per batch under each of ``generators`` independent generators."""
    obs = np.repeat(contexts(np.random.default_rng(1), shoppers), repeats, axis=0)
    mask = ActionMask(np.repeat(CHANNELS_OK[:shoppers], repeats, axis=0))
    actions, propensity = [], []
    for g in range(generators):
        d = policy.act(obs, mask, DecisionContext(5, 5, np.random.default_rng(1000 + g), np.arange(len(obs))))
        assert mask.allows(d.actions).all()
        actions.append(d.actions.reshape(shoppers, repeats))
        propensity.append(d.propensity.reshape(shoppers, repeats))
    return np.concatenate(actions, axis=1), np.concatenate(propensity, axis=1)


def assert_exact(actions: np.ndarray, propensity: np.ndarray) -> None:
    """An exact propensity is a function of the shopper and the action, and the choice's frequencies follow it.

    Per shopper, n decisions: each action chosen is a binomial count with mean n p, p its logged
    propensity. The actions with p >= 0.02 are checked one by one within 4 binomial standard errors
    (a false alarm has probability below 1e-4 each). The many exploring actions of small p are
    pooled into one chi-square goodness-of-fit test, with a last cell for the probability mass that
    the logged propensities leave to actions never chosen (0 if they are right, as every allowed
    action is expected at least 7 times); it fails at p-value 1e-4.
    """
    for s in range(len(actions)):
        n = actions.shape[1]
        chosen, counts = np.unique(actions[s], return_counts=True)
        p = np.array([propensity[s][actions[s] == a] for a in chosen], dtype=object)
        assert all(np.ptp(q) == 0 for q in p), "an exact propensity differs between decisions of one shopper and action"
        p = np.array([q[0] for q in p], dtype=np.float64)
        big = p >= 0.02
        np.testing.assert_allclose(counts[big] / n, p[big], rtol=0, atol=4 * np.sqrt(p[big] * (1 - p[big]) / n).max())
        unseen = 1.0 - p.sum()
        assert unseen > -1e-9, f"shopper {s}: the logged propensities of the chosen actions sum to {p.sum():.4f} > 1"
        observed = np.append(counts, 0)
        expected = n * np.append(p, max(unseen, 0.0))
        cells = expected > 0
        statistic = float((((observed - expected) ** 2)[cells] / expected[cells]).sum())
        pvalue = stats.chi2.sf(statistic, cells.sum() - 1)
        assert pvalue > 1e-4, f"shopper {s}: chi-square {statistic:.1f} on {cells.sum() - 1} degrees of freedom, p = {pvalue:.2g}"


def test_epsilon_greedy_chooses_each_action_with_its_logged_propensity():
    policy = warmed(EpsilonGreedy(epsilon=0.5))
    actions, propensity = decide(policy, generators=4, repeats=1000)
    assert_exact(actions, propensity)
    assert (np.unique(actions[0]).size, np.unique(actions[3]).size) == (52, 52)  # every allowed action was tried


def test_the_bootstrap_chooses_each_action_with_its_logged_vote_share():
    policy = warmed(BootstrapEnsemble(members=6))
    actions, propensity = decide(policy, generators=4, repeats=1000)
    assert_exact(actions, propensity)
    assert max(np.unique(a).size for a in actions) > 2  # the members disagree: the shares are not all 1


@pytest.mark.skipif(not vw.available(), reason="the [vw] extra is not installed")
def test_vowpal_wabbit_chooses_each_action_with_its_logged_probability():
    """VW parses one shopper at a time (about 1 ms a decision), so two shoppers with few allowed actions."""
    policy = warmed(vw.VowpalPolicy(epsilon=0.5), rows=50)
    actions, propensity = decide(policy, generators=2, repeats=600, shoppers=2)
    assert_exact(actions, propensity)


THOMPSON = {"thompson_additive": lambda: warmed(LinearThompson(scale=0.5)),
            "thompson": lambda: warmed(OpenValueThompson(scale=0.5), opens=True)}


@pytest.mark.parametrize("name", list(THOMPSON))
def test_thompson_propensity_estimates_follow_the_frequency_of_the_choice(name):
    """The logged propensity of a Thompson choice a is the share of D + 1 posterior draws that choose a:
    the acting draw (which did) and D further ones, so it is (1 + K) / (D + 1) with K ~ Binomial(D, p_a),
    independent of the acting draw. Its mean over the rows that chose a is therefore (1 + D p_a) / (D + 1)
    (and the mean of its inverse is (1 - (1 - p_a)^(D+1)) / p_a, close to 1 / p_a, which is what inverse
    propensity weighting needs). ``probabilities`` is the share of D + 1 further draws: mean p_a.

    Tolerance, for each action with p_a >= 0.05: 4 standard deviations of the gap between that mean and
    the one the frequency f_a over n decisions implies. Three independent terms, each of variance
    p(1 - p) times: 1/n (f_a is binomial); 1/(POOL G) (a batch's D draws come from one pool of POOL
    posterior draws, shared by the batch's rows, G batches); 2/(D m) (the window noise of K over the
    m rows that chose a, doubled for rows whose windows of the pool overlap).
    """
    policy = THOMPSON[name]()
    generators, repeats = 40, 125
    draws = policy.propensity_draws
    actions, propensity = decide(policy, generators, repeats)
    n = actions.shape[1]
    checked = 0
    for s in range(len(actions)):
        chosen, counts = np.unique(actions[s], return_counts=True)
        for a, count in zip(chosen, counts):
            f = count / n
            if f < 0.05:
                continue
            logged = propensity[s][actions[s] == a].mean()
            sd = draws / (draws + 1) * np.sqrt(f * (1 - f) * (1 / n + 1 / (POOL * generators) + 2 / (draws * count)))
            assert logged == pytest.approx((1 + draws * f) / (draws + 1), abs=4 * sd), f"shopper {s}, action {a}: chosen {f:.3f} of the time"
            checked += 1
    assert checked >= 6  # the posterior spreads the choice over several actions: the check is not about a sure thing

    # the estimated probabilities of every action, averaged over independent generators, against the frequencies
    obs = np.repeat(contexts(np.random.default_rng(1), len(CHANNELS_OK)), repeats, axis=0)
    mask = ActionMask(np.repeat(CHANNELS_OK, repeats, axis=0))
    probs = np.mean([policy.action_probabilities(obs, mask, DecisionContext(5, 5, np.random.default_rng(5000 + g), np.arange(len(obs))))
                     for g in range(generators)], axis=0).reshape(len(CHANNELS_OK), repeats, -1).mean(axis=1)
    for s in range(len(actions)):
        freq = np.bincount(actions[s], minlength=probs.shape[1]) / n
        sd = np.sqrt(freq * (1 - freq) * (1 / n + 1 / (POOL * generators) + 1 / ((draws + 1) * repeats * generators)))
        big = freq >= 0.05
        np.testing.assert_allclose(probs[s][big], freq[big], rtol=0, atol=4 * sd[big].max())

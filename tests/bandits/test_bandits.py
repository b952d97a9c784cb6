"""The learners on a synthetic problem with a known answer, and the contracts they share."""

from __future__ import annotations


import numpy as np
import pytest

from bandits.base import LinearBandit, best_allowed
from bandits.bootstrap import BootstrapEnsemble
from bandits.epsilon_greedy import EpsilonGreedy
from bandits.features import arm_features, block_widths
from bandits.linear import RidgeModel, inverse_of, mean_scores, variances
from bandits.linucb import LinUCB
from bandits.thompson import LinearThompson
from policies.base import DecisionContext, Feedback
from policies.registry import make_policy
from sim.catalogue import N_ACTIONS, N_CHANNELS, encode
from sim.features import N_FEATURES, index
from sim.guardrails import ActionMask
from tests.conftest import contexts


LEARNERS = {
    "epsilon_greedy": lambda: EpsilonGreedy(epsilon=0.1),
    "linucb_additive": lambda: LinUCB(alpha=0.5),
    "thompson_additive": lambda: LinearThompson(scale=0.3, propensity_draws=7),
    "bootstrap": lambda: BootstrapEnsemble(members=6, prior_scale=0.5),
}


def synthetic_theta(nonlinear: bool) -> np.ndarray:
    """A known truth: sending pays only with offer 4 on channel 1 in slot 2; everything else costs."""
    widths = block_widths(nonlinear)
    blocks = [np.zeros(w) for w in widths]
    blocks[0][0] = 1.0  # base
    blocks[1][0] = -0.5  # any contact costs
    blocks[2][:17] = -0.3
    blocks[2][4] = 1.2
    blocks[3][:5] = -0.2
    blocks[3][1] = 0.4
    blocks[4][:] = [-0.1, 0.0, 0.3]
    return np.concatenate(blocks)


@pytest.mark.parametrize("name", list(LEARNERS))
def test_learner_finds_the_best_arm_and_regret_grows_sublinearly(name):
    policy: LinearBandit = LEARNERS[name]()
    truth = synthetic_theta(policy.nonlinear)
    best = int(encode(4, 1, 2))
    rng = np.random.default_rng(0)
    mask = ActionMask(np.ones((400, N_CHANNELS), dtype=bool))
    regret = []
    for day in range(30):
        obs = contexts(rng, 400)
        ctx = DecisionContext(day, day % 7, np.random.default_rng(day), np.arange(400))
        d = policy.act(obs, mask, ctx)
        feats = arm_features(obs, policy.nonlinear)
        scores = mean_scores(truth, feats, policy.model)
        value = np.concatenate([scores.none[:, None], scores.full().reshape(400, -1)], axis=1)
        regret.append(float((value.max(axis=1) - value[np.arange(400), d.actions]).mean()))
        reward = value[np.arange(400), d.actions] + rng.normal(0, 1.0, 400)
        policy.update(Feedback(np.full(400, day), obs, d.actions, d.propensity, reward))
    regret = np.array(regret)
    assert regret[-5:].mean() < 0.3 * regret[:5].mean()
    final = policy.act(contexts(rng, 400), mask, DecisionContext(31, 0, np.random.default_rng(99), np.arange(400)))
    assert (final.actions == best).mean() > 0.7


@pytest.mark.parametrize("name", list(LEARNERS))
def test_probabilities_sum_to_one_respect_the_mask_and_match_propensities(name):
    policy: LinearBandit = LEARNERS[name]()
    rng = np.random.default_rng(1)
    obs = contexts(rng, 50)
    ok = rng.random((50, N_CHANNELS)) < 0.5
    mask = ActionMask(ok)
    # some data first, so that the learner has an opinion
    warm = policy.act(obs, mask, DecisionContext(0, 0, np.random.default_rng(0), np.arange(50)))
    policy.update(Feedback(np.zeros(50), obs, warm.actions, warm.propensity, rng.normal(size=50)))
    probs = policy.action_probabilities(obs, mask, DecisionContext(1, 1, np.random.default_rng(5), np.arange(50)))
    assert probs.shape == (50, N_ACTIONS)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs[~mask.dense()] == 0).all()
    d = policy.act(obs, mask, DecisionContext(1, 1, np.random.default_rng(5), np.arange(50)))
    assert mask.allows(d.actions).all() and ((d.propensity > 0) & (d.propensity <= 1)).all()
    if name in ("epsilon_greedy", "linucb_additive", "bootstrap"):  # exact propensities
        np.testing.assert_allclose(d.propensity, probs[np.arange(50), d.actions])


def test_updates_with_delayed_rewards_equal_the_same_updates_applied_in_order():
    rng = np.random.default_rng(2)
    widths = block_widths()
    d = sum(widths)
    batches = [(rng.normal(size=(30, d)), rng.normal(size=30)) for _ in range(6)]
    in_order = RidgeModel(widths)
    for phi, r in batches:
        in_order.update(phi, r)
    delayed = RidgeModel(widths)
    delayed.update(np.concatenate([b[0] for b in batches[:4]]), np.concatenate([b[1] for b in batches[:4]]))
    delayed.update(np.concatenate([b[0] for b in batches[4:]]), np.concatenate([b[1] for b in batches[4:]]))
    np.testing.assert_allclose(delayed.theta, in_order.theta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(delayed.A, in_order.A)


def test_a_weighted_update_equals_the_unweighted_one_with_each_row_repeated_its_weight_times():
    """Integer weights w (0 included: the row is left out) are the same data as each row repeated w times:
    A, b, the residual sums, the estimate and its noise."""
    rng = np.random.default_rng(10)
    widths = [3, 2]
    phi, r = rng.normal(size=(30, 5)), rng.normal(size=30)
    w = rng.integers(0, 4, 30)
    assert (w == 0).any() and (w > 1).any()
    weighted, repeated = RidgeModel(widths, ridge=1.5), RidgeModel(widths, ridge=1.5)
    weighted.update(phi[:12], r[:12], weight=w[:12])
    weighted.update(phi[12:], r[12:], weight=w[12:])
    repeated.update(np.repeat(phi, w, axis=0), np.repeat(r, w))
    for name in ("A", "b", "theta"):
        np.testing.assert_allclose(getattr(weighted, name), getattr(repeated, name), rtol=1e-10, atol=1e-12)
    assert (weighted.yy, weighted.weight, weighted.noise_sd) == (pytest.approx(repeated.yy, rel=1e-12), w.sum(),
                                                                 pytest.approx(repeated.noise_sd, rel=1e-10))
    assert weighted.noise_sd != 1.0  # more weight than features: the residual variance is estimated, not the default


def test_a_prior_mean_is_the_estimate_before_data_and_the_centre_of_the_ridge_penalty_after():
    """theta = A^-1 (lambda m0 + Phi'r): ridge regression towards m0, as regressing r - Phi m0 towards 0 and adding m0."""
    rng = np.random.default_rng(9)
    widths = [3, 2]
    m0 = np.array([0.0, 0.5, 0.0, -1.0, 2.0])
    model = RidgeModel(widths, ridge=2.0, prior_mean=m0)
    np.testing.assert_allclose(model.theta, m0)
    phi, r = rng.normal(size=(40, 5)), rng.normal(size=40)
    model.update(phi, r)
    shifted = RidgeModel(widths, ridge=2.0)
    shifted.update(phi, r - phi @ m0)
    np.testing.assert_allclose(model.theta, shifted.theta + m0, rtol=1e-10, atol=1e-12)
    residual = r - phi @ model.theta
    penalty = 2.0 * np.sum((model.theta - m0) ** 2)
    assert model.noise_sd == pytest.approx(np.sqrt((residual @ residual + penalty) / (40 - 5)), rel=1e-9)
    with pytest.raises(ValueError, match=r"prior_mean has shape \(3,\): must be \(5,\)"):
        RidgeModel(widths, prior_mean=np.zeros(3))


def test_variances_match_the_explicit_quadratic_form():
    rng = np.random.default_rng(3)
    model = RidgeModel(block_widths())
    obs = contexts(rng, 4)
    feats = arm_features(obs)
    acts = rng.integers(0, N_ACTIONS, 4)
    model.update(feats.rows(rng.integers(0, N_ACTIONS, 4)), rng.normal(size=4))
    none, send = variances(feats, model)
    for i, a in enumerate(acts):
        phi = feats.rows(np.full(4, a))[i]
        expected = phi @ model.cov @ phi
        got = none[i] if a == 0 else send.reshape(4, -1)[i, a - 1]
        assert got == pytest.approx(expected, rel=1e-3, abs=1e-5)


@pytest.mark.parametrize("name", list(LEARNERS))
def test_saved_state_resumes_to_the_same_decisions(tmp_path, name):
    policy: LinearBandit = LEARNERS[name]()
    rng = np.random.default_rng(4)
    obs = contexts(rng, 60)
    mask = ActionMask(np.ones((60, N_CHANNELS), dtype=bool))
    d = policy.act(obs, mask, DecisionContext(0, 0, np.random.default_rng(0), np.arange(60)))
    policy.update(Feedback(np.zeros(60), obs, d.actions, d.propensity, rng.normal(size=60)))
    policy.save(tmp_path / "state.npz")
    loaded = type(policy).load_state(tmp_path / "state.npz")
    for p in (policy, loaded):
        p.update(Feedback(np.zeros(60), obs, d.actions, d.propensity, np.arange(60.0)))
    a = policy.act(obs, mask, DecisionContext(1, 0, np.random.default_rng(9), np.arange(60)))
    b = loaded.act(obs, mask, DecisionContext(1, 0, np.random.default_rng(9), np.arange(60)))
    assert np.array_equal(a.actions, b.actions) and np.allclose(a.propensity, b.propensity)


@pytest.mark.parametrize("name", ["linucb_additive", "thompson", "bootstrap"])
def test_a_learner_that_reads_the_response_history_sees_it_and_keeps_the_choice_in_its_state(tmp_path, name):
    """With response_history, the history changes the learner's features (without it, it does not), and a saved state
    comes back reading it: a state's feature map is part of its hyperparameters."""
    policy = make_policy(name, None, {"response_history": True})
    plain = make_policy(name, None, None)
    assert policy.history and not plain.history
    assert policy.model.widths[0] > plain.model.widths[0]
    obs = contexts(np.random.default_rng(1), 5)
    history = obs.copy()
    history[:, index("redeemed_discount")], history[:, index("promo_share")] = 2.0, 0.5
    assert not np.array_equal(arm_features(obs, policy.nonlinear, True).offer, arm_features(history, policy.nonlinear, True).offer)
    assert np.array_equal(arm_features(obs, plain.nonlinear).offer, arm_features(history, plain.nonlinear).offer)
    policy.save(tmp_path / "state.npz")
    loaded = type(policy).load_state(tmp_path / "state.npz")
    assert loaded.history and loaded.model.widths == policy.model.widths


def test_tampered_or_foreign_state_is_a_clear_error(tmp_path):
    LinUCB().save(tmp_path / "s.npz")
    with pytest.raises(ValueError, match="holds a LinUCB state, not LinearThompson"):
        LinearThompson.load_state(tmp_path / "s.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable bandit state"):
        LinUCB.load_state(tmp_path / "bad.npz")


@pytest.mark.parametrize("per_shopper", [False, True])
def test_additive_scores_match_the_explicit_feature_vectors(per_shopper):
    rng = np.random.default_rng(5)
    model = RidgeModel(block_widths(True))
    obs = contexts(rng, 6)
    feats = arm_features(obs, True)
    theta = rng.normal(size=(6, model.d) if per_shopper else model.d)
    scores = mean_scores(theta, feats, model)
    value = np.concatenate([scores.none[:, None], scores.full().reshape(6, -1)], axis=1)
    for a in range(N_ACTIONS):
        phi = feats.rows(np.full(6, a))
        expected = (phi * theta).sum(axis=1) if per_shopper else phi @ theta
        np.testing.assert_allclose(value[:, a], expected, rtol=1e-4, atol=1e-4)


def test_the_separable_choice_equals_the_argmax_over_every_allowed_arm():
    rng = np.random.default_rng(6)
    n = 500
    scores = mean_scores(rng.normal(size=sum(block_widths())), arm_features(contexts(rng, n)), RidgeModel(block_widths()))
    ok = rng.random((n, N_CHANNELS)) < 0.4  # some shoppers with no channel at all
    actions, margin = best_allowed(scores, ok)
    flat = np.concatenate([scores.none[:, None], scores.full(ok).reshape(n, -1)], axis=1)  # every action, in action order
    best = flat[:, 1:].max(axis=1)
    assert np.array_equal(actions, np.where(best > scores.none, flat.argmax(axis=1), 0)) and (actions == 0).any() and (actions > 0).any()
    np.testing.assert_allclose(margin, np.where(best > scores.none, best - scores.none, 0), rtol=1e-5, atol=1e-5)


def test_posterior_draws_have_the_posterior_mean_and_covariance_of_the_non_base_blocks():
    rng = np.random.default_rng(7)
    widths = block_widths()
    model = RidgeModel(widths)
    phi = rng.normal(size=(400, model.d))
    model.update(phi, phi @ rng.normal(size=model.d) + rng.normal(0, 3.0, 400))
    draws = model.sample(100_000, 0.5, rng).astype(np.float64)
    rest = slice(widths[0], None)
    cov = (0.5 * model.noise_sd) ** 2 * model.cov[rest, rest]
    assert model.noise_sd == pytest.approx(3.0, rel=0.2)
    np.testing.assert_allclose(draws.mean(axis=0), model.theta[rest], atol=4 * np.sqrt(cov.diagonal().max() / 100_000))
    np.testing.assert_allclose(np.cov(draws, rowvar=False), cov, atol=0.05 * np.abs(cov).max())


def test_thompson_without_propensity_draws_acts_with_its_acting_draw_alone():
    policy = LinearThompson(propensity_draws=0)
    rng = np.random.default_rng(8)
    obs = contexts(rng, 20)
    mask = ActionMask(np.ones((20, N_CHANNELS), dtype=bool))
    d = policy.act(obs, mask, DecisionContext(0, 0, np.random.default_rng(0), np.arange(20)))
    assert mask.allows(d.actions).all() and (d.propensity == 1.0).all()
    probs = policy.action_probabilities(obs, mask, DecisionContext(0, 0, np.random.default_rng(1), np.arange(20)))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_a_state_of_an_older_version_is_refused_by_its_version(tmp_path):
    LinUCB().save(tmp_path / "s.npz")
    with np.load(tmp_path / "s.npz") as data:
        older = {k: data[k] for k in data.files if k not in ("yy", "weight", "learned_on")}
    np.savez(tmp_path / "old.npz", **{**older, "version": np.array(1)})
    with pytest.raises(ValueError, match="bandit state version 1, this offerlab reads 2"):
        LinUCB.load_state(tmp_path / "old.npz")


@pytest.mark.parametrize("name", ["linucb_additive", "thompson_additive", "thompson", "linucb", "bootstrap", "epsilon_greedy"])
def test_an_empty_batch_gets_an_empty_decision(name):
    """A day (or a served request) with nobody to decide for is not an error."""
    policy = make_policy(name, None, None)
    obs, mask = np.zeros((0, N_FEATURES), dtype=np.float32), ActionMask(np.ones((0, N_CHANNELS), dtype=bool))
    ctx = DecisionContext(0, 0, np.random.default_rng(0), np.arange(0))
    d = policy.act(obs, mask, ctx)
    assert d.actions.shape == (0,) and d.propensity.shape == (0,)
    assert policy.action_probabilities(obs, mask, ctx).shape == (0, N_ACTIONS)


def test_linucb_bound_counts_the_earlier_blocks_of_the_batch():
    """Identical shoppers in one batch: the first block all gets one arm, and the next block, counting those rows, another."""
    rng = np.random.default_rng(8)
    obs = np.repeat(contexts(rng, 1), 100, axis=0)
    mask = ActionMask(np.ones((100, N_CHANNELS), dtype=bool))
    batch = DecisionContext(day=0, weekday=0, rng=np.random.default_rng(0), rows=np.arange(100))
    d = LinUCB(block=50).act(obs, mask, batch)
    alone = LinUCB(block=1000).act(obs[:50], mask.subset(slice(0, 50)), batch)
    np.testing.assert_array_equal(d.actions[:50], alone.actions)  # the first block's bound is the plain one
    assert len(set(d.actions[:50])) == 1 and len(set(d.actions[50:])) == 1 and d.actions[50] != d.actions[0]
    np.testing.assert_array_equal(d.propensity, 1.0)


def test_linucb_decisions_in_flight_narrow_the_width_of_what_they_tried_until_they_mature():
    rng = np.random.default_rng(9)
    obs = contexts(rng, 200)
    policy = LinUCB()
    policy.update(Feedback(np.zeros(200), obs, rng.integers(0, N_ACTIONS, 200), np.ones(200), rng.normal(size=200)))
    tried = np.full(200, encode(3, 0, 1))
    phi = arm_features(obs).rows(tried)
    before = np.einsum("nd,de,ne->n", phi, policy.model.cov, phi)
    policy.pending(Feedback(np.ones(200), obs, tried, np.ones(200), np.full(200, np.nan)))  # no opens needed: an additive row has none
    after = np.einsum("nd,de,ne->n", phi, np.linalg.inv(policy.design()), phi)
    assert (after < before).all()
    policy.update(Feedback(np.ones(200), obs, tried, np.ones(200), rng.normal(size=200)))
    assert policy.in_flight == {}
    np.testing.assert_array_equal(policy.design(), policy.model.A)


def _ridge_data(seed: int, n: int = 40, widths=(3, 2), noise: float = 1.0):
    rng = np.random.default_rng(seed)
    phi = rng.normal(size=(n, sum(widths)))
    return phi, phi @ np.array([1.0, -2.0, 0.5, 3.0, 0.0][: sum(widths)]) + noise * rng.normal(size=n)


def test_the_ridge_penalty_must_be_positive_and_defaults_to_one():
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match=rf"^ridge={bad!r}: must be > 0$"):
            RidgeModel([3, 2], ridge=bad)
    np.testing.assert_array_equal(RidgeModel([3, 2]).A, np.eye(5))


def test_batches_of_any_numeric_type_give_the_double_precision_fit():
    """float32 rows, rewards and weights (the features, a float32 reward column) are the same data as their float64 copies."""
    phi, r = _ridge_data(3)
    w = np.random.default_rng(4).integers(0, 4, len(r))
    m0 = np.array([0.1, 0.2, 0.3, 0.4, 0.5], dtype=np.float32)
    exact, single = RidgeModel([3, 2], prior_mean=m0.astype(np.float64)), RidgeModel([3, 2], prior_mean=m0)
    for model, cast in ((exact, np.float64), (single, np.float32)):
        model.update(phi.astype(np.float32).astype(cast), r.astype(np.float32).astype(cast), weight=w.astype(cast))
        model.update(phi.astype(np.float32).astype(cast), r.astype(np.float32).astype(cast))
    for name in ("A", "b", "theta", "yy", "noise_sd"):
        np.testing.assert_allclose(getattr(single, name), getattr(exact, name), rtol=1e-13, atol=1e-13, err_msg=name)


def test_the_same_data_in_two_batches_is_the_same_fit_as_in_one_noise_and_counts_included():
    phi, r = _ridge_data(5)
    one, two = RidgeModel([3, 2]), RidgeModel([3, 2])
    one.update(phi, r)
    two.update(phi[:25], r[:25])
    two.update(phi[25:], r[25:])
    assert (two.n_obs, two.weight) == (40, 40.0)
    assert (two.noise_sd, two.yy) == (pytest.approx(one.noise_sd, rel=1e-12), pytest.approx(one.yy, rel=1e-12))


def test_the_noise_estimate_is_the_residual_sd_once_there_are_more_rows_than_features():
    """sigma^2 = (sum r^2 - theta'b) / (n - d), the ridge fit's residual sum of squares plus its penalty; 1 until n > d."""
    phi, r = _ridge_data(6, n=30, noise=0.001)
    model = RidgeModel([3, 2], ridge=0.01)

    def by_hand(n: int) -> float:  # the ridge solution and its penalised residual, straight from their definitions
        theta = np.linalg.solve(0.01 * np.eye(5) + phi[:n].T @ phi[:n], phi[:n].T @ r[:n])
        return float(np.sqrt((((r[:n] - phi[:n] @ theta) ** 2).sum() + 0.01 * theta @ theta) / (n - 5)))

    model.update(phi[:5], r[:5])  # n = d: no estimate yet
    assert model.noise_sd == 1.0
    model.update(phi[5:6], r[5:6])  # n = d + 1
    assert model.noise_sd == pytest.approx(by_hand(6), rel=1e-6)
    model.update(phi[6:], r[6:])
    assert model.noise_sd == pytest.approx(by_hand(30), rel=1e-6)


def test_the_float32_copies_scoring_reads_follow_each_update():
    phi, r = _ridge_data(7)
    model = RidgeModel([3, 2])
    stale = (model.cov_f32.copy(), model.chol_rest_f32.copy())
    model.update(phi, r)
    inverse = np.linalg.inv(model.A)
    wide = RidgeModel(block_widths())  # the learners' width: a different factorisation shows in the last bits
    wide.update(np.random.default_rng(9).normal(size=(300, wide.d)), np.random.default_rng(10).normal(size=300))
    assert np.array_equal(wide.cov, inverse_of(wide.A))  # the same operations, bit for bit (inverse_of's promise)
    np.testing.assert_allclose(model.cov, inverse, rtol=1e-10)
    np.testing.assert_allclose(model.cov_f32, inverse, rtol=1e-6)
    chol = model.chol_rest_f32.astype(np.float64)
    np.testing.assert_allclose(chol @ chol.T, inverse[3:, 3:], rtol=1e-5)
    assert not np.allclose(model.cov_f32, stale[0]) and not np.allclose(model.chol_rest_f32, stale[1])
    assert model.theta_f32.dtype == np.float32 and np.array_equal(model.theta_f32, model.theta.astype(np.float32))


def test_scores_are_computed_in_float32_from_a_float64_estimate():
    """The module's contract: the model is solved in float64, scoring runs in float32."""
    widths = block_widths()
    theta = np.random.default_rng(1).normal(size=sum(widths))
    feats = arm_features(contexts(np.random.default_rng(0), 4))
    scores = mean_scores(theta, feats, RidgeModel(widths))
    assert {x.dtype for x in (scores.none, scores.contact, scores.offer, scores.channel, scores.slot)} == {np.dtype(np.float32)}
    np.testing.assert_allclose(scores.none, feats.base @ theta[: widths[0]], rtol=1e-5)


def test_a_saved_ridge_model_comes_back_with_its_penalty():
    phi, r = _ridge_data(8)
    model = RidgeModel([3, 2], ridge=2.5)
    model.update(phi, r)
    again = RidgeModel.from_state(RidgeModel.from_state(model.state()).state())
    assert (again.ridge, again.n_obs, again.weight, again.widths) == (2.5, 40, 40.0, [3, 2])
    assert np.array_equal(again.theta, model.theta) and again.noise_sd == model.noise_sd


SAMPLING = {
    "epsilon_greedy": lambda: EpsilonGreedy(epsilon=0.3),
    "thompson_additive": lambda: LinearThompson(scale=0.3, propensity_draws=7),
    "bootstrap": lambda: BootstrapEnsemble(members=6, prior_scale=0.5),
    "thompson": lambda: make_policy("thompson", None, {"propensity_draws": 7}),
}


def _warmed(name: str, n: int = 300):
    """A learner after one day of feedback on the synthetic problem, and the next day's observations and mask."""
    policy = SAMPLING[name]()
    rng = np.random.default_rng(3)
    obs, mask = contexts(rng, n), ActionMask(rng.random((n, N_CHANNELS)) < 0.7)
    first = policy.act(obs, mask, DecisionContext(0, 0, np.random.default_rng(0), np.arange(n)))
    feats = arm_features(obs, policy.nonlinear)
    truth = mean_scores(synthetic_theta(policy.nonlinear), feats, RidgeModel(block_widths(policy.nonlinear)))
    value = np.concatenate([truth.none[:, None], truth.full().reshape(n, -1)], axis=1)[np.arange(n), first.actions]
    policy.update(Feedback(np.zeros(n), obs, first.actions, first.propensity, value + rng.normal(0, 0.5, n), first.actions > 0))
    return policy, contexts(rng, n), mask


@pytest.mark.parametrize("name", list(SAMPLING))
def test_a_sampling_learner_ranks_its_sends_by_their_gain_and_reports_its_share_off_greedy(name):
    """The priority the budget keeps sends by is the chosen send's gain over no contact (positive exactly for sends),
    and the exploration rate TensorBoard shows is the share of decisions that differ from the greedy choice."""
    policy, obs, mask = _warmed(name)
    d = policy.act(obs, mask, DecisionContext(1, 1, np.random.default_rng(1), np.arange(len(obs))))
    greedy, gain = policy.greedy(arm_features(obs, policy.nonlinear), mask)
    assert d.priority is not None and d.priority.shape == (len(obs),)
    if name == "epsilon_greedy":  # the greedy send's gain over no contact, by brute force over every allowed arm
        scores = mean_scores(policy.model.theta, arm_features(obs, policy.nonlinear), policy.model)
        best = scores.full(mask.channel_ok).reshape(len(obs), -1).max(axis=1) - scores.none
        # where no send beats no contact (or no channel is allowed), the greedy choice is no contact and gains 0
        np.testing.assert_allclose(d.priority, np.maximum(best, 0.0), rtol=1e-4, atol=1e-4)
    elif name == "bootstrap":
        np.testing.assert_allclose(d.priority, gain, rtol=1e-6)
    else:  # the sampled draw's choice: a send exactly where its sampled gain is positive
        assert np.array_equal(d.priority > 0, d.actions > 0)
    share = float((d.actions != greedy).mean())
    assert policy.exploration == share and 0 < share < 1


@pytest.mark.parametrize("name", ["thompson_additive", "thompson"])
def test_a_sampled_probability_is_a_vote_share_over_the_acting_draw_and_the_propensity_draws(name):
    """With D propensity draws, each action's probability is the share of D + 1 pooled draws that choose it."""
    policy, obs, mask = _warmed(name)
    probs = policy.action_probabilities(obs, mask, DecisionContext(1, 1, np.random.default_rng(2), np.arange(len(obs))))
    votes = probs * 8
    np.testing.assert_allclose(votes, np.round(votes), atol=1e-9)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)

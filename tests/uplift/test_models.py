"""The uplift learners: on a problem with a known per-customer uplift they rank customers well; seeded; bad inputs refused."""

from __future__ import annotations

import numpy as np
import pytest

from uplift import metrics
from uplift.checks import UpliftInputError
from uplift.models import MODELS, BoostingParams, make_model


def known_uplift(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features, treatment codes 0..2 (thirds at random), profit outcomes, and each customer's true (n, 2) uplift.

    Treatment 1 helps customers with a high x0 (and hurts those with a low one), treatment 2 those with
    a high x1; the outcome's baseline depends on x2, which carries no uplift, and its noise is large.
    """
    rng = np.random.default_rng(seed)
    x = rng.random((n, 4))
    tau = np.column_stack([2.0 * (x[:, 0] - 0.3), 1.5 * x[:, 1] ** 2])
    t = rng.integers(0, 3, n)
    y = 3.0 * x[:, 2] + np.where(t > 0, tau[np.arange(n), np.maximum(t - 1, 0)], 0.0) + rng.normal(0.0, 1.0, n)
    return x, t, y, tau


@pytest.fixture(scope="module")
def problem():
    return known_uplift(6000, 0), known_uplift(6000, 1)


@pytest.mark.parametrize("name", list(MODELS))
def test_the_model_ranks_held_out_customers_better_than_random_and_near_the_oracle(name, problem):
    (x, t, y, _), (x_new, t_new, y_new, tau_new) = problem
    predicted = make_model(name, seed=0).fit(x, t, y).predict(x_new)
    assert predicted.shape == (len(x_new), 2)
    rng = np.random.default_rng(9)
    for arm in (1, 2):
        rows, treated = metrics.arm_rows(t_new, arm)
        scores = {"model": predicted[rows, arm - 1], "oracle": tau_new[rows, arm - 1], "random": rng.random(int(rows.sum()))}
        table = metrics.evaluate(scores, treated, y_new[rows], replicates=200, seed=arm,
                                 differences=(("model", "random"), ("oracle", "model"))).set_index(["scorer", "metric"])
        assert table.loc[("model - random", "qini"), "low"] > 0, f"arm {arm}: the model does not beat random targeting"
        oracle, model = table.loc[("oracle", "qini"), "value"], table.loc[("model", "qini"), "value"]
        assert model > 0.75 * oracle, f"arm {arm}: Qini {model:.3f}, far below the oracle's {oracle:.3f}"
        assert np.corrcoef(predicted[rows, arm - 1], tau_new[rows, arm - 1])[0, 1] > 0.7


@pytest.mark.parametrize("name", list(MODELS))
def test_the_same_seed_gives_the_same_predictions_bit_for_bit(name, problem):
    (x, t, y, _), (x_new, *_rest) = problem
    first = make_model(name, seed=4).fit(x[:2000], t[:2000], y[:2000]).predict(x_new[:500])
    again = make_model(name, seed=4).fit(x[:2000], t[:2000], y[:2000]).predict(x_new[:500])
    assert np.array_equal(first, again)


def test_a_binary_outcome_gets_effects_between_minus_one_and_one(problem):
    (x, t, y, _), _ = problem
    response = (y > np.median(y)).astype(np.float64)
    predicted = make_model("t", seed=0).fit(x, t, response).predict(x)
    assert np.all(np.abs(predicted) <= 1.0 + 1e-9)


def test_bad_inputs_are_refused_by_name(problem):
    (x, t, y, _), _ = problem
    with pytest.raises(UpliftInputError, match=r"treatment: treatment 2 has no rows \(codes present: \[0, 1, 3\]\)"):
        make_model("t").fit(x, np.where(t == 2, 3, t), y)
    with pytest.raises(UpliftInputError, match=r"treatment: the control \(0\) has no rows"):
        make_model("x").fit(x, t + 1, y)
    with pytest.raises(UpliftInputError, match=r"y: 1 value\(s\) NaN or infinite \(first at row 5: nan\)"):
        make_model("t").fit(x, t, np.where(np.arange(len(y)) == 5, np.nan, y))
    with pytest.raises(UpliftInputError, match=r"treatment: values of type float64 \(e.g. 0.5\); allowed: integer codes"):
        make_model("t").fit(x, t + 0.5, y)
    with pytest.raises(UpliftInputError, match=r"y: 10 values, but 6000 customers"):
        make_model("t").fit(x, t, y[:10])
    with pytest.raises(UpliftInputError, match=r"TLearner: predict before fit"):
        make_model("t").predict(x)
    with pytest.raises(UpliftInputError, match=r"X: 3 features, but the model was fitted on 4"):
        make_model("t", params=BoostingParams(max_iter=5)).fit(x, t, y).predict(x[:, :3])
    with pytest.raises(UpliftInputError, match=r"model='s': unknown; allowed: t, x"):
        make_model("s")
    with pytest.raises(UpliftInputError, match=r"learning_rate=0.0; allowed: in \(0, 1\]"):
        BoostingParams(learning_rate=0.0)

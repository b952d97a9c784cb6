"""Uplift metrics: a hand-computed example, the perfect and the random order, weights, paired intervals, refusals by name."""

from __future__ import annotations

import numpy as np
import pytest

from uplift import metrics
from uplift.checks import UpliftInputError

# Four customers, treated / control alternating; the treated first responds, the control last responds.
TREATED = np.array([1, 0, 1, 0])
Y = np.array([1.0, 0.0, 0.0, 1.0])
WORST = np.array([1.0, 2.0, 3.0, 4.0])  # ranks the control responder first, the treated responder last


def test_curves_areas_and_uplift_at_k_match_the_hand_computation():
    # top 1..4 by WORST: control y=1; + treated y=0; + control y=0; + treated y=1
    qini = metrics.qini_curve(WORST, TREATED, Y)
    np.testing.assert_allclose(qini.x, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(qini.y, [0, 0, -1, -0.5, 0])  # Y_T - Y_C * N_T / N_C
    uplift = metrics.uplift_curve(WORST, TREATED, Y)
    np.testing.assert_allclose(uplift.y, [0, -1, -2, -1.5, 0])  # (Y_T/N_T - Y_C/N_C) * (N_T + N_C)
    # perfect scores y(2t-1) = [1, 0, 0, -1]: Qini [0, 1, 1, 0] at x [0, 1, 3, 4] (area 3); uplift [0, 1, 1.5, 0] (area 3.75)
    assert metrics.qini_coefficient(WORST, TREATED, Y) == pytest.approx(-1.5 / 3)
    assert metrics.auuc(WORST, TREATED, Y) == pytest.approx(-4.5 / 3.75)
    assert metrics.uplift_at_k(WORST, TREATED, Y, k=0.5) == pytest.approx(0 - 1)  # top treated (y=0) minus top control (y=1)
    assert metrics.uplift_at_k(WORST[::-1], TREATED, Y, k=0.5, strategy="overall") == pytest.approx(1 - 0)


def test_tied_scores_enter_the_curve_together():
    curve = metrics.qini_curve(np.array([1.0, 1.0, 0.0, 0.0]), TREATED, Y)
    np.testing.assert_allclose(curve.x, [0, 2, 4])
    np.testing.assert_allclose(curve.y, [0, 1, 0])


def synthetic_log(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    effect = rng.random(n) * 0.3
    treated = rng.random(n) < 0.5
    y = (rng.random(n) < 0.1 + effect * treated).astype(np.float64)
    return effect, treated, y


def test_the_perfect_scores_give_the_largest_curve_and_random_ones_none():
    effect, treated, y = synthetic_log(4000, 1)
    perfect = metrics.perfect_scores(treated, y)
    assert metrics.qini_coefficient(perfect, treated, y) == pytest.approx(1.0)
    assert metrics.auuc(perfect, treated, y) == pytest.approx(1.0)
    top = metrics.qini_curve(perfect, treated, y).y.max()
    rng = np.random.default_rng(2)
    for scores in [effect, *(rng.random(len(y)) for _ in range(20))]:
        assert metrics.qini_coefficient(scores, treated, y) < 1.0
        assert metrics.qini_curve(scores, treated, y).y.max() <= top
    random_qini = [metrics.qini_coefficient(rng.random(len(y)), treated, y) for _ in range(200)]
    assert abs(np.mean(random_qini)) < 3 * np.std(random_qini) / np.sqrt(len(random_qini))  # random targeting: 0 in expectation
    assert metrics.qini_coefficient(effect, treated, y) > np.quantile(random_qini, 0.99)  # the true effect ranks better than chance


def test_one_assignment_probability_weighs_nothing_and_unequal_ones_are_undone():
    effect, treated, y = synthetic_log(2000, 3)
    assert metrics.qini_coefficient(effect, treated, y, propensity=0.3) == metrics.qini_coefficient(effect, treated, y)
    # a log where half the customers (who respond more) were treated with probability 0.9, the rest with 0.1
    rng = np.random.default_rng(4)
    n = 200_000
    keen = rng.random(n) < 0.5
    p = np.where(keen, 0.9, 0.1)
    treated = rng.random(n) < p
    y = (rng.random(n) < np.where(keen, 0.5, 0.1) + 0.05 * treated).astype(np.float64)  # true effect 0.05 for everyone
    everyone = np.zeros(n)
    naive = metrics.uplift_at_k(everyone, treated, y, k=1.0)
    weighted = metrics.uplift_at_k(everyone, treated, y, k=1.0, propensity=p)
    assert naive > 0.25 and weighted == pytest.approx(0.05, abs=0.01)


def test_evaluate_is_paired_deterministic_and_brackets_its_values():
    effect, treated, y = synthetic_log(3000, 5)
    scores = {"effect": effect, "noise": np.random.default_rng(6).random(len(y))}
    table = metrics.evaluate(scores, treated, y, replicates=100, seed=7, differences=(("effect", "noise"), ("effect", "effect")))
    again = metrics.evaluate(scores, treated, y, replicates=100, seed=7, differences=(("effect", "noise"), ("effect", "effect")))
    assert table.equals(again)
    other = metrics.evaluate(scores, treated, y, replicates=100, seed=8)
    assert not np.array_equal(table["low"].to_numpy()[:8], other["low"].to_numpy())
    assert list(table["scorer"].unique()) == ["effect", "noise", "effect - noise", "effect - effect"]
    assert list(table["metric"].unique()) == list(metrics.METRICS)
    assert ((table["low"] <= table["value"]) & (table["value"] <= table["high"])).all()
    same = table[table["scorer"] == "effect - effect"]
    assert (same[["value", "low", "high"]].to_numpy() == 0).all()  # the same resamples for both: no spread at all
    assert table.set_index(["scorer", "metric"]).loc[("effect - noise", "qini"), "low"] > 0


def test_a_multi_arm_log_is_cut_into_one_treatment_against_the_control():
    rows, treated = metrics.arm_rows(np.array([0, 2, 1, 2, 0]), 2)
    np.testing.assert_array_equal(rows, [True, True, False, True, True])
    np.testing.assert_array_equal(treated, [False, True, True, False])
    with pytest.raises(UpliftInputError, match=r"treatment 3 has no rows \(codes present: \[0, 1, 2\]\)"):
        metrics.arm_rows(np.array([0, 2, 1, 2, 0]), 3)
    with pytest.raises(UpliftInputError, match=r"the control \(0\) has no rows"):
        metrics.arm_rows(np.array([1, 2, 1]), 1)


@pytest.mark.parametrize(("treated", "y", "score", "message"), [
    ([1, 0, 2, 0], [1, 0, 0, 1], [1, 2, 3, 4], r"treated: value 2 at row 2; allowed: 0 = control, 1 = treatment"),
    ([1, 1, 1, 1], [1, 0, 0, 1], [1, 2, 3, 4], r"treated: the control \(0\) has no rows"),
    ([1, 0, 1, 0], [1, np.nan, 0, 1], [1, 2, 3, 4], r"y: 1 value\(s\) NaN or infinite \(first at row 1: nan\); allowed: finite numbers"),
    ([1, 0, 1], [1, 0, 0, 1], [1, 2, 3, 4], r"treated: shape \(3,\), but 4 customers"),
    ([1, 0, 1, 0], [1, 0, 0, 1], [1, 2, 3], r"score: 3 values, but 4 customers"),
    ([1, 0, 1, 0], [1, 0, 0, 1], [1, 2, np.inf, 4], r"score: 1 value\(s\) NaN or infinite"),
])
def test_bad_inputs_are_refused_by_name_value_and_what_is_allowed(treated, y, score, message):
    with pytest.raises(UpliftInputError, match=message):
        metrics.qini_coefficient(np.array(score, dtype=float), np.array(treated), np.array(y, dtype=float))


def test_bad_settings_are_refused():
    with pytest.raises(UpliftInputError, match=r"k=0; allowed: a share of the customers in \(0, 1\]"):
        metrics.uplift_at_k(WORST, TREATED, Y, k=0)
    with pytest.raises(UpliftInputError, match=r"strategy='top'; allowed: by_group, overall"):
        metrics.uplift_at_k(WORST, TREATED, Y, strategy="top")
    with pytest.raises(UpliftInputError, match=r"propensity: value 1.0 at row 0"):
        metrics.qini_coefficient(WORST, TREATED, Y, propensity=np.array([1.0, 0.5, 0.5, 0.5]))
    with pytest.raises(UpliftInputError, match=r"differences: 'other' is not a scorer; allowed: worst"):
        metrics.evaluate({"worst": WORST}, TREATED, Y, differences=(("worst", "other"),))

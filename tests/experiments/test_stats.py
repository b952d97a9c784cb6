"""The intervals against worked examples computed by hand, and against scipy on small, unequal samples."""

import numpy as np
import pytest
from scipy import stats

from experiments.stats import mean_ci, paired_diff_ci, proportion_ci, proportion_diff_ci, welch_diff_ci


def test_mean_ci_matches_a_worked_example():
    # x = 1..5: mean 3, s = sqrt(2.5) = 1.5811, t(0.975, 4) = 2.7764, half-width = 2.7764 * 1.5811 / sqrt(5) = 1.9633
    ci = mean_ci(np.array([1, 2, 3, 4, 5]))
    assert ci.mean == 3.0
    assert ci.low == pytest.approx(3 - 1.96324, abs=1e-4)
    assert ci.high == pytest.approx(3 + 1.96324, abs=1e-4)


def test_paired_difference_cancels_shared_noise():
    # Seeds vary a lot, but B is always A + 1: the paired interval is exactly [1, 1].
    a = np.array([10.0, 50.0, 30.0, 90.0])
    ci = paired_diff_ci(a + 1, a)
    assert (ci.mean, ci.low, ci.high) == (1.0, 1.0, 1.0)
    assert ci.excludes_zero()
    # Worked example: differences 1, 3, 2 -> mean 2, s = 1, t(0.975, 2) = 4.3027, half = 4.3027 / sqrt(3) = 2.4841
    ci = paired_diff_ci([11, 13, 12], [10, 10, 10])
    assert ci.low == pytest.approx(2 - 2.48414, abs=1e-4) and not ci.excludes_zero()


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="no values"):
        mean_ci([])
    with pytest.raises(ValueError, match="pair up"):
        paired_diff_ci([1, 2], [1, 2, 3])


def test_one_seed_gives_no_interval_and_supports_no_claim():
    one = mean_ci([4.0])
    assert one.mean == 4.0 and np.isnan(one.low) and np.isnan(one.high)
    assert not one.excludes_zero() and not paired_diff_ci([5.0], [1.0]).excludes_zero()
    assert str(one) == "4.00 [no interval from 1 value]"


# Small, unequal samples: a wrong n, a pooled variance or the wrong degrees of freedom changes these intervals visibly.
SMALL = np.array([2.1, 3.9, 3.0, 5.4])
WIDE = np.array([10.2, -1.5, 7.7, 0.4, 12.9, 3.3, -4.1, 8.8, 5.0])


@pytest.mark.parametrize("level", [0.95, 0.8])
def test_welch_interval_is_scipys_on_small_unequal_samples(level):
    reference = stats.ttest_ind(SMALL, WIDE, equal_var=False).confidence_interval(level)
    for a, b, sign in ((SMALL, WIDE, 1), (WIDE, SMALL, -1)):
        ci = welch_diff_ci(a, b, level)
        low, high = (reference.low, reference.high) if sign == 1 else (-reference.high, -reference.low)
        assert (ci.low, ci.high) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))
        assert ci.mean == pytest.approx(sign * (SMALL.mean() - WIDE.mean()), rel=1e-12) and ci.n == 13
    pooled = stats.ttest_ind(SMALL, WIDE, equal_var=True).confidence_interval(level)
    assert abs(welch_diff_ci(SMALL, WIDE, level).low - pooled.low) > 0.5  # the samples tell Welch's interval from the pooled one


@pytest.mark.parametrize("level", [0.95, 0.9])
def test_mean_interval_is_scipys_t_interval(level):
    low, high = stats.t.interval(level, WIDE.size - 1, loc=WIDE.mean(), scale=stats.sem(WIDE))
    ci = mean_ci(WIDE, level)
    assert (ci.low, ci.high, ci.n) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12), 9)


def wald(p: float, n: int, level: float) -> float:
    """The Wald half-width from its definition: z_{(1+level)/2} sqrt(p (1 - p) / n)."""
    return stats.norm.ppf((1 + level) / 2) * np.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("level", [0.95, 0.9])
def test_proportion_intervals_are_the_wald_intervals_of_their_own_sample_sizes(level):
    a = np.array([1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1])  # 9 of 12
    b = np.array([0, 1, 0, 0, 1])  # 2 of 5
    one = proportion_ci(a, level)
    assert (one.mean, one.n) == (0.75, 12)
    assert (one.low, one.high) == (pytest.approx(0.75 - wald(0.75, 12, level), rel=1e-12), pytest.approx(0.75 + wald(0.75, 12, level), rel=1e-12))
    diff = proportion_diff_ci(a, b, level)
    half = stats.norm.ppf((1 + level) / 2) * np.sqrt(0.75 * 0.25 / 12 + 0.4 * 0.6 / 5)
    assert diff.mean == pytest.approx(0.35, rel=1e-12) and diff.n == 17
    assert (diff.low, diff.high) == (pytest.approx(0.35 - half, rel=1e-12), pytest.approx(0.35 + half, rel=1e-12))
    # each proportion's variance is over its own n: with the sizes swapped, or one n for both, the width differs
    for wrong in (np.sqrt(0.75 * 0.25 / 5 + 0.4 * 0.6 / 12), np.sqrt((0.75 * 0.25 + 0.4 * 0.6) / 17)):
        assert abs(diff.high - diff.mean - stats.norm.ppf((1 + level) / 2) * wrong) > 0.02

"""The intervals against worked examples computed by hand, and against scipy on small, unequal samples."""

import numpy as np
import pytest
from scipy import stats

from experiments.stats import Interval, mean_ci, paired_diff_ci, proportion_ci, proportion_diff_ci, welch_diff_ci


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


def test_an_interval_that_touches_or_straddles_zero_does_not_exclude_it():
    assert Interval(0.5, 0.1, 0.9, 5).excludes_zero() and Interval(-0.5, -0.9, -0.1, 5).excludes_zero()
    for low, high in ((0.0, 2.0), (-2.0, 0.0), (-1.0, 0.5), (-0.5, 1.5)):
        assert not Interval((low + high) / 2, low, high, 5).excludes_zero(), (low, high)


def test_two_values_already_give_an_interval():
    # 1 and 3: mean 2, s = sqrt(2), t(0.975, 1) = 12.7062, half-width = 12.7062 * sqrt(2) / sqrt(2)
    ci = mean_ci([1.0, 3.0])
    assert (ci.low, ci.high, ci.n) == (pytest.approx(2 - 12.7062, abs=1e-4), pytest.approx(2 + 12.7062, abs=1e-4), 2)


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.2])
def test_a_level_outside_0_1_is_refused_naming_it(level):
    with pytest.raises(ValueError, match=rf"^level={level}: must be in \(0, 1\)$"):
        mean_ci([1.0, 2.0, 4.0], level)
    with pytest.raises(ValueError, match="^mean_ci: no values$"):
        mean_ci([], 0.95)


def test_the_default_level_is_95_percent_for_every_interval():
    assert mean_ci(WIDE) == mean_ci(WIDE, 0.95) and paired_diff_ci(WIDE, WIDE[::-1]) == paired_diff_ci(WIDE, WIDE[::-1], 0.95)
    reference = stats.ttest_ind(SMALL, WIDE, equal_var=False).confidence_interval(0.95)
    assert welch_diff_ci(SMALL, WIDE).low == pytest.approx(reference.low, rel=1e-12)
    a, b = np.array([1, 0, 1, 1, 0, 1]), np.array([0, 0, 1, 0])
    assert proportion_ci(a).high == pytest.approx(4 / 6 + wald(4 / 6, 6, 0.95), rel=1e-12)
    half = stats.norm.ppf(0.975) * np.sqrt(4 / 6 * 2 / 6 / 6 + 0.25 * 0.75 / 4)
    assert proportion_diff_ci(a, b).low == pytest.approx(4 / 6 - 0.25 - half, rel=1e-12)


def test_a_paired_difference_uses_the_level_it_is_given():
    a, b = np.array([3.0, 7.5, 4.25, 9.0, 6.0]), np.array([2.0, 5.0, 4.0, 5.5, 6.5])
    low, high = stats.t.interval(0.8, 4, loc=(a - b).mean(), scale=stats.sem(a - b))
    ci = paired_diff_ci(a, b, 0.8)
    assert (ci.low, ci.high) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))


def test_single_precision_values_are_summarised_in_double_precision():
    # float32 columns (a parquet table, a tensor) give the interval of their exact values, not float32 roundings of it
    a32, b32 = SMALL.astype(np.float32), WIDE.astype(np.float32)
    a, b = a32.astype(np.float64), b32.astype(np.float64)
    exact = stats.t.interval(0.95, a.size - 1, loc=a.mean(), scale=stats.sem(a))
    assert (mean_ci(a32).mean, mean_ci(a32).low) == (pytest.approx(a.mean(), rel=1e-14), pytest.approx(exact[0], rel=1e-14))
    diff = b32[:4] - a32
    paired = paired_diff_ci(b32[:4], a32)
    assert paired.mean == pytest.approx((b[:4] - a).mean(), rel=1e-14) and paired.mean != float(diff.mean())
    welch = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    for x, y in ((a32, b), (a, b32)):
        ci = welch_diff_ci(x, y)
        assert (ci.mean, ci.low, ci.high) == (pytest.approx(a.mean() - b.mean(), rel=1e-14), pytest.approx(welch.low, rel=1e-14),
                                              pytest.approx(welch.high, rel=1e-14))
    third = np.array([1, 0, 0] * 4, dtype=np.float32)  # a proportion of 1/3, not representable in float32
    assert proportion_ci(third).mean == 1 / 3
    for x, y in ((third, np.ones(4)), (np.ones(4), third)):
        assert abs(proportion_diff_ci(x, y).mean) == pytest.approx(2 / 3, rel=1e-15)


def test_samples_without_spread_give_a_zero_width_interval_at_their_difference():
    ci = welch_diff_ci(np.full(3, 5.0), np.full(4, 2.0))
    assert (ci.mean, ci.low, ci.high, ci.n) == (3.0, 3.0, 3.0, 7)
    # equal, non-zero variances of the means: an ordinary interval, not the zero-width one
    a, b = np.array([1.0, 2.0, 3.0]), np.array([5.0, 6.0, 7.0])
    reference = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (welch_diff_ci(a, b).low, welch_diff_ci(a, b).high) == (pytest.approx(reference.low), pytest.approx(reference.high))


def test_non_finite_values_print_as_python_prints_them():
    assert format(mean_ci([np.inf])) == "inf [no interval from 1 value]"
    assert f"{Interval(1.0, -np.inf, np.inf, 3)}" == "1.00 [-inf, inf]"


def test_values_with_a_nan_say_so_instead_of_claiming_one_value():
    ci = mean_ci([1.0, np.nan, 3.0])
    assert np.isnan(ci.mean) and not ci.excludes_zero()
    assert str(ci) == "nan [no interval NaN among the 3 values]"

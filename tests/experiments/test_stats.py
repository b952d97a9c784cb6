"""The intervals against worked examples computed by hand."""

import numpy as np
import pytest

from experiments.stats import mean_ci, paired_diff_ci


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

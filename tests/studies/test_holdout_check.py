"""The hold-out study on the project's split says what its page says; its pass rates carry exact binomial intervals."""

from __future__ import annotations

import pytest

from experiments.calibration import hillstrom
from studies import holdout_check


def test_holdout_check_on_the_projects_split_says_what_its_page_says():
    halving = holdout_check.check(hillstrom.load(), split_seed=2008)
    assert len(halving.keys) == len(halving.inside) == 15 and halving.inside.dtype == bool
    outside = {k for k, hit in zip(halving.keys, halving.inside) if not hit}
    assert outside == {("Mens E-Mail", "visit"), ("Mens E-Mail", "visit_lift")}  # the fit half's own values, held out
    # The held-out test takes the same perfect simulator: two values outside their intervals, yet well inside the joint test.
    assert halving.test.df == 9 and halving.test.statistic == pytest.approx(8.04, abs=0.005) and halving.test.passed


def test_a_pass_rate_carries_its_clopper_pearson_interval():
    """19 of 20: the exact interval [0.7513, 0.9987] (tables of the binomial); 0 of 10: [0, 0.3085] (1 - 0.025^(1/10))."""
    assert holdout_check.pass_rate([True] * 19 + [False]) == pytest.approx((0.95, 0.7513, 0.9987), abs=5e-5)
    assert holdout_check.pass_rate([False] * 10) == pytest.approx((0.0, 0.0, 1 - 0.025 ** (1 / 10)), abs=1e-9)

"""The hold-out check on the project's split misses the values its page says."""

from __future__ import annotations

from experiments.calibration import hillstrom
from studies import holdout_check


def test_holdout_check_on_the_projects_split_misses_what_its_page_says():
    keys, inside = holdout_check.inside(hillstrom.load(), split_seed=2008)
    assert len(keys) == len(inside) == 15 and inside.dtype == bool
    outside = {k for k, hit in zip(keys, inside) if not hit}
    assert outside == {("Mens E-Mail", "visit"), ("Mens E-Mail", "visit_lift")}  # the fit half's own values, held out

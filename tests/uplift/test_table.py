"""A randomised log as a table: a missing treatment or outcome column, a missing control, an unseen category are named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from uplift.checks import UpliftInputError
from uplift.table import FeatureEncoder, read_log

FEATURES = ["recency", "zip_code"]


def table() -> pd.DataFrame:
    return pd.DataFrame({"segment": ["none", "a", "b", "none", "a", "c"], "visit": [0, 1, 1, 0, 0, 1],
                         "recency": [1, 2, 3, 4, 5, 6], "zip_code": ["Urban", "Rural", "Urban", "Rural", "Urban", "Urban"]})


def test_the_log_codes_the_arms_and_encodes_the_features():
    log = read_log(table(), "segment", "none", "visit", FEATURES, arms=["b", "a"])
    assert log.arms == ("none", "b", "a")
    np.testing.assert_array_equal(log.treatment, [0, 2, 1, 0, 2])  # the arm c is not asked for: its row is left out
    assert log.encoder.names == ["recency", "zip_code=Rural", "zip_code=Urban"]
    np.testing.assert_array_equal(log.X[1], [2, 1, 0])
    every = read_log(table(), "segment", "none", "visit", FEATURES)
    assert every.arms == ("none", "a", "b", "c") and len(every.y) == 6


@pytest.mark.parametrize(("drop", "role"), [("segment", "the treatment"), ("visit", "the outcome"), ("zip_code", "a feature")])
def test_a_missing_column_is_named_with_its_role(drop, role):
    with pytest.raises(UpliftInputError, match=rf"pilot.csv: no column '{drop}' \({role}\); the table's columns: "):
        read_log(table().drop(columns=drop), "segment", "none", "visit", FEATURES, source="pilot.csv")


def test_bad_values_are_named():
    with pytest.raises(UpliftInputError, match=r"column 'segment' has no row of the control 'No E-Mail'; its values: a, b, c, none"):
        read_log(table(), "segment", "No E-Mail", "visit", FEATURES)
    with pytest.raises(UpliftInputError, match=r"has no row of the treatment 'd'"):
        read_log(table(), "segment", "none", "visit", FEATURES, arms=["a", "d"])
    nan = table().assign(visit=[0, 1, np.nan, 0, 0, 1])
    with pytest.raises(UpliftInputError, match=r"column 'visit' \(the outcome\) has 1 missing, non-numeric or infinite value\(s\)"):
        read_log(nan, "segment", "none", "visit", FEATURES)
    encoder = FeatureEncoder.fit(table(), FEATURES)
    with pytest.raises(UpliftInputError, match=r"column 'zip_code' has category 'Suburban', unseen by the fit; allowed: Rural, Urban"):
        read_log(table().assign(zip_code="Suburban"), "segment", "none", "visit", FEATURES, encoder=encoder)

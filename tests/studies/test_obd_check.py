"""The Open Bandit Dataset check: the copied data is the documented data, bts's probabilities are rankings' shares, a tiny slice runs."""

from __future__ import annotations

import gzip
import hashlib
import re

import numpy as np
import pytest

from sim.resources import data_dir
from studies import obd_check


def test_the_copied_logs_are_the_ones_the_readme_documents():
    readme = (data_dir() / "obd" / "README.md").read_text()
    documented = dict(re.findall(r"`(\w+\.csv)`: `([0-9a-f]{64})`", readme))
    assert len(documented) == 6
    for name, digest in documented.items():
        assert hashlib.sha256(gzip.decompress((data_dir() / "obd" / f"{name}.gz").read_bytes())).hexdigest() == digest, name


def test_bts_prior_probabilities_are_the_shares_of_rankings_that_put_each_item_at_each_position():
    rng = np.random.default_rng(0)
    even = obd_check.bts_prior_probabilities(np.ones(6), np.ones(6), 60_000, rng)
    np.testing.assert_allclose(even.sum(axis=0), 1.0)
    np.testing.assert_allclose(even, 1 / 6, atol=0.01)  # exchangeable items: every item equally likely at every position
    # An item whose click rate is surely 0.99 is always first; one surely near 0 never shows.
    skewed = obd_check.bts_prior_probabilities(np.array([990.0, 1.0, 1.0, 1.0, 0.001]), np.array([10.0, 10.0, 10.0, 10.0, 1000.0]), 20_000, rng)
    assert skewed[0, 0] == 1.0 and skewed[0, 1:].sum() == 0.0 and skewed[4].sum() == 0.0
    alpha, beta = obd_check.prior("men")
    assert alpha.size == beta.size == 34


def test_a_tiny_slice_estimates_bts_click_rate_by_every_estimator():
    table = obd_check.check("men", n_sim=2_000, replicates=100, seed=0, rows=2_000)
    assert len(table) == 12 and set(table.bts_probabilities) == {"prior", "logged"} and table.estimate.notna().all()
    assert (table.low <= table.estimate).all() and (table.estimate <= table.high).all()
    random, bts = obd_check.load("random", "men", 2_000), obd_check.load("bts", "men", 2_000)
    pi = obd_check.logged_frequencies(bts, 34)
    w = pi[random.item_id, random.position] / random.propensity_score
    ips = table[(table.bts_probabilities == "logged") & (table.estimator == "ips")].estimate.iloc[0]
    assert ips == pytest.approx(float((w * random.click).mean()), rel=1e-12)
    assert table.bts_click_rate.iloc[0] == pytest.approx(bts.click.mean())

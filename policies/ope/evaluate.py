"""A candidate policy's value on a decision log of :mod:`policies.decision_log`: every estimator, with its interval.

The pieces: the guardrail mask of each logged decision from its observation
(:func:`policies.decision_log.logged_mask`), the candidate's probabilities on the logged rows
(:func:`policies.ope.candidate.candidate_inputs`), the cross-fitted reward model
(:func:`policies.ope.reward_model.cross_fit`) and the estimators (:func:`policies.ope.estimators.estimate`).
A group of rows is one shopper of one market seed (``seed``, ``shopper``): folds and bootstrap
replicates take or leave a shopper's decisions together.

A logged decision that the guardrails refused ran as no contact with propensity 1
(:mod:`policies.attribution`); it is evaluated as such: the candidate is credited with no contact
in proportion to :math:`\\pi_e(0|x)`. Only matured decisions (the 7-day window closed) carry the
reward of the estimand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from policies.base import Policy
from policies.decision_log import logged_mask
from policies.ope.candidate import MARKET_CODING, candidate_inputs
from policies.ope.estimators import Estimate, Logged, estimate
from policies.ope.reward_model import cross_fit
from sim.features import FEATURE_NAMES


def shopper_groups(log: pd.DataFrame) -> np.ndarray:
    """(n,) 0..G-1: the group of each row, one per (``seed``, ``shopper``); an empty seed (a served log) is one seed."""
    return log.groupby(["seed", "shopper"], dropna=False, sort=True).ngroup().to_numpy()


def evaluate(policy: Policy, log: pd.DataFrame, frequency_cap_7d: int, *, seed: int, folds: int, ridge: float, fit_rows: int,
             replicates: int, min_support: int, level: float = 0.95) -> tuple[Estimate, Logged]:
    """The estimate of ``policy``'s mean matured reward per decision on ``log`` (matured rows that passed
    :func:`policies.decision_log.check_log`), and the per-row inputs it came from (for plots and checks).

    ``seed`` keys the candidate's random numbers, the folds, the reward model's subsamples and the
    bootstrap: the same log, policy and seed give the same numbers, bit for bit. BLAS runs on one
    thread, as in :func:`experiments.runner.run_policy`: the products are small, and on a busy machine
    a threaded BLAS spins more than it computes (measured: this task's tests took 29 s with two
    threads and 9 s with one on the 2 shared cores).
    """
    with threadpool_limits(limits=1):
        return _evaluate(policy, log, frequency_cap_7d, seed, folds, ridge, fit_rows, replicates, min_support, level)


def _evaluate(policy: Policy, log: pd.DataFrame, frequency_cap_7d: int, seed: int, folds: int, ridge: float, fit_rows: int,
              replicates: int, min_support: int, level: float) -> tuple[Estimate, Logged]:
    if not len(log):
        raise ValueError("the log has no matured decisions to evaluate on")
    if not log["matured"].all():
        raise ValueError(f"{int((~log['matured']).sum()):,} rows are not matured: their reward covers part of the window; leave them out")
    obs = log[list(FEATURE_NAMES)].to_numpy(dtype=np.float32)
    action = log["action"].to_numpy(dtype=np.int64)
    codes = shopper_groups(log)
    p_e, phi_policy = candidate_inputs(policy, obs, logged_mask(log, frequency_cap_7d), log["day"].to_numpy(dtype=np.int64), action,
                                       log["shopper"].to_numpy(), seed)
    reward = log["reward"].to_numpy(dtype=np.float64)
    q_logged, q_policy = cross_fit(obs, MARKET_CODING.table[action], phi_policy, reward, codes, MARKET_CODING.interacting.shape[1],
                                   folds=folds, ridge=ridge, fit_rows=fit_rows, seed=seed)
    data = Logged(reward, p_e / log["propensity"].to_numpy(dtype=np.float64), q_logged, q_policy)
    return estimate(data, codes, replicates, seed, level, min_support), data

r"""A candidate policy's action probabilities :math:`\pi_e(a|x)` on logged decisions, and the market's action coding.

A candidate answers, on each logged observation and its guardrail mask, with the probability of
every action. Three kinds of policy can:

- a policy with ``action_probabilities(obs, mask, context)`` (the linear bandits: exact, or
  estimated from posterior draws for Thompson sampling, as each documents);
- a policy with ``probabilities(obs, mask)`` (PPO, an exported ONNX policy, :class:`policies.baselines.RandomPolicy`);
- a deterministic policy: one whose every :class:`policies.base.Decision` carries propensity 1
  (no contact, ``blast``, the rule tables, PPO acting on its most probable action as it does by
  default). By the policy contract a propensity of 1 is :math:`\pi(a|x) = 1`, so its distribution
  is all mass on the action it chose; a policy that says it is ``deterministic`` is taken at its
  word before its ``probabilities()``, which describe the distribution it would draw from.

Any other policy (a randomised one that cannot say its probabilities) is refused. Policies that
read the market's latent state (the oracle, the reference) are refused by the caller, as a log does
not hold that state. The log is replayed day by day, in batches of at most ``batch`` rows: the
policy meets the logged rows of a day together, with that day's weekday, as it would meet the day's
shoppers (a policy whose choice for one shopper depends on the others in its batch, as LinUCB's
in-day design does, is evaluated on the logged rows as its batch, not the whole market's).
"""

from __future__ import annotations

import numpy as np

from policies.base import DecisionContext, Policy
from policies.ope.reward_model import ActionCoding
from sim.catalogue import ACTION_CHANNEL, ACTION_OFFER, ACTION_SLOT, N_ACTIONS, N_CHANNELS, N_OFFERS, N_SLOTS
from sim.features import FEATURE_NAMES
from sim.guardrails import ActionMask

WEEKDAY_COLUMNS = [FEATURE_NAMES.index(f"weekday_{d}") for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")]
TOLERANCE = 1e-6
"""how far a candidate's probabilities may sum from 1 (float rounding), and how much it may put on forbidden actions"""


class CandidateError(ValueError):
    """A candidate whose action probabilities cannot be had, or are not a distribution over its allowed actions."""


def _market_coding() -> ActionCoding:
    """:math:`\\phi(a)`: a constant, "sends", and the channel meet the context; the offer and the slot enter alone.

    No contact is the constant alone. The channel carries most of what a send costs and who opens
    it; the offer and the slot shift the reward the same way for everyone, in this model.
    """
    send = np.arange(N_ACTIONS) > 0
    interacting = np.zeros((N_ACTIONS, 2 + N_CHANNELS))
    interacting[:, 0] = 1.0
    interacting[send, 1] = 1.0
    interacting[send, 2 + ACTION_CHANNEL[send]] = 1.0
    alone = np.zeros((N_ACTIONS, N_OFFERS + N_SLOTS))
    alone[send, ACTION_OFFER[send]] = 1.0
    alone[send, N_OFFERS + ACTION_SLOT[send]] = 1.0
    return ActionCoding(interacting, alone)


MARKET_CODING = _market_coding()


def weekdays(obs: np.ndarray) -> np.ndarray:
    """(n,) 0 = Monday: the weekday each observation was made on, read from its calendar features."""
    one_hot = obs[:, WEEKDAY_COLUMNS]
    if not ((one_hot == 1).sum(axis=1) == 1).all():
        bad = int(np.flatnonzero((one_hot == 1).sum(axis=1) != 1)[0])
        raise CandidateError(f"weekday_mon..weekday_sun: row {bad:,} holds {one_hot[bad].tolist()}; allowed: one 1 and six 0")
    return one_hot.argmax(axis=1)


def distribution(policy: Policy, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> np.ndarray:
    """(n, N_ACTIONS) :math:`\\pi_e(\\cdot|x)` of ``policy`` on one batch, checked to be a distribution over its allowed actions."""
    drawing = not getattr(policy, "deterministic", False)  # a deterministic policy acts on one action, whatever it could draw
    if drawing and hasattr(policy, "action_probabilities"):
        probs = policy.action_probabilities(obs, mask, context)
    elif drawing and hasattr(policy, "probabilities"):
        probs = policy.probabilities(obs, mask)
    else:
        decision = policy.act(obs, mask, context)
        if not np.all(decision.propensity == 1):
            raise CandidateError(f"policy {policy.name!r}: randomised (propensities below 1) and has no probabilities(), so its "
                                 f"pi(a|x) is unknown; supported: deterministic policies, and those with probabilities() or "
                                 f"action_probabilities()")
        probs = np.zeros((len(obs), N_ACTIONS))
        probs[np.arange(len(obs)), decision.actions] = 1.0
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != (len(obs), N_ACTIONS):
        raise CandidateError(f"policy {policy.name!r}: probabilities of shape {probs.shape}, expected {(len(obs), N_ACTIONS)}")
    if (np.abs(probs.sum(axis=1) - 1) > TOLERANCE).any() or (probs < 0).any():
        raise CandidateError(f"policy {policy.name!r}: its probabilities are not a distribution (rows sum to "
                             f"{probs.sum(axis=1).min():.6g}..{probs.sum(axis=1).max():.6g})")
    if (probs[~mask.dense()] > TOLERANCE).any():
        raise CandidateError(f"policy {policy.name!r}: puts probability on actions its guardrail mask forbids")
    return probs


def candidate_inputs(policy: Policy, obs: np.ndarray, mask: ActionMask, day: np.ndarray, action: np.ndarray, rows: np.ndarray,
                     seed: int, coding: ActionCoding = MARKET_CODING, batch: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """:math:`\\pi_e(a_i|x_i)` (n,) and the candidate's expected action representation :math:`\\sum_a \\pi_e(a|x_i) \\phi(a)` (n, k).

    ``day`` (n,) and ``rows`` (n,) are the decision day and the shopper of each logged row; the
    policy's random numbers come from a generator keyed by (``seed``, day, batch), so the same log
    and seed give the same probabilities.
    """
    table = coding.table
    p_logged = np.empty(len(obs))
    phi = np.empty((len(obs), table.shape[1]))
    weekday = weekdays(obs)
    key = np.asarray(day, dtype=np.int64) * 7 + weekday  # a batch is one day, and one weekday whatever the log calls a day
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(key[order]) != 0])
    for start, stop in zip(starts, np.r_[starts[1:], len(order)]):
        for k, chunk in enumerate(range(start, stop, batch)):
            idx = order[chunk : min(chunk + batch, stop)]
            d = int(day[idx[0]])
            context = DecisionContext(d, int(weekday[idx[0]]), np.random.default_rng([seed, d, k]), rows[idx])
            probs = distribution(policy, obs[idx], mask.subset(idx), context)
            p_logged[idx] = probs[np.arange(len(idx)), action[idx]]
            phi[idx] = probs @ table
    return p_logged, phi

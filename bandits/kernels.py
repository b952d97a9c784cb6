"""Compiled per-shopper loops of the batched choices: the parts numpy can only do as many passes over arrays.

A Thompson-sampling learner scores every shopper under its own parameter draw, 16 times a day
for its propensity estimates (:meth:`bandits.thompson.LinearThompson._pooled`), and then takes an arg max
over a handful of options per block. In numpy each step is a pass over an (n, options) array
with a temporary; here each shopper's scores stay in registers. Measured by
``python benchmarks/bench_bandits.py`` (docs/benchmarks.md).

The loops do the same float32 operations in the same order as the numpy expressions they
replace, and break ties to the lowest index as ``argmax`` does, so a learner's choices, and so
its runs, are the same bit for bit (``tests/bandits/test_kernels.py``). The one exception is the
inner product of the contact block in the pooled loops (:func:`pooled_additive`,
:func:`pooled_open_value`), summed in order where numpy's ``einsum`` sums in SIMD lanes: they
serve only the propensity estimates, so an estimate can differ where two arms tie to the last
bit, and the actions never do. numba compiles the loops on first use and caches the machine code
beside this file (``cache=True``).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def shopper_option_scores(dense: np.ndarray, theta: np.ndarray, m: int) -> np.ndarray:
    """(n, m) score of each option of a block under one parameter vector per shopper, ``theta`` (n, m + k):
    :math:`\\theta_{i,o} + \\sum_j x_{i,o,j}\\, \\theta_{i,m+j}` for the option's one-hot weight and its k dense features ``dense`` (n, m, k)."""
    n, k = dense.shape[0], dense.shape[2]
    out = np.empty((n, m), dtype=np.float32)
    for i in range(n):
        for o in range(m):
            v = theta[i, o]
            for j in range(k):
                v = v + dense[i, o, j] * theta[i, m + j]
            out[i, o] = v
    return out


@njit(cache=True, nogil=True, inline="always")
def _first_max(row: np.ndarray) -> int:
    best = 0
    for q in range(1, row.shape[0]):
        if row[q] > row[best]:
            best = q
    return best


@njit(cache=True, nogil=True, inline="always")
def _arm(o: int, h: int, s: int, n_channels: int, n_slots: int) -> int:
    """The action index of send arm (o, h, s): :func:`sim.catalogue.encode`, inside a compiled loop."""
    return 1 + (o * n_channels + h) * n_slots + s


@njit(cache=True, nogil=True, inline="always")
def _additive_arm(contact: np.float32, offer: np.ndarray, channel: np.ndarray, slot: np.ndarray, channel_ok: np.ndarray,
                  i: int) -> tuple[int, np.float32]:
    """Shopper i's best allowed send arm of the additive score ``contact + offer[o] + channel[h] + slot[s]`` and its
    margin over no contact, or (0, 0) if no margin is positive (:func:`bandits.base.best_allowed` holds the reasoning)."""
    o, s = _first_max(offer), _first_max(slot)
    h, best = 0, np.float32(-np.inf)
    for c in range(channel.shape[0]):
        if channel_ok[i, c] and channel[c] > best:
            h, best = c, channel[c]
    total = contact + offer[o] + best + slot[s]
    if total > 0:
        return _arm(o, h, s, channel.shape[0], slot.shape[0]), total
    return 0, np.float32(0.0)


@njit(cache=True, nogil=True)
def best_additive(contact: np.ndarray, offer: np.ndarray, channel: np.ndarray, slot: np.ndarray,
                  channel_ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best allowed send arm of an additive score per shopper and its margin over no contact, or no contact
    (action 0, margin 0) if no margin is positive (:func:`_additive_arm`)."""
    n = offer.shape[0]
    actions = np.zeros(n, dtype=np.int64)
    margin = np.zeros(n, dtype=np.float32)
    for i in range(n):
        actions[i], margin[i] = _additive_arm(contact[i], offer[i], channel[i], slot[i], channel_ok, i)
    return actions, margin


@njit(cache=True, nogil=True, inline="always")
def _best_channel_slot(p_open: np.ndarray, i: int, v: np.float32, cost: np.ndarray, channel_ok: np.ndarray) -> tuple[np.float32, int]:
    """The highest :math:`p_{hs} v - c_{ih}` of shopper i over the allowed channels and all slots, and its h S + s
    (-inf and 0 if no channel is allowed); ``cost`` (n, H) is each shopper's cost of a send per channel."""
    best, k = np.float32(-np.inf), 0
    for h in range(p_open.shape[1]):
        if channel_ok[i, h]:
            for s in range(p_open.shape[2]):
                score = p_open[i, h, s] * v - cost[i, h]
                if score > best:
                    best, k = score, h * p_open.shape[2] + s
    return best, k


@njit(cache=True, nogil=True)
def best_send(value: np.ndarray, p_open: np.ndarray, cost: np.ndarray, channel_ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The arm of the highest :math:`p_{hs} \\max_o V_o - c_{ih}` over the allowed channels and its margin, or no contact
    (action 0, margin 0) if none is positive (:meth:`bandits.open_value.OpenValueBandit._send` holds the reasoning)."""
    n, n_channels, n_slots = p_open.shape[0], p_open.shape[1], p_open.shape[2]
    actions = np.zeros(n, dtype=np.int64)
    margin = np.zeros(n, dtype=np.float32)
    for i in range(n):
        o = _first_max(value[i])
        v = value[i, o]
        best, k = _best_channel_slot(p_open, i, v, cost, channel_ok)
        if best > 0:
            actions[i] = _arm(o, 0, 0, n_channels, n_slots) + k
            margin[i] = best
    return actions, margin


@njit(cache=True, nogil=True, inline="always")
def _contact_term(contact: np.ndarray, i: int, pool: np.ndarray, r: int) -> np.float32:
    """Shopper i's contact features times draw r's contact block (the first of the pool's columns)."""
    v = np.float32(0.0)
    for q in range(contact.shape[1]):
        v = v + contact[i, q] * pool[r, q]
    return v


@njit(cache=True, nogil=True, inline="always")
def _block_scores(dense_t: np.ndarray, i: int, pool: np.ndarray, r: int, start: int, out: np.ndarray) -> None:
    """``out`` (m,) the scores of shopper i's m options of a block under draw r, whose block starts at column ``start``:
    m one-hot weights, then the weights of the k dense features ``dense_t[i]`` (k, m), feature-major so that the
    loop over the options runs on contiguous memory (each option's sum keeps numpy's order). Rows are indexed,
    not sliced: a view per shopper and draw costs more than the sums."""
    k, m = dense_t.shape[1], dense_t.shape[2]
    for o in range(m):
        out[o] = pool[r, start + o]
    for j in range(k):
        w = pool[r, start + m + j]
        for o in range(m):
            out[o] += dense_t[i, j, o] * w


@njit(cache=True, nogil=True, inline="always")
def _pool_row(offset: np.ndarray, i: int, j: int, size: int) -> int:
    r = offset[i] + j  # offsets < size and j < size: one subtraction instead of a modulo
    return r - size if r >= size else r


@njit(cache=True, nogil=True)
def pooled_additive(pool: np.ndarray, offset: np.ndarray, k: int, contact: np.ndarray, offer_t: np.ndarray, channel_t: np.ndarray,
                    n_slots: int, channel_ok: np.ndarray) -> np.ndarray:
    """(k, n) the choices of the additive score (:func:`best_additive`) of shopper i under the pool's draws
    :math:`(r_i + j) \\bmod |pool|`, j < k (:meth:`bandits.thompson.LinearThompson._pooled`), for draws of the blocks after the
    base one: contact | offer one-hot, dense | channel one-hot, dense | slot one-hot. The dense features come
    feature-major, ``offer_t`` (n, k_o, O) and ``channel_t`` (n, k_h, H) (:func:`feature_major`)."""
    n, n_offers, n_channels = offer_t.shape[0], offer_t.shape[2], channel_t.shape[2]
    at_channel = contact.shape[1] + n_offers + offer_t.shape[1]
    at_slot = at_channel + n_channels + channel_t.shape[1]
    choices = np.zeros((k, n), dtype=np.int64)
    by_offer, by_channel = np.empty(n_offers, dtype=np.float32), np.empty(n_channels, dtype=np.float32)
    by_slot = np.empty(n_slots, dtype=np.float32)
    for i in range(n):
        for j in range(k):
            r = _pool_row(offset, i, j, pool.shape[0])
            _block_scores(offer_t, i, pool, r, contact.shape[1], by_offer)
            _block_scores(channel_t, i, pool, r, at_channel, by_channel)
            for q in range(n_slots):
                by_slot[q] = pool[r, at_slot + q]
            choices[j, i] = _additive_arm(_contact_term(contact, i, pool, r), by_offer, by_channel, by_slot, channel_ok, i)[0]
    return choices


@njit(cache=True, nogil=True)
def pooled_open_value(pool: np.ndarray, offset: np.ndarray, k: int, contact: np.ndarray, offer_t: np.ndarray, p_open: np.ndarray,
                      cost: np.ndarray, channel_ok: np.ndarray) -> np.ndarray:
    """(k, n) the choices of :func:`best_send` of shopper i under the pool's value-model draws :math:`(r_i + j) \\bmod |pool|`,
    j < k, for draws of the blocks after the base one: contact | offer one-hot, dense (``offer_t`` feature-major, (n, k, O))."""
    n, n_offers, n_channels, n_slots = offer_t.shape[0], offer_t.shape[2], p_open.shape[1], p_open.shape[2]
    choices = np.zeros((k, n), dtype=np.int64)
    value = np.empty(n_offers, dtype=np.float32)
    for i in range(n):
        for j in range(k):
            r = _pool_row(offset, i, j, pool.shape[0])
            _block_scores(offer_t, i, pool, r, contact.shape[1], value)
            term = _contact_term(contact, i, pool, r)
            o, v = 0, value[0] + term  # V_o: the offer's score plus the contact term, as numpy adds them
            for q in range(1, n_offers):
                if value[q] + term > v:
                    o, v = q, value[q] + term
            best, best_k = _best_channel_slot(p_open, i, v, cost, channel_ok)
            if best > 0:
                choices[j, i] = _arm(o, 0, 0, n_channels, n_slots) + best_k
    return choices


@njit(cache=True, nogil=True)
def best_upper(by_channel: np.ndarray, by_slot: np.ndarray, common: np.ndarray, mean_channel: np.ndarray, mean_slot: np.ndarray,
               mean_offer: np.ndarray, channel_ok: np.ndarray, none_upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LinUCB's arm: the highest :math:`\\mu_{ohs} + \\sqrt{v_{ohs}}` over the allowed send arms if it beats no contact's
    bound ``none_upper``, and the difference; :math:`v_{ohs}` = ``by_channel[h, o] + by_slot[s, o] + common[h, s]``
    clipped at 0 (:func:`bandits.linear.variance_terms`), :math:`\\mu_{ohs}` = ``mean_channel[h] + mean_slot[s] +
    mean_offer[o]``. The arms are visited channel, slot, offer (the memory order of :func:`bandits.linear.arm_tensor`,
    which the numpy arg max this replaces ran over), and a tie goes to the first visited."""
    n, n_channels, n_offers, n_slots = by_channel.shape[0], by_channel.shape[1], by_channel.shape[2], by_slot.shape[1]
    actions = np.zeros(n, dtype=np.int64)
    margin = np.zeros(n, dtype=np.float32)
    zero = np.float32(0.0)
    for i in range(n):
        best, arm = np.float32(-np.inf), 0
        for h in range(n_channels):
            if not channel_ok[i, h]:
                continue
            for s in range(n_slots):
                for o in range(n_offers):
                    v = by_channel[i, h, o] + by_slot[i, s, o]
                    v = v + common[i, h, s]
                    upper = np.sqrt(max(v, zero)) + mean_channel[i, h]
                    upper = upper + mean_slot[i, s]
                    upper = upper + mean_offer[i, o]
                    if upper > best:
                        best, arm = upper, _arm(o, h, s, n_channels, n_slots)
        if best > none_upper[i]:
            actions[i] = arm
            margin[i] = best - none_upper[i]
    return actions, margin


def feature_major(dense: np.ndarray) -> np.ndarray:
    """An option block's dense features (n, m, k) as a contiguous (n, k, m) array, the layout the pooled loops read."""
    return np.ascontiguousarray(dense.transpose(0, 2, 1))

r"""The social network: acquaintances on a small-world ring, plus influencer hubs with followers.

``influence[i, j] = 1`` when shopper i sees shopper j's purchases (acquaintance edges go both
ways; an influencer's edges go to its followers only). Purchases feed a decaying *buzz*,

.. math::  B_{ic} \leftarrow 2^{-1/T} B_{ic} + \sum_j A_{ij}\, b_{jc}

and social proof raises the shopper's effective interest by :math:`w\, \phi_i \min(B_{ic}, 4)`
(:func:`sim.response.interest_logit`). The buzz decays and the effect saturates, so a
purchase wave cannot feed on itself without bound.

with :math:`b_{jc}` = 1 when j bought in category c today, :math:`T` = ``buzz_half_life``,
:math:`w` = ``social_weight`` and :math:`\\phi_i` the shopper's susceptibility. The graph is built with
numpy (a ring lattice rewired like Watts-Strogatz) because networkx needs minutes at a million nodes.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from sim.config import NetworkConfig

REWIRE = 0.1
"""share of ring edges whose far end is rewired to a random shopper (small-world shortcuts)"""


def build_influence(n: int, cfg: NetworkConfig, rng: np.random.Generator) -> tuple[sp.csc_matrix, np.ndarray]:
    """(influence matrix in CSC form, influencer flags). CSC, because each day reads the columns of buyers."""
    half = cfg.mean_degree // 2
    src = np.repeat(np.arange(n), half)
    dst = (src + np.tile(np.arange(1, half + 1), n)) % n if half else src.copy()
    rewire = rng.random(src.size) < REWIRE
    dst[rewire] = rng.integers(0, n, int(rewire.sum()))
    n_hubs = int(round(n * cfg.influencer_share)) if cfg.influencer_followers else 0
    hubs = rng.choice(n, size=n_hubs, replace=False) if n_hubs else np.zeros(0, dtype=np.int64)
    followers = rng.integers(0, n, n_hubs * cfg.influencer_followers)
    rows = np.concatenate([src, dst, followers])
    cols = np.concatenate([dst, src, np.repeat(hubs, cfg.influencer_followers)])
    keep = rows != cols
    a = sp.coo_matrix((np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], cols[keep])), shape=(n, n)).tocsc()
    a.sum_duplicates()
    a.data[:] = 1.0  # an acquaintance counts once however many times the ring and rewiring met
    influencer = np.zeros(n, dtype=bool)
    influencer[hubs] = True
    return a, influencer


def exposure(influence: sp.csc_matrix, bought: np.ndarray, buyers: np.ndarray) -> np.ndarray:
    """(n, C) acquaintances' purchases seen by each shopper, computed from the ``buyers``' columns only."""
    if buyers.size == 0:
        return np.zeros(bought.shape, dtype=np.float32)
    return np.asarray(influence[:, buyers] @ bought[buyers].astype(np.float32), dtype=np.float32)

"""Bayesian ridge regression over arm features, and scoring of every arm of every shopper at once.

The model is :math:`r = \\theta^\\top \\phi(x, a) + \\varepsilon` with

.. math::  A = \\lambda I + \\sum_t w_t \\phi_t \\phi_t^\\top, \\qquad b = \\sum_t w_t r_t \\phi_t,
           \\qquad \\hat\\theta = A^{-1} b, \\qquad \\operatorname{Cov}[\\theta] = v^2 A^{-1}

Updates arrive in daily batches of matured rewards. :math:`A` has a fixed size (the feature
width, about 60), so each batch adds :math:`\\Phi^\\top W \\Phi` and refactors :math:`A` by
Cholesky once: no inverse of a growing matrix, no Sherman-Morrison drift over millions of rows.

Scoring uses the block structure of :mod:`bandits.features`: the mean and the quadratic form
:math:`\\phi^\\top \\Sigma \\phi` of a send arm (o, h, s) are sums of per-block terms, so the
(n, O, H, S) tensors of all arms are assembled by broadcasting a handful of batched products.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from bandits.features import ArmFeatures


class RidgeModel:
    """:math:`A`, :math:`b` and their solution; ``widths`` are the feature blocks' widths."""

    STATE_KEYS = ("A", "b", "n_obs", "widths", "ridge")

    def __init__(self, widths: list[int], ridge: float = 1.0):
        if not ridge > 0:
            raise ValueError(f"ridge={ridge!r}: must be > 0")
        self.widths = list(widths)
        self.d = sum(widths)
        self.ridge = float(ridge)
        self.A = self.ridge * np.eye(self.d)
        self.b = np.zeros(self.d)
        self.n_obs = 0
        self._solve()

    def update(self, phi: np.ndarray, reward: np.ndarray, weight: np.ndarray | None = None) -> None:
        """Add a batch of (feature row, reward) pairs, optionally weighted (bootstrap resampling)."""
        phi = np.asarray(phi, dtype=np.float64)
        w = np.ones(len(phi)) if weight is None else np.asarray(weight, dtype=np.float64)
        self.A += phi.T @ (phi * w[:, None])
        self.b += phi.T @ (w * np.asarray(reward, dtype=np.float64))
        self.n_obs += len(phi)
        self._solve()

    def _solve(self) -> None:
        factor = cho_factor(self.A, lower=True)
        self.theta = cho_solve(factor, self.b)
        self.cov = cho_solve(factor, np.eye(self.d))  # A^-1, d x d: tiny
        self.chol = np.linalg.cholesky(self.cov)

    def split(self, vector: np.ndarray) -> list[np.ndarray]:
        """A (..., d) array cut into its blocks along the last axis."""
        return np.split(vector, np.cumsum(self.widths)[:-1], axis=-1)

    def sample(self, n: int, scale: float, rng: np.random.Generator) -> np.ndarray:
        """(n, d) draws from :math:`N(\\hat\\theta, v^2 A^{-1})`."""
        return self.theta + scale * rng.standard_normal((n, self.d)) @ self.chol.T

    def state(self) -> dict[str, np.ndarray]:
        return {"A": self.A, "b": self.b, "n_obs": np.array(self.n_obs), "widths": np.array(self.widths), "ridge": np.array(self.ridge)}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> RidgeModel:
        model = cls([int(w) for w in state["widths"]], float(state["ridge"]))
        model.A, model.b, model.n_obs = np.array(state["A"], dtype=np.float64), np.array(state["b"], dtype=np.float64), int(state["n_obs"])
        model._solve()
        return model


def mean_scores(theta: np.ndarray, feats: ArmFeatures, model: RidgeModel) -> tuple[np.ndarray, np.ndarray]:
    """Expected reward of no contact, (n,), and of every send arm, (n, O, H, S).

    ``theta`` is one parameter vector (d,) or one per shopper (n, d) (Thompson sampling).
    """
    blocks = model.split(theta)
    per = [f @ t.astype(np.float32) if t.ndim == 1 else np.matmul(f, t.astype(np.float32)[:, :, None])[..., 0] for f, t in zip(feats.blocks(), blocks)]
    base, contact, offer, channel, slot = per
    none = base[:, 0]
    send = (none + contact[:, 0])[:, None, None, None] + offer[:, :, None, None] + channel[:, None, :, None] + slot[:, None, None, :]
    return none, send


def variances(feats: ArmFeatures, model: RidgeModel) -> tuple[np.ndarray, np.ndarray]:
    """:math:`\\phi^\\top A^{-1} \\phi` of no contact, (n,), and of every send arm, (n, O, H, S).

    With the send arm's vector split into a fixed part f (base and contact blocks, the same for
    every send) and the offer, channel and slot blocks, the form expands into diagonal terms of
    each block and cross terms of each pair; every term is one batched product.
    """
    sig = model.cov
    cuts = np.cumsum([0, *model.widths])
    sl = {name: slice(cuts[k], cuts[k + 1]) for k, name in enumerate(("base", "contact", "offer", "channel", "slot"))}
    fixed_slice = slice(cuts[0], cuts[2])
    fixed = np.concatenate([feats.base, feats.contact], axis=2)  # (n, 1, d_b + d_c)
    parts = {"fixed": (fixed, fixed_slice), "offer": (feats.offer, sl["offer"]), "channel": (feats.channel, sl["channel"]), "slot": (feats.slot, sl["slot"])}

    def cross(k: str, l: str) -> np.ndarray:  # (n, m_k, m_l)
        fk, sk = parts[k]
        fl, sl_ = parts[l]
        return np.matmul(fk @ sig[sk, sl_].astype(np.float32), fl.transpose(0, 2, 1))  # batched BLAS: ~5x einsum here

    def diag(k: str) -> np.ndarray:  # (n, m_k)
        fk, sk = parts[k]
        return ((fk @ sig[sk, sk].astype(np.float32)) * fk).sum(axis=-1)

    base = feats.base[:, 0]
    none = ((base @ sig[sl["base"], sl["base"]].astype(np.float32)) * base).sum(axis=1)
    f_f = diag("fixed")[:, 0]
    f_o, f_h, f_s = (cross("fixed", k)[:, 0] for k in ("offer", "channel", "slot"))
    o_h, o_s, h_s = cross("offer", "channel"), cross("offer", "slot"), cross("channel", "slot")
    send = (
        f_f[:, None, None, None]
        + (diag("offer") + 2 * f_o)[:, :, None, None]
        + (diag("channel") + 2 * f_h)[:, None, :, None]
        + (diag("slot") + 2 * f_s)[:, None, None, :]
        + 2 * o_h[:, :, :, None] + 2 * o_s[:, :, None, :] + 2 * h_s[:, None, :, :]
    )
    return none, np.maximum(send, 0.0)

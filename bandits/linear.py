"""Bayesian ridge regression over arm features, and scoring of every arm of every shopper at once.

The model is :math:`r = \\theta^\\top \\phi(x, a) + \\varepsilon` with

.. math::  A = \\lambda I + \\sum_t w_t \\phi_t \\phi_t^\\top, \\qquad b = \\sum_t w_t r_t \\phi_t,
           \\qquad \\hat\\theta = A^{-1} b, \\qquad \\operatorname{Cov}[\\theta] = \\hat\\sigma^2 A^{-1}

Updates arrive in daily batches of matured rewards. :math:`A` has a fixed size (the feature
width, 98 or 117), so each batch adds :math:`\\Phi^\\top W \\Phi` and refactors :math:`A` by
Cholesky once: no inverse of a growing matrix, no Sherman-Morrison drift over millions of rows.

Scoring uses the block structure of :mod:`bandits.features`. A mean score is a sum of an
offer, a channel and a slot term (:class:`SendScores`), so the best arm is found term by term
(:func:`bandits.base.best_allowed`) without forming the 255 send arms at all. The quadratic form
:math:`\\phi^\\top \\Sigma \\phi` of an upper confidence bound is not separable, but it is a sum of
per-block and per-pair terms whose one-hot parts are lookups in :math:`\\Sigma` (:func:`variances`):
only the dense features are multiplied, and the (n, O, H, S) tensor is assembled by broadcasting
(in offers-innermost memory, :func:`arm_tensor`).
The model is solved in float64; scoring runs in float32.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.linalg.blas import dsyrk

from bandits.features import ArmFeatures
from bandits.kernels import shopper_option_scores


class RidgeModel:
    """:math:`A`, :math:`b` and their solution; ``widths`` are the feature blocks' widths."""

    STATE_KEYS = ("A", "b", "yy", "weight", "n_obs", "widths", "ridge")

    def __init__(self, widths: list[int], ridge: float = 1.0, prior_mean: np.ndarray | None = None):
        """``prior_mean`` :math:`m_0` (default 0) is where the parameters sit before any data: the prior is
        :math:`N(m_0, \\sigma^2 / \\lambda)`, so :math:`b` starts at :math:`\\lambda m_0` and
        :math:`\\hat\\theta = A^{-1}(\\lambda m_0 + \\sum_t w_t r_t \\phi_t)` is pulled towards :math:`m_0`, not 0."""
        if not ridge > 0:
            raise ValueError(f"ridge={ridge!r}: must be > 0")
        self.widths = list(widths)
        self.d = sum(widths)
        self.ridge = float(ridge)
        m0 = np.zeros(self.d) if prior_mean is None else np.asarray(prior_mean, dtype=np.float64)
        if m0.shape != (self.d,):
            raise ValueError(f"prior_mean has shape {m0.shape}: must be ({self.d},), the feature width")
        self.A = self.ridge * np.eye(self.d)
        self.b = self.ridge * m0
        self.yy = self.ridge * float(m0 @ m0)
        """:math:`\\lambda m_0^\\top m_0 + \\sum_t w_t r_t^2`, for the residual variance (the prior's term makes
        ``yy - theta' b`` the residual sum of squares plus the penalty :math:`\\lambda \\lVert\\hat\\theta - m_0\\rVert^2`)"""
        self.weight = 0.0
        """:math:`\\sum_t w_t`"""
        self.n_obs = 0
        self._solve()

    def update(self, phi: np.ndarray, reward: np.ndarray, weight: np.ndarray | None = None) -> None:
        """Add a batch of (feature row, reward) pairs, optionally weighted (bootstrap resampling).

        :math:`\\Phi^\\top W \\Phi = (W^{1/2}\\Phi)^\\top (W^{1/2}\\Phi)` is one symmetric rank-k update (BLAS
        ``dsyrk``: half the work of a general product), over the rows of non-zero weight only.
        """
        phi = np.asarray(phi, dtype=np.float64)
        reward = np.asarray(reward, dtype=np.float64)
        self.n_obs += len(phi)
        if weight is not None:
            w = np.asarray(weight, dtype=np.float64)
            keep = w > 0
            w, reward, phi = w[keep], reward[keep], phi[keep]
            root = np.sqrt(w)
            phi *= root[:, None]
            self.b += phi.T @ (root * reward)
            self.yy += float(w @ reward**2)
            self.weight += float(w.sum())
        else:
            self.b += phi.T @ reward
            self.yy += float(reward @ reward)
            self.weight += len(reward)
        self.A += gram(phi)
        self._solve()

    def _solve(self) -> None:
        self._factor = cho_factor(self.A, lower=True)
        self.theta = cho_solve(self._factor, self.b)
        self.theta_f32 = self.theta.astype(np.float32)
        for cached in ("cov", "cov_f32", "chol_rest_f32"):
            self.__dict__.pop(cached, None)
        dof = self.weight - self.d
        self.noise_sd = float(np.sqrt(max(self.yy - self.theta @ self.b, 0.0) / dof)) if dof > 0 else 1.0
        """:math:`\\hat\\sigma`, the residual standard deviation of the rewards, :math:`\\hat\\sigma^2 = (\\sum w r^2 - \\hat\\theta^\\top b) / (\\sum w - d)`
        (the ridge fit's residual sum of squares plus its penalty); 1 until there are more rows than features. The
        posterior covariance is :math:`\\hat\\sigma^2 A^{-1}`: exploration is measured in the rewards' own units."""

    @functools.cached_property
    def cov(self) -> np.ndarray:
        """:math:`A^{-1}` (d x d), solved when first asked for after an update: a greedy learner or a
        bootstrap member needs only :math:`\\hat\\theta`."""
        return cho_solve(self._factor, np.eye(self.d))

    @functools.cached_property
    def cov_f32(self) -> np.ndarray:
        return self.cov.astype(np.float32)

    @functools.cached_property
    def chol_rest_f32(self) -> np.ndarray:
        """Cholesky factor of the covariance of the blocks after the base one (:meth:`sample`)."""
        rest = self.widths[0]
        return np.linalg.cholesky(self.cov[rest:, rest:]).astype(np.float32)

    def sample(self, n: int, scale: float, rng: np.random.Generator) -> np.ndarray:
        """(n, d - d_base) draws from :math:`N(\\hat\\theta, v^2 \\hat\\sigma^2 A^{-1})` of every block but the first.

        The first (base) block is part of every arm, no contact included: it shifts all of a
        shopper's scores alike and cannot change a choice, nor a score's margin over no contact,
        so it is left at its mean (:func:`send_scores` takes the draws with the no-contact scores
        of the mean). The other blocks are drawn from their exact marginal
        :math:`N(\\hat\\theta_r, v^2 \\hat\\sigma^2 \\Sigma_{rr})`, which halves the work of a draw.
        """
        rest = self.widths[0]
        draws = rng.standard_normal((n, self.d - rest), dtype=np.float32) @ self.chol_rest_f32.T
        draws *= scale * self.noise_sd
        draws += self.theta_f32[rest:]
        return draws

    def blocks(self, vector: np.ndarray, first: int = 0) -> list[np.ndarray]:
        """``vector`` (..., the width of blocks ``first`` on) cut into those blocks along its last axis."""
        return np.split(vector, np.cumsum(self.widths[first:])[:-1], axis=-1)

    def state(self) -> dict[str, np.ndarray]:
        return {"A": self.A, "b": self.b, "yy": np.array(self.yy), "weight": np.array(self.weight), "n_obs": np.array(self.n_obs),
                "widths": np.array(self.widths), "ridge": np.array(self.ridge)}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> RidgeModel:
        model = cls([int(w) for w in state["widths"]], float(state["ridge"]))
        model.A, model.b, model.n_obs = np.array(state["A"], dtype=np.float64), np.array(state["b"], dtype=np.float64), int(state["n_obs"])
        model.yy, model.weight = float(state["yy"]), float(state["weight"])
        model._solve()
        return model


def inverse_of(design: np.ndarray) -> np.ndarray:
    """:math:`D^{-1}` of a symmetric positive-definite matrix by Cholesky, the way :attr:`RidgeModel.cov` is solved
    (the same operations: for :math:`D = A` it is that matrix, bit for bit)."""
    return cho_solve(cho_factor(design, lower=True), np.eye(len(design)))


def gram(phi: np.ndarray) -> np.ndarray:
    """:math:`\\Phi^\\top \\Phi` of float64 rows ``phi`` (n, d): one symmetric rank-k update (BLAS ``dsyrk``, half the
    work of a general product; ``phi.T`` is Fortran-ordered, so no copy), its upper triangle mirrored."""
    upper = dsyrk(1.0, phi.T)
    return np.triu(upper) + np.triu(upper, 1).T


@dataclass
class SendScores:
    """A linear score of every arm of n shoppers, in the additive form the block features give it.

    The score of no contact is ``none``; that of the send arm (o, h, s) is
    ``none + contact + offer[:, o] + channel[:, h] + slot[:, s]``.
    """

    none: np.ndarray  # (n,)
    contact: np.ndarray  # (n,)
    offer: np.ndarray  # (n, O)
    channel: np.ndarray  # (n, H)
    slot: np.ndarray  # (n, S)

    def full(self, channel_ok: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """(n, O, H, S) the score of every send arm, -inf on channels ``channel_ok`` (n, H) forbids.

        With ``out`` (from :func:`arm_tensor`), the scores are added to it in place (an upper
        confidence bound is the mean plus a bonus): one pass over the 255 arms instead of two.
        """
        n, m = len(self.none), self.offer.shape[1]
        if out is None:
            out = arm_tensor(n, m, self.channel.shape[1], self.slot.shape[1], fill=0.0)
        mem = out.transpose(0, 2, 3, 1)
        mem += (self.channel + (self.none + self.contact)[:, None])[:, :, None, None]
        mem += self.slot[:, None, :, None]
        mem += self.offer[:, None, None, :]
        if channel_ok is not None:
            mem[~channel_ok] = -np.inf
        return out


def arm_tensor(n: int, offers: int, channels: int, slots: int, fill: float | None = None) -> np.ndarray:
    """An (n, O, H, S) float32 array whose memory is laid out (n, H, S, O), offers innermost.

    Every per-arm tensor is built by broadcasting small per-offer, per-channel and per-slot terms;
    numpy's loops over a 3-long innermost axis (slots) run 4x slower than over the 17 offers
    (measured: 17.9 against 4.5 ms for one sum at 10,000 shoppers), so the memory keeps offers
    innermost while the shape keeps the arms' (o, h, s) order of :func:`sim.catalogue.encode`.
    """
    mem = np.empty((n, channels, slots, offers), dtype=np.float32) if fill is None else np.full((n, channels, slots, offers), fill, np.float32)
    return mem.transpose(0, 3, 1, 2)


def _option_scores(dense: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """(n, m) score of each option of a block: its one-hot's weight plus its dense features' weights.

    ``theta`` is the block's parameters, (m + k,) or one vector per shopper, (n, m + k).
    """
    m, k = dense.shape[1], dense.shape[2]
    eye, weights = theta[..., :m], theta[..., m:]
    if k == 0:
        return np.broadcast_to(eye, (len(dense), m))
    if theta.ndim == 1:
        return eye + (dense.reshape(-1, k) @ weights).reshape(len(dense), m)
    return shopper_option_scores(dense, theta, m)  # per shopper: one compiled loop instead of k passes over (n, m)


def mean_scores(theta: np.ndarray, feats: ArmFeatures, model: RidgeModel) -> SendScores:
    """The expected reward of every arm of every shopper under ``theta``.

    ``theta`` is one parameter vector (d,) or one per shopper (n, d).
    """
    theta = theta.astype(np.float32, copy=False)
    base = theta[..., : model.widths[0]]
    none = feats.base @ base if theta.ndim == 1 else np.einsum("nd,nd->n", feats.base, base)
    return send_scores(none, theta[..., model.widths[0]:], feats, model)


def send_scores(none: np.ndarray, rest: np.ndarray, feats: ArmFeatures, model: RidgeModel) -> SendScores:
    """:func:`mean_scores` given the no-contact scores and the parameters of the blocks after the base one,
    (d - d_base,) or one vector per shopper (Thompson sampling's draws, :meth:`RidgeModel.sample`)."""
    contact, *options = model.blocks(rest, first=1)
    sent = feats.contact @ contact if rest.ndim == 1 else np.einsum("nd,nd->n", feats.contact, contact)
    return SendScores(none, sent, *(_option_scores(f, t) for f, t in zip(feats.options(), options)))


def variance_terms(feats: ArmFeatures, model: RidgeModel, scale: float = 1.0, cov: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """:math:`\\phi^\\top \\Sigma \\phi` of no contact, (n,), and the terms of that of every send arm, with :math:`\\Sigma = c A^{-1}`
    (``scale`` c: an exploration weight squared costs nothing here, and a pass over the arms later; ``cov``, float32,
    in place of the model's :math:`A^{-1}`: the inverse of another design, such as an upper confidence bound's
    that counts the decisions in flight, :class:`bandits.base.ConfidenceBound`): ``by_channel``
    (n, H, O), ``by_slot`` (n, S, O) and ``common`` (n, H, S), whose sum is the send arm's form (:func:`variances`).

    A send arm's vector is a fixed part f (base and contact blocks, the same for every send) and,
    per option block j (offer, channel, slot), a one-hot :math:`e_j` and dense features
    :math:`x_j`. The form expands into

    .. math::  f^\\top \\Sigma f + \\sum_j \\big(2 f^\\top \\Sigma u_j + u_j^\\top \\Sigma u_j\\big)
               + 2 \\sum_{j<l} u_j^\\top \\Sigma u_l, \\qquad u_j = [e_j, x_j],

    and every term with a one-hot is a lookup in :math:`\\Sigma`, so only the dense parts are
    multiplied: a few matrix products over all shoppers give the per-option (n, m_j) and per-pair
    (n, m_j, m_l) terms, gathered into the three arrays an arm's form is the sum of.
    """
    cov = model.cov_f32 if cov is None else cov
    sig = cov if scale == 1.0 else cov * np.float32(scale)
    cuts = np.cumsum([0, *model.widths])
    fixed = np.concatenate([feats.base, feats.contact], axis=1)
    f_sig = fixed @ sig[: cuts[2]]  # (n, d): f's row of Sigma against every coordinate
    none = np.einsum("nd,nd->n", feats.base @ sig[: cuts[1], : cuts[1]], feats.base)
    f_f = np.einsum("nd,nd->n", f_sig[:, : cuts[2]], fixed)
    blocks = []  # (one-hot slice, dense slice, dense features) of each option block
    for j, dense in enumerate(feats.options()):
        start, m = cuts[2 + j], dense.shape[1]
        blocks.append((slice(start, start + m), slice(start + m, cuts[3 + j]), dense))

    def dense_times(x: np.ndarray, rows: slice, cols: slice) -> np.ndarray:  # (n, m, c) = x @ Sigma[rows, cols]
        return (x.reshape(-1, x.shape[2]) @ sig[rows, cols]).reshape(x.shape[0], x.shape[1], -1)

    own = []  # (n, m_j): 2 f'Sigma u_j + u_j'Sigma u_j
    for e, d, x in blocks:
        term = np.diag(sig[e, e]) + 2 * f_sig[:, e]
        if x.shape[2]:
            term = term + 2 * np.einsum("nmk,mk->nm", x, sig[e, d]) + 2 * np.einsum("nmk,nk->nm", x, f_sig[:, d])
            term = term + np.einsum("nmk,nmk->nm", dense_times(x, d, d), x)
        own.append(term)

    def pair(j: int, l: int) -> np.ndarray:  # (n, m_j, m_l): u_j' Sigma u_l
        (ej, dj, xj), (el, dl, xl) = blocks[j], blocks[l]
        out = np.broadcast_to(sig[ej, el], (len(xj), sig[ej, el].shape[0], sig[ej, el].shape[1]))
        if xj.shape[2]:
            out = out + dense_times(xj, dj, el)
        if xl.shape[2]:
            out = out + dense_times(xl, dl, ej).transpose(0, 2, 1)
        if xj.shape[2] and xl.shape[2]:
            out = out + np.matmul(dense_times(xj, dj, dl), xl.transpose(0, 2, 1))
        return out

    offer, channel, slot = own
    by_channel = np.ascontiguousarray((2 * pair(0, 1) + offer[:, :, None]).transpose(0, 2, 1))  # (n, H, O)
    by_slot = np.ascontiguousarray((2 * pair(0, 2)).transpose(0, 2, 1))  # (n, S, O)
    return none, by_channel, by_slot, 2 * pair(1, 2) + (channel + f_f[:, None])[:, :, None] + slot[:, None, :]


def variances(feats: ArmFeatures, model: RidgeModel, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """:math:`\\phi^\\top \\Sigma \\phi` of no contact, (n,), and of every send arm, (n, O, H, S), from :func:`variance_terms`:
    the send arm (o, h, s) is ``by_channel[h, o] + by_slot[s, o] + common[h, s]``, clipped at 0 against rounding.
    LinUCB's choice reads the terms without forming the tensor (:func:`bandits.kernels.best_upper`)."""
    none, by_channel, by_slot, common = variance_terms(feats, model, scale)
    n, channels, offers = by_channel.shape
    send = arm_tensor(n, offers, channels, by_slot.shape[1])
    mem = send.transpose(0, 2, 3, 1)  # (n, H, S, O): see arm_tensor
    np.add(by_channel[:, :, None, :], by_slot[:, None], out=mem)
    mem += common[..., None]
    return none, np.maximum(send, 0.0, out=send)

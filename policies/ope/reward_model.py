r"""The reward model of DM and the DR family: a ridge regression of reward on context x action, cross-fitted.

The model is linear in a representation :math:`\phi(a)` of the action for every context,

.. math::  \hat q(x, a) = \beta_0 + \sum_{j,k} \tilde x_j\, B_{jk}\, \phi_k(a) + \sum_l v_l\, \phi'_l(a),
           \qquad \tilde x = (1, z(x)),

with :math:`z` the standardised context, :math:`\phi` the part of the action that interacts with
the context and :math:`\phi'` the part that enters alone (:class:`ActionCoding`). Because it is
linear in the action's representation, the candidate's expected reward is the model at the
candidate's expected representation, exactly:

.. math::  \hat q_\pi(x) = \sum_a \pi(a|x)\, \hat q(x, a) = \hat q\big(x, \textstyle\sum_a \pi(a|x)\, \phi(a)\big),

one prediction per row instead of one per action (256 in the market).

*Cross-fitting* (Chernozhukov et al., 2018; as in Open Bandit Pipeline's ``fit_predict``): the rows
are split into K folds by group (a shopper's rows stay in one fold), and each fold's predictions
come from a model fitted on the other folds, so no row's residual :math:`r_i - \hat q(x_i, a_i)` is
one the model was fitted to. Each fit uses at most ``fit_rows`` rows of its training folds, drawn at
random, which keeps a log of millions of rows to seconds; the predictions cover every row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK = 200_000
"""rows predicted at a time (the context is standardised chunk by chunk, to bound memory)"""


@dataclass(frozen=True)
class ActionCoding:
    """The representation of every action: ``interacting`` (A, k) meets the context, ``alone`` (A, l) does not."""

    interacting: np.ndarray
    alone: np.ndarray

    def __post_init__(self) -> None:
        if self.interacting.ndim != 2 or self.alone.ndim != 2 or len(self.interacting) != len(self.alone):
            raise ValueError(f"interacting {self.interacting.shape} and alone {self.alone.shape}: two (A, k) tables of the same actions")

    @property
    def table(self) -> np.ndarray:
        """(A, k + l) the whole representation; its expectation under a policy is ``probabilities @ table``."""
        return np.hstack([self.interacting, self.alone]).astype(np.float64)


@dataclass(frozen=True)
class Fitted:
    """One fold's fitted model: the standardisation and the coefficients, laid out as the module docstring's equation."""

    mean: np.ndarray
    scale: np.ndarray
    intercept: float
    B: np.ndarray
    """(1 + d, k)"""
    v: np.ndarray
    """(l,)"""

    def predict(self, x: np.ndarray, phi: np.ndarray) -> np.ndarray:
        """(n,) :math:`\\hat q` at contexts ``x`` (n, d) and action representations ``phi`` (n, k + l), by chunks."""
        k = self.B.shape[1]
        out = np.empty(len(x))
        for start in range(0, len(x), CHUNK):
            s = slice(start, start + CHUNK)
            z = (np.asarray(x[s], dtype=np.float64) - self.mean) / self.scale
            out[s] = self.intercept + ((self.B[0] + z @ self.B[1:]) * phi[s, :k]).sum(axis=1) + phi[s, k:] @ self.v
        return out


def design(z: np.ndarray, phi: np.ndarray, k: int) -> np.ndarray:
    """(n, (1 + d) k + l) the regression's columns: :math:`\\tilde x \\otimes \\phi` then :math:`\\phi'`."""
    xt = np.hstack([np.ones((len(z), 1)), z])
    return np.hstack([(xt[:, :, None] * phi[:, None, :k]).reshape(len(z), -1), phi[:, k:]])


def fit(x: np.ndarray, phi: np.ndarray, reward: np.ndarray, k: int, ridge: float) -> Fitted:
    """Ridge regression (scikit-learn, Cholesky) of ``reward`` on :func:`design` of the standardised ``x``."""
    from sklearn.linear_model import Ridge  # loaded when a model is fitted: the command's other tasks start without it (0.25 s)
    x = np.asarray(x, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    model = Ridge(alpha=ridge, solver="cholesky").fit(design((x - mean) / scale, phi, k), reward)
    d = x.shape[1]
    coef = model.coef_
    return Fitted(mean, scale, float(model.intercept_), coef[: (1 + d) * k].reshape(1 + d, k), coef[(1 + d) * k:])


def fold_of(codes: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) each row's fold, 0..folds-1, the same for every row of a group (``codes``: 0..G-1 per row)."""
    groups = int(codes.max()) + 1
    if groups < folds:
        raise ValueError(f"folds={folds}: the log has {groups} group(s) of rows (shoppers); cross-fitting needs at least one per fold")
    return (rng.permutation(groups) % folds)[codes]


def cross_fit(x: np.ndarray, phi_logged: np.ndarray, phi_policy: np.ndarray, reward: np.ndarray, codes: np.ndarray, k: int,
              folds: int = 5, ridge: float = 1.0, fit_rows: int = 50_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold :math:`\\hat q(x_i, a_i)` and :math:`\\hat q_\\pi(x_i)`, each (n,).

    ``phi_logged`` (n, k + l) is the logged action's representation, ``phi_policy`` (n, k + l) the
    candidate's expected one; the first ``k`` columns interact with ``x`` (n, d).
    """
    rng = np.random.default_rng(seed)
    fold = fold_of(codes, folds, rng)
    q_logged, q_policy = np.empty(len(x)), np.empty(len(x))
    for f in range(folds):
        train, held = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        if train.size > fit_rows:
            train = np.sort(rng.choice(train, fit_rows, replace=False))
        model = fit(x[train], phi_logged[train], reward[train], k, ridge)
        q_logged[held] = model.predict(x[held], phi_logged[held])
        q_policy[held] = model.predict(x[held], phi_policy[held])
    return q_logged, q_policy

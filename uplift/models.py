r"""Multi-treatment uplift models: the T-learner and the X-learner on gradient-boosted trees.

A randomised log gives each customer :math:`i` features :math:`x_i`, a treatment code
:math:`t_i \in \{0, 1, \dots, K\}` (0 = control) and an outcome :math:`y_i` (a 0/1 response or a
number such as spend or profit). The quantity of interest is each treatment's conditional average
treatment effect, the customer's incremental outcome over the control:

.. math::  \tau_k(x) = \mathbb{E}[Y \mid X = x, T = k] - \mathbb{E}[Y \mid X = x, T = 0], \qquad k = 1..K

Both learners reduce it to regressions (Künzel, Sekhon, Bickel and Yu, *Metalearners for
estimating heterogeneous treatment effects using machine learning*, PNAS 2019), here each a
:class:`sklearn.ensemble.HistGradientBoostingRegressor` (squared error: on a 0/1 outcome it
estimates the response probability):

* **T-learner** (:class:`TLearner`): one outcome model per arm, :math:`\hat\mu_k` fitted on the
  customers of arm :math:`k`; :math:`\hat\tau_k(x) = \hat\mu_k(x) - \hat\mu_0(x)`.
* **X-learner** (:class:`XLearner`): the T-learner's outcome models impute each customer's
  individual effect, :math:`D^1_i = y_i - \hat\mu_0(x_i)` for the customers of arm :math:`k` and
  :math:`D^0_i = \hat\mu_k(x_i) - y_i` for the control's; two effect models
  :math:`\hat\tau_{k1}, \hat\tau_{k0}` are fitted on them, and blended by the arm's assignment
  probability among the pair, :math:`g_k = n_k / (n_k + n_0)`:

  .. math::  \hat\tau_k(x) = g_k\,\hat\tau_{k0}(x) + (1 - g_k)\,\hat\tau_{k1}(x)

  With unequal arms this leans on the effect model whose imputations rest on the better-estimated
  outcome model: when treated customers are few (:math:`g_k` small), :math:`\hat\tau_{k1}` imputes
  from :math:`\hat\mu_0`, fitted on the many controls, and gets weight :math:`1 - g_k`. In a
  randomised log :math:`g_k` is the design's own share (CausalML fits a propensity model instead;
  here the assignment does not depend on :math:`x`).

Why these two: the T-learner is what most uplift practice starts from and what scikit-uplift
calls ``TwoModels``; the X-learner is the usual remedy when effects are small beside the outcome
(an e-mail's lift of a few points on a visit rate), because it fits the effect directly.

Why scikit-learn and not CausalML (whose ``BaseTRegressor`` and ``BaseXRegressor`` compute the same
estimates): CausalML 0.18 brings 22 further packages into this project, 837 MB installed (xgboost
and NVIDIA's NCCL alone 697 MB), and pins ``pathos==0.2.9`` and ``forestci==0.6``; the learners
are a few regressions each (docs/uplift.md has the measurement).

Deterministic: a model with the same seed fitted on the same data predicts the same numbers bit
for bit (the boosting does no row sampling and no early stopping; its seed only breaks ties).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

from uplift.checks import UpliftInputError, as_matrix, as_treatment, as_vector


@dataclass(frozen=True)
class BoostingParams:
    """The regressions' settings, one for every outcome and effect model of a learner."""

    max_iter: int = 100
    """boosting rounds (trees)"""
    learning_rate: float = 0.1
    max_leaf_nodes: int = 15
    """leaves per tree: small, since effects are a small signal on top of noisy outcomes"""
    min_samples_leaf: int = 100
    """customers per leaf at least: keeps a leaf's mean outcome from resting on a few responders"""
    l2_regularization: float = 1.0

    def __post_init__(self) -> None:
        checks = {"max_iter": self.max_iter >= 1, "learning_rate": 0 < self.learning_rate <= 1, "max_leaf_nodes": self.max_leaf_nodes >= 2,
                  "min_samples_leaf": self.min_samples_leaf >= 1, "l2_regularization": self.l2_regularization >= 0}
        allowed = {"max_iter": ">= 1", "learning_rate": "in (0, 1]", "max_leaf_nodes": ">= 2", "min_samples_leaf": ">= 1", "l2_regularization": ">= 0"}
        for name, ok in checks.items():
            if not ok:
                raise UpliftInputError(f"{name}={getattr(self, name)!r}; allowed: {allowed[name]}")

    def regressor(self, seed: int) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
                                             min_samples_leaf=self.min_samples_leaf, l2_regularization=self.l2_regularization,
                                             early_stopping=False, random_state=seed)


@dataclass
class TLearner:
    r"""One outcome model per arm; :math:`\hat\tau_k(x) = \hat\mu_k(x) - \hat\mu_0(x)`.

    :param params: the regressions' settings.
    :param seed: the regressions' seed (each model gets its own, drawn from it).
    """

    params: BoostingParams = field(default_factory=BoostingParams)
    seed: int = 0
    name: str = "t"
    outcome_models: list[HistGradientBoostingRegressor] = field(default_factory=list, init=False, repr=False)
    n_features: int = field(default=0, init=False)

    def fit(self, X: object, treatment: object, y: object) -> TLearner:
        """Fit on a randomised log: ``X`` (n, d) features, ``treatment`` (n,) codes 0..K, ``y`` (n,) outcomes."""
        x, t, out = checked(X, treatment, y)
        self.n_features = x.shape[1]
        seeds = model_seeds(self.seed, t.max() + 1)
        self.outcome_models = [self.params.regressor(s).fit(x[t == k], out[t == k]) for k, s in enumerate(seeds)]
        return self

    @property
    def n_treatments(self) -> int:
        return len(self.outcome_models) - 1

    def outcomes(self, X: object) -> np.ndarray:
        r"""(n, K + 1) predicted outcome under each arm, :math:`\hat\mu_k(x)`, column 0 the control."""
        x = self._features(X)
        return np.column_stack([m.predict(x) for m in self.outcome_models])

    def predict(self, X: object) -> np.ndarray:
        r"""(n, K) predicted incremental outcome of each treatment over the control, :math:`\hat\tau_k(x)`."""
        mu = self.outcomes(X)
        return mu[:, 1:] - mu[:, :1]

    def _features(self, X: object) -> np.ndarray:
        if not self.outcome_models:
            raise UpliftInputError(f"{type(self).__name__}: predict before fit; allowed: fit(X, treatment, y) first")
        x = as_matrix(X)
        if x.shape[1] != self.n_features:
            raise UpliftInputError(f"X: {x.shape[1]} features, but the model was fitted on {self.n_features}; allowed: the fit's features")
        return x


@dataclass
class XLearner(TLearner):
    r"""The T-learner's outcome models impute individual effects; two effect models per treatment, blended by :math:`g_k`.

    :param params: the regressions' settings (outcome and effect models alike).
    :param seed: the regressions' seed.
    """

    name: str = "x"
    effect_models: list[tuple[HistGradientBoostingRegressor, HistGradientBoostingRegressor]] = field(default_factory=list, init=False, repr=False)
    shares: np.ndarray = field(default_factory=lambda: np.zeros(0), init=False, repr=False)
    """(K,) :math:`g_k = n_k / (n_k + n_0)`, each treatment's share of its pair with the control"""

    def fit(self, X: object, treatment: object, y: object) -> XLearner:
        super().fit(X, treatment, y)
        x, t, out = checked(X, treatment, y)
        mu = self.outcomes(x)
        control = t == 0
        seeds = model_seeds(self.seed + 1, 2 * self.n_treatments)
        self.effect_models, shares = [], []
        for k in range(1, self.n_treatments + 1):
            arm = t == k
            treated_effect = out[arm] - mu[arm, 0]  # D^1: observed treated outcome minus the imputed control outcome
            control_effect = mu[control, k] - out[control]  # D^0: the imputed treated outcome minus the observed control outcome
            tau1 = self.params.regressor(seeds[2 * k - 2]).fit(x[arm], treated_effect)
            tau0 = self.params.regressor(seeds[2 * k - 1]).fit(x[control], control_effect)
            self.effect_models.append((tau1, tau0))
            shares.append(arm.sum() / (arm.sum() + control.sum()))
        self.shares = np.array(shares)
        return self

    def predict(self, X: object) -> np.ndarray:
        x = self._features(X)
        cols = [g * tau0.predict(x) + (1 - g) * tau1.predict(x) for g, (tau1, tau0) in zip(self.shares, self.effect_models)]
        return np.column_stack(cols)


MODELS: dict[str, type[TLearner]] = {"t": TLearner, "x": XLearner}
"""the learners by name (``uplift_<name>`` in the policy family, ``uplift_eval.model`` in the task)"""


def make_model(name: str, seed: int = 0, params: BoostingParams | None = None) -> TLearner:
    """The learner called ``name`` (a key of :data:`MODELS`), unfitted."""
    if name not in MODELS:
        raise UpliftInputError(f"model={name!r}: unknown; allowed: {', '.join(MODELS)}")
    return MODELS[name](params=params or BoostingParams(), seed=seed)


def checked(X: object, treatment: object, y: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fit's three inputs checked against each other: features, treatment codes (every arm present), outcomes."""
    x = as_matrix(X)
    return x, as_treatment(treatment, len(x)), as_vector(y, "y", len(x))


def model_seeds(seed: int, n: int) -> list[int]:
    """``n`` independent seeds for a learner's regressions, drawn from the learner's seed."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n)]

"""The settings of an ``uplift_<model>`` policy (``configs/policy/uplift_t.yaml``, ``uplift_x.yaml``), checked on construction.

Seeds: the pilots the model is fitted on run on the market seeds ``train_seeds``, which
:meth:`UpliftConfig.check_held_out` keeps away from the seeds a comparison evaluates on, so that
no shopper the policy is judged on ever trained its model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from policies.uplift.arms import Arms
from sim.config import bounded, validate
from uplift.checks import UpliftInputError
from uplift.models import BoostingParams

DEFAULT_ARMS = (
    "info / email / morning",
    "recommendation / email / morning",
    "free_shipping / email / morning",
    "bogo / email / morning",
    "loyalty_points / email / morning",
    "10% {top_category} / email / morning",
    "recommendation / push / evening",
    "10% {top_category} / sms / evening",
)
"""what a CRM team would test: every non-discount offer and the rules' discount on the cheap e-mail, where ``blast`` and
the rule tables send, and a recommendation and the discount on the channels that are read more (push, sms)"""


@dataclass
class UpliftConfig:
    """Settings of an uplift policy, checked on construction (a ValueError naming the key, its value and what is allowed)."""

    arms: list[str] = field(default_factory=lambda: list(DEFAULT_ARMS))
    """the actions the pilot randomises over and the model scores, as ``"<offer> / <channel> / <slot>"``; the offer may be
    ``10% {top_category}`` and the channel ``best_opened`` (resolved per shopper as the rule tables do)"""
    pilot_days: int = bounded(14, ge=1, le=365)
    """days of the randomised pilot: on each training market before the fit, and first on every market the policy runs on
    (its cost counts there)"""
    control_share: float = bounded(0.5, gt=0.0, le=0.99)
    """the pilot's holdout: each pilot day, the probability that a shopper who could get an arm gets no contact"""
    train_seeds: list[int] = field(default_factory=lambda: [3000, 3001])
    """market seeds of the training pilots; they must miss every seed of the comparison"""
    train_shoppers: int = bounded(0, ge=0, le=1_000_000)
    """shoppers at the start of each training market (0 = the experiment market's size)"""
    fit_rows: int = bounded(400_000, ge=100, le=100_000_000)
    """most pilot decisions the model is fitted on, drawn at random (a fixed draw) from the matured ones"""
    boosting: dict = field(default_factory=lambda: dataclasses.asdict(BoostingParams(learning_rate=0.05, max_leaf_nodes=7, min_samples_leaf=1000)))
    """the gradient boosting of every regression of the learner (uplift.models.BoostingParams): smaller trees on larger leaves
    than the library's default, since a message moves a week's profit by cents beside a spread of tens; fitted on one
    training pilot and judged on another, the T-learner's targeting went from -0.00 to +0.17 per decision with them
    (docs/results/uplift_policy.md)"""
    seed: int = bounded(0, ge=0, le=2**31 - 1)
    """seed of the regressions and of the draw of the fitted rows"""
    threads: int = bounded(1, ge=1, le=256)
    """threads of the fit (it runs beside the comparison's other runs)"""
    model_path: str = ""
    """a fitted model (``model.pkl`` beside its ``model.json``) to act with; empty: a comparison fits one into <run>/<name>/"""

    def __post_init__(self) -> None:
        validate(self)
        self.parsed_arms = Arms(self.arms)
        if (not isinstance(self.train_seeds, list) or not self.train_seeds or len(set(self.train_seeds)) != len(self.train_seeds)
                or any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= 2**31 - 1 for s in self.train_seeds)):
            raise ValueError(f"train_seeds={self.train_seeds!r}: must be a non-empty list of distinct market seeds in [0, {2**31 - 1}]")
        self.boosting_params = boosting_params(self.boosting)
        if self.model_path and not Path(self.model_path).is_file():
            raise ValueError(f"model_path={self.model_path!r}: no such file")

    def check_held_out(self, seeds: list[int]) -> None:
        """Refuse evaluation ``seeds`` that a training pilot of this config runs on."""
        if self.model_path:
            return  # a given model: where it was fitted is the caller's business
        shared = sorted(set(self.train_seeds) & set(seeds))
        if shared:
            raise ValueError(f"train_seeds={self.train_seeds}: the training pilots would run on the experiment seed(s) {shared}; "
                             f"pick seeds the experiment does not use")


def boosting_params(boosting: object) -> BoostingParams:
    """``boosting`` (a mapping of :class:`~uplift.models.BoostingParams` fields) checked and built; a ValueError names the key."""
    defaults = BoostingParams()
    names = [f.name for f in dataclasses.fields(BoostingParams)]
    if not isinstance(boosting, dict):
        raise ValueError(f"boosting={boosting!r}: must be a mapping of {', '.join(names)}")
    for key, value in boosting.items():
        if key not in names:
            raise ValueError(f"boosting.{key}: unknown; allowed: {', '.join(names)}")
        kind = kind_of(defaults, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
            raise ValueError(f"boosting.{key}={value!r}: must be {'a whole number' if kind is int else 'a number'}")
    try:
        return BoostingParams(**{k: kind_of(defaults, k)(v) for k, v in boosting.items()})
    except UpliftInputError as e:
        raise ValueError(f"boosting.{e}") from None


def kind_of(defaults: BoostingParams, key: str) -> type:
    """The type of a :class:`~uplift.models.BoostingParams` field, read from its default (an int given for a float is a float)."""
    return type(getattr(defaults, key))

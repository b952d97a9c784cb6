"""An uplift model fitted on pilot decision logs, and its files: the rows, the fit, the manifest, the checked load.

Each matured decision the pilot randomised (:mod:`policies.uplift.pilot`) is one training row:

* features :math:`x`: the CRM observation the pilot acted on (:data:`sim.features.FEATURE_NAMES`, what the decision
  log holds; no latent trait);
* treatment :math:`t`: the arm whose action ran (1..K), 0 for the holdout;
* outcome :math:`y`: the decision's reward, the shopper's profit over its 7-day window
  (:mod:`policies.attribution`: margin minus discounts minus channel costs), so that the model's
  :math:`\\hat\\tau_k(x) = \\hat E[y \\mid x, k] - \\hat E[y \\mid x, 0]` is the arm's incremental profit net of its cost.

A row is the pilot's draw exactly when its propensity is below 1: the holdout has probability
``control_share`` and an arm ``(1 - control_share) / k``, while a shopper with no sendable arm, and
a send the daily budget refused (no contact forced by the guardrails, whatever was drawn), are
logged with propensity 1 and are no part of the trial.

A fitted model is written as ``model.pkl`` (the learner, pickled) beside ``model.json`` (its
manifest: learner, arms, settings, rows per arm, fit seconds); :func:`load_model` refuses a model
whose manifest names other arms or another learner than the policy that loads it.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from policies.uplift.arms import Arms
from policies.uplift.config import UpliftConfig
from sim.features import FEATURE_NAMES
from uplift.models import TLearner, make_model

MODEL_FILE = "model.pkl"
MANIFEST_FILE = "model.json"


@dataclasses.dataclass
class PilotRows:
    """Training rows of an uplift model: features, treatment codes (0 = holdout, k = arm k) and 7-day profits."""

    x: np.ndarray  # (n, F) float32
    treatment: np.ndarray  # (n,) int64
    profit: np.ndarray  # (n,) float64

    @classmethod
    def from_log(cls, log: pd.DataFrame, arms: Arms) -> PilotRows:
        """The randomised, matured rows of a pilot's decision log (:data:`policies.decision_log.LOG_COLUMNS`)."""
        keep = log["matured"].to_numpy(dtype=bool) & (log["propensity"].to_numpy() < 1.0)
        action = log["action"].to_numpy(dtype=np.int64)[keep]
        treatment = arms.arm_of_action[action]
        foreign = (action > 0) & (treatment == 0)
        if foreign.any():
            raise ValueError(f"the log holds sends of actions that are no arm (e.g. action {int(action[foreign][0])}); "
                             f"allowed: a log of the pilot over the same arms")
        return cls(log.loc[keep, list(FEATURE_NAMES)].to_numpy(dtype=np.float32), treatment, log["reward"].to_numpy(dtype=np.float64)[keep])

    @classmethod
    def concat(cls, parts: list[PilotRows]) -> PilotRows:
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls)))

    def __len__(self) -> int:
        return len(self.treatment)

    def sample(self, most: int, rng: np.random.Generator) -> PilotRows:
        """At most ``most`` rows, drawn without replacement (in their order), or all of them."""
        if len(self) <= most:
            return self
        keep = np.sort(rng.choice(len(self), size=most, replace=False))
        return PilotRows(self.x[keep], self.treatment[keep], self.profit[keep])


def fit_model(model: str, config: UpliftConfig, rows: PilotRows, where: str = "training pilots") -> tuple[TLearner, dict]:
    """The learner ``model`` (a key of :data:`uplift.models.MODELS`) fitted on ``rows``, and its manifest.

    An arm no row received cannot be estimated: it is refused by name, with where the rows came from.
    """
    counts = np.bincount(rows.treatment, minlength=len(config.parsed_arms) + 1)
    for k, n in enumerate(counts):
        if n == 0:
            what = "the holdout" if k == 0 else f"arms[{k - 1}]={config.arms[k - 1]!r}"
            raise ValueError(f"{what}: no matured pilot decision on the {where}; allowed: arms that some shoppers can get "
                             f"(consent on the channel, a known category for a {{top_category}} offer), with pilot_days and "
                             f"train_shoppers large enough")
    learner = make_model(model, seed=config.seed, params=config.boosting_params)
    start = time.perf_counter()
    with threadpool_limits(limits=config.threads):
        learner.fit(rows.x, rows.treatment, rows.profit)
    manifest = {
        "model": model,
        "arms": list(config.arms),
        "rows": int(len(rows)),
        "rows_per_arm": {"holdout": int(counts[0]), **{name: int(n) for name, n in zip(config.arms, counts[1:])}},
        "mean_profit_per_arm": {"holdout": float(rows.profit[rows.treatment == 0].mean()),
                                **{name: float(rows.profit[rows.treatment == k].mean()) for k, name in enumerate(config.arms, start=1)}},
        "fit_seconds": time.perf_counter() - start,
        "config": {f.name: getattr(config, f.name) for f in dataclasses.fields(config)},
    }
    return learner, manifest


def model_bytes(learner: TLearner) -> bytes:
    return pickle.dumps(learner, protocol=pickle.HIGHEST_PROTOCOL)


def manifest_text(manifest: dict) -> str:
    return json.dumps(manifest, indent=2)


def load_model(path: Path, arms: list[str], model: str) -> TLearner:
    """The learner saved at ``path`` (``model.pkl``), checked against its manifest ``model.json`` beside it.

    The model's columns are the arms it was fitted on, in order: acting with other arms would send
    one arm on another's prediction, so a manifest whose arms or learner differ is refused.
    """
    path = Path(path)
    manifest_path = path.with_name(MANIFEST_FILE)
    if not manifest_path.is_file():
        raise ValueError(f"model_path={str(path)!r}: no {MANIFEST_FILE} beside it; allowed: a model a comparison or training wrote "
                         f"(model.pkl with its manifest)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("model") != model:
        raise ValueError(f"model_path={str(path)!r}: holds a {manifest.get('model')!r} learner; allowed: a model of learner {model!r}")
    if manifest.get("arms") != list(arms):
        raise ValueError(f"arms={list(arms)!r}: the model at {str(path)!r} was fitted on arms {manifest.get('arms')!r}; "
                         f"allowed: those arms, in that order (or fit a model on these)")
    learner = pickle.loads(path.read_bytes())
    if not isinstance(learner, TLearner):
        raise ValueError(f"model_path={str(path)!r}: holds a {type(learner).__name__}; allowed: an uplift learner (uplift.models)")
    return learner

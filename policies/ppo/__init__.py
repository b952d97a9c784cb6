"""PPO: an actor cloned from the reference, fine-tuned by MaskablePPO on the market, behind :class:`Policy`.

A bandit picks the action with the best profit over the next week. PPO maximises each shopper's
discounted profit over every day to come,

.. math::  J(\\pi) = \\mathbb{E}_\\pi \\Big[\\sum_{t \\ge 0} \\gamma^t\\, r_{i,t}\\Big],
           \\qquad r_{i,t} = \\text{margin} - \\text{discounts} - \\text{channel cost},

with :math:`\\gamma` a daily discount (0.99: a month ahead still weighs 0.74). A message that tires
a shopper today and costs an unsubscribe or a churn next month therefore counts against the
message. From a near-uniform actor that objective taught PPO only restraint (the return's noise
per contact dwarfs the differences between messages), so the actor first copies what the reference
would send (:mod:`~policies.ppo.cloning`, on training markets; the actor reads only the CRM), and
PPO fine-tunes from there.

One idea per module, so that acting needs no training stack:

- :mod:`~policies.ppo.config`: :class:`PPOConfig`, the hyperparameters (no torch: the CLI's schema reads it);
- :mod:`~policies.ppo.network`: the actor-critic, its input scaling and its factored action head;
- :mod:`~policies.ppo.inference`: :class:`PPOPolicy`, a trained model behind the policy interface;
- :mod:`~policies.ppo.cloning`: the actor's start, behaviour cloning of a teacher with DAgger;
- :mod:`~policies.ppo.reward`: the training env's reward, profit over a no-contact twin;
- :mod:`~policies.ppo.callbacks`: advantage centring, evaluation, checkpoints, TensorBoard curves;
- :mod:`~policies.ppo.training`: :func:`~policies.ppo.training.train`, the loop itself.
"""

from __future__ import annotations

import importlib
from typing import Any

from policies.ppo.config import PPOConfig

__all__ = ["PPOConfig"]

_PICKLED = {"FactoredPolicy": "network", "UnitFeatures": "network", "Twin": "reward"}
"""classes that models and checkpoints saved before this package existed name as ``policies.ppo.<class>``"""


def __getattr__(name: str) -> Any:
    """Resolve a class a saved model or checkpoint names by its old path, importing its module only then.

    A MaskablePPO ``.zip`` stores its policy and feature-extractor classes, and a checkpoint's
    ``state.pkl`` its :class:`~policies.ppo.reward.Twin`, as references (module and name) that
    unpickling looks up here; a lookup at import would load torch for every user of the config.
    """
    if name in _PICKLED:
        return getattr(importlib.import_module(f"policies.ppo.{_PICKLED[name]}"), name)
    raise AttributeError(f"module 'policies.ppo' has no attribute {name!r}")

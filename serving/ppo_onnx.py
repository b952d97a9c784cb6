"""MaskablePPO to ONNX: the action-logits network, and the torch probabilities it must reproduce.

This module imports torch and sb3-contrib; only the exporter loads it (lazily), so the serving
runtime (:mod:`serving.runtime`) never does. Any ``MaskablePPO`` ``.zip`` over this project's
observation and action spaces can be exported, whoever trained it.

The graph is SB3's own actor path, unchanged: features extractor -> ``mlp_extractor`` policy
network -> ``action_net``, mapping ``obs`` (batch, N_FEATURES) float32 to ``logits`` (batch,
N_ACTIONS), with a dynamic batch dimension. The observation needs no preprocessing (a ``Box``
space is passed through as float). Statistics of a ``VecNormalize`` wrapper are not part of a
``.zip`` and cannot be detected from it: export only models trained on raw observations (as
:class:`sim.vec_env.MarketVecEnv` gives them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sb3_contrib import MaskablePPO

from serving.runtime import ONNX_INPUT, ONNX_OUTPUT
from sim.catalogue import N_ACTIONS
from sim.features import FEATURE_HIGH, FEATURE_LOW, N_FEATURES


class ActionLogits(torch.nn.Module):
    """The actor half of a MaskablePPO policy, as one module torch.onnx can trace."""

    def __init__(self, model: MaskablePPO):
        super().__init__()
        self.features = model.policy.pi_features_extractor
        self.mlp = model.policy.mlp_extractor
        self.action_net = model.policy.action_net

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.action_net(self.mlp.forward_actor(self.features(obs)))


def load(path: Path) -> MaskablePPO:
    """A MaskablePPO model on CPU whose spaces are this project's; a clear ValueError otherwise."""
    model = MaskablePPO.load(Path(path), device="cpu")
    space, actions = model.observation_space, model.action_space
    if space.shape != (N_FEATURES,) or not (np.array_equal(space.low, FEATURE_LOW) and np.array_equal(space.high, FEATURE_HIGH)):
        raise ValueError(f"{path}: observation space {space} is not offerlab's ({N_FEATURES} features of sim.features with their bounds)")
    if getattr(actions, "n", None) != N_ACTIONS:
        raise ValueError(f"{path}: action space {actions} is not Discrete({N_ACTIONS})")
    return model


def export(model: MaskablePPO, dest: Path) -> None:
    """Write the action-logits graph to ``dest`` as one self-contained ONNX file (no external weights)."""
    net = ActionLogits(model).eval()
    example = torch.zeros(2, N_FEATURES)  # a batch of 2: torch.export specialises sizes 0 and 1
    with torch.no_grad():
        torch.onnx.export(
            net, (example,), str(dest), dynamo=True, external_data=False, input_names=[ONNX_INPUT], output_names=[ONNX_OUTPUT],
            dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False,
        )


def probabilities(model: MaskablePPO, obs: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """(n, N_ACTIONS) the masked action probabilities as sb3-contrib computes them (the parity reference)."""
    with torch.no_grad():
        dist = model.policy.get_distribution(torch.as_tensor(obs, dtype=torch.float32), action_masks=allowed)
        return dist.distribution.probs.numpy().astype(np.float64)

"""The torch-free runtime: policies read back from an exported artefact, as the HTTP service decides with them.

A shop's decision server should not need the training stack (torch, stable-baselines3, the
simulator's training loop) to answer a request, so each kind of policy has a light runtime:

- ``ppo``: the MaskablePPO action network as ONNX, run by ONNX Runtime (:class:`OnnxPolicy`).
  The graph maps observations to action logits only; masking, softmax and sampling happen in
  numpy here, so the guardrail mask is applied by the same code for every policy and the graph
  stays exactly SB3's network. The chosen action is the most probable one (propensity 1), as a
  comparison's PPO acts with ``policies.ppo.deterministic: true``, or with ``deterministic: false`` in
  the manifest a draw from the masked distribution, whose probability is the propensity.
- ``bandit``: the learner class itself (:mod:`bandits`, found through :mod:`policies.registry`),
  restored from its portable ``.npz`` state; it needs numpy and scipy only. It acts exactly as
  the live learner does.
- ``rules``: the YAML rule table, compiled by :mod:`policies.rules`.

"Same choices as the live object" means, per learner: LinUCB is deterministic, so the exported
runtime returns the live object's UCB action for every observation and mask. Epsilon-greedy,
linear Thompson sampling and the bootstrap ensemble are randomised: given a random generator in
the same state, the runtime returns the same actions and the same propensities as the live
object (the propensities come from the learner's own formulas: exact for epsilon-greedy and the
bootstrap, estimated from posterior draws for Thompson). At serving time each request gets a
fresh generator, so these learners keep exploring and the logged propensities stay valid for
off-policy evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort

from bandits.base import LinearBandit
from policies import registry
from policies.base import Decision, DecisionContext, Policy, deterministic, sampled
from policies.rules import RuleTable
from sim.catalogue import N_ACTIONS
from sim.features import N_FEATURES
from sim.guardrails import ActionMask

ONNX_INPUT = "obs"
ONNX_OUTPUT = "logits"


def masked_softmax(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """(n, A) action probabilities, exactly 0 where ``allowed`` is False, computed in float64.

    No contact (column 0) is always allowed, so every row has a finite maximum.
    """
    z = np.where(allowed, logits.astype(np.float64), -np.inf)
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


class OnnxPolicy(Policy):
    """A MaskablePPO policy exported to ONNX (see the module docstring)."""

    def __init__(self, path: Path, name: str = "ppo", deterministic: bool = False):
        self.name = name
        self.deterministic = deterministic
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # requests run in parallel threads; one core each is enough for a small MLP
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if [i.name for i in inputs] != [ONNX_INPUT] or inputs[0].shape[1:] != [N_FEATURES]:
            raise ValueError(f"{path}: expects one input {ONNX_INPUT!r} of shape (batch, {N_FEATURES}); has {[(i.name, i.shape) for i in inputs]}")
        if ONNX_OUTPUT not in [o.name for o in outputs] or outputs[0].shape[1:] != [N_ACTIONS]:
            raise ValueError(f"{path}: expects an output {ONNX_OUTPUT!r} of shape (batch, {N_ACTIONS}); has {[(o.name, o.shape) for o in outputs]}")

    def probabilities(self, obs: np.ndarray, mask: ActionMask) -> np.ndarray:
        logits = self.session.run([ONNX_OUTPUT], {ONNX_INPUT: np.ascontiguousarray(obs, dtype=np.float32)})[0]
        return masked_softmax(logits, mask.dense())

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        probs = self.probabilities(obs, mask)
        return deterministic(probs.argmax(axis=1)) if self.deterministic else sampled(probs, context.rng)


def exportable_bandits() -> Iterator[tuple[str, type[LinearBandit]]]:
    """(registry name, class) of each learner of :mod:`policies.registry` an artefact can hold: the linear bandits,
    whose state is a portable ``.npz``. Each is imported when reached."""
    for name in registry.LEARNERS:
        cls = registry.learner_class(name)
        if issubclass(cls, LinearBandit):
            yield name, cls


def bandit_class(kind: str) -> type[LinearBandit]:
    """The exportable learner whose saved states record ``kind``, its class name."""
    for _, cls in exportable_bandits():
        if cls.__name__ == kind:
            return cls
    raise ValueError(f"unknown bandit class {kind!r}; this offerlab exports {', '.join(cls.__name__ for _, cls in exportable_bandits())}")


def _bandit(path: Path, spec: dict) -> Policy:
    policy = bandit_class(spec["class"]).load_state(path)  # refuses a state whose feature layout is not this offerlab's
    policy.name = spec["name"]
    return policy


def _rules(path: Path, spec: dict) -> Policy:
    table = RuleTable.from_yaml(path)
    table.name = spec["name"]
    return table


def _ppo(path: Path, spec: dict) -> Policy:
    """An artefact exported before the manifest said how it acts drew from its distribution: it still does."""
    return OnnxPolicy(path, spec["name"], bool(spec.get("deterministic", False)))


RUNTIMES: dict[str, Callable[[Path, dict], Policy]] = {"bandit": _bandit, "ppo": _ppo, "rules": _rules}
"""policy kind -> loader of its model file; ``spec`` is the manifest's ``policy`` section"""


def load_runtime(path: Path, spec: dict) -> Policy:
    """The policy stored in ``path`` (an artefact's model file) as the manifest's ``policy`` section describes it."""
    if spec.get("kind") not in RUNTIMES:
        raise ValueError(f"unknown policy kind {spec.get('kind')!r}; allowed: {', '.join(RUNTIMES)}")
    return RUNTIMES[spec["kind"]](Path(path), spec)

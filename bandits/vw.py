"""Vowpal Wabbit's contextual bandit (``cb_explore_adf``) on the same features and matured rewards.

The industry's standard engine, held against our learners on the same shoppers. Each decision is
one VW multi-line example: a ``shared`` line with the shopper's context (the base and contact
blocks of :mod:`bandits.features`) and one line per allowed action with the action's own
features (offer, its relevance and depth interactions; channel with its opens; slot) -- the same
information our learners get. ``-q UA`` crosses context with action features (without it every
context gets the same choice). VW returns a probability mass function over the listed actions;
the policy samples from it with the run's generator, so the propensity is exact.

VW is optional: ``pip install -e .[vw]``. It parses text examples one shopper at a time, so it
is slow on big markets (see ``benchmarks/bench_bandits.py``).
"""

from __future__ import annotations

import numpy as np

from bandits.features import CONTACT_FEATURES, arm_features, base_names
from policies.base import Decision, DecisionContext, Feedback, Policy
from sim.catalogue import ACTION_CHANNEL, ACTION_OFFER, ACTION_SLOT
from sim.guardrails import ActionMask

try:  # optional extra
    import vowpalwabbit
except ImportError:  # pragma: no cover - exercised only without the extra
    vowpalwabbit = None


_SHARED_NAMES = (*base_names(), *(f"c_{f}" for f in CONTACT_FEATURES))
"""the shared namespace's feature names: the base block, then the contact block without its intercept"""


def available() -> bool:
    return vowpalwabbit is not None


class VowpalPolicy(Policy):
    """``cb_explore_adf`` with epsilon-greedy exploration; see the module docstring."""

    name = "vw"
    learns = True

    def __init__(self, epsilon: float = 0.05, learning_rate: float = 0.5, seed: int = 0):
        if vowpalwabbit is None:
            raise ValueError("vw: the vowpalwabbit package is not installed; install the extra: pip install -e '.[vw]'")
        if not 0 <= epsilon <= 1:
            raise ValueError(f"epsilon={epsilon!r}: must be in [0, 1]")
        self.epsilon, self.learning_rate, self.seed = epsilon, learning_rate, seed
        self.vw = vowpalwabbit.Workspace(
            f"--cb_explore_adf -q UA --epsilon {epsilon} -l {learning_rate} --random_seed {seed} --quiet", enable_logging=False
        )
        self.exploration = epsilon

    def _lines(self, obs_row: dict[str, np.ndarray], i: int, actions: np.ndarray) -> list[str]:
        ctx = " ".join(f"{n}:{v:.5g}" for n, v in zip(_SHARED_NAMES, obs_row["shared"][i], strict=True))
        lines = [f"shared |U {ctx}"]
        for a in actions:
            if a == 0:
                lines.append("|A none")
                continue
            o, h, s = ACTION_OFFER[a], ACTION_CHANNEL[a], ACTION_SLOT[a]
            rb, rv, df, dr = obs_row["offer"][i, o]
            opens, tiring = obs_row["channel"][i, h]
            lines.append(f"|A o{o} h{h} s{s} rb:{rb:.4g} rv:{rv:.4g} df:{df:.4g} dr:{dr:.4g} op:{opens:.4g} ti:{tiring:.4g}")
        return lines

    @staticmethod
    def _features(obs: np.ndarray) -> dict[str, np.ndarray]:
        f = arm_features(obs)
        return {"shared": np.concatenate([f.base, f.contact[:, 1:]], axis=1), "offer": f.offer, "channel": f.channel}

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        feats = self._features(obs)
        dense = mask.dense()
        actions = np.zeros(len(obs), dtype=np.int64)
        propensity = np.ones(len(obs))
        for i in range(len(obs)):
            allowed = np.flatnonzero(dense[i])
            pmf = np.asarray(self.vw.predict("\n".join(self._lines(feats, i, allowed))), dtype=np.float64)
            k = context.rng.choice(len(allowed), p=pmf / pmf.sum())
            actions[i], propensity[i] = allowed[k], pmf[k] / pmf.sum()
        return Decision(actions, propensity)

    def update(self, feedback: Feedback) -> None:
        """One VW learn call per matured decision: cost = -reward on the chosen action's line.

        The learn example lists only the chosen action: VW's default ``mtr`` reduction regresses
        on the chosen action alone, so the other actions' lines would not change the update.
        """
        feats = self._features(feedback.obs)
        for i, (a, p, r) in enumerate(zip(feedback.actions, feedback.propensity, feedback.reward)):
            shared, line = self._lines(feats, i, np.array([a]))
            self.vw.learn(f"{shared}\n0:{-float(r):.6g}:{max(float(p), 1e-6):.6g} {line}")

    def save(self, path, seed: int | None = None) -> None:
        """VW's own model file (the workspace is native code and does not pickle); it has no room for ``seed``."""
        self.vw.save(str(path))

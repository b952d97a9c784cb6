"""PPO's actor started from a teacher's choices: behaviour cloning with DAgger on training markets (:func:`clone`).

From a near-uniform actor PPO learns one thing, to contact less: a rollout holds far fewer contacts
of each offer than telling two offers apart takes (``benchmarks/message_signal.py``). A teacher
that knows what to send whom gives the actor that knowledge first, and PPO fine-tunes from there.

The default teacher is the reference (:class:`policies.planner.Planner`), which reads every
shopper's latent traits and state. That makes it a *privileged* teacher, used on training markets
only: the student is the actor, which reads the CRM observation and nothing else, so the trained,
compared, exported and served policy knows only what a retailer could know. What it can copy of
the teacher is what the CRM reveals of the latent traits (the observable-ceiling study measures
that bound for a regression).

Dataset aggregation (DAgger, Ross, Gordon and Bagnell 2011), ``rounds`` rounds: in round 0 the
teacher acts on a fresh training market and labels every shopper-day with its choice; in round
k >= 1 the student of round k - 1 acts, as it will act when deployed, and the teacher labels the
states the *student* reaches (a student that sends less leaves shoppers less tired than the
teacher's, and those are the states it must decide on). After each round the actor is fitted by
maximum likelihood on every label so far, the guardrail mask applied as in training:

.. math::  \\min_\\theta\\; -\\frac{1}{N} \\sum_{j} \\log \\pi_\\theta\\big(a^*_j \\mid x_j, \\text{mask}_j\\big).

A market the fit never saw, acted on by the final student and labelled by the teacher, measures the
agreement (:class:`CloneReport`). The value network is left to PPO.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch as th
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy

from policies.base import DecisionContext, MarketDay, Policy
from policies.ppo.inference import PPOPolicy
from policies.registry import make_policy
from sim.config import GuardrailConfig, MarketConfig
from sim.guardrails import ActionMask
from sim.market import MarketModel


ACTOR = ("mlp_extractor.policy_net", "action_net")
"""the actor's parameters in sb3's actor-critic (the features extractor only rescales, with buffers)"""


@dataclass
class Labels:
    """Shopper-days a teacher labelled: the observation, the channels allowed (the mask in factored form), its action."""

    obs: np.ndarray  # (N, F) float32
    channel_ok: np.ndarray  # (N, H) bool
    actions: np.ndarray  # (N,) int64

    @classmethod
    def concat(cls, parts: list[Labels]) -> Labels:
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls)))

    def __len__(self) -> int:
        return len(self.actions)


@dataclass
class CloneReport:
    """How well the cloned actor copies its teacher on a held-out market, and what cloning cost."""

    teacher: str
    rounds: int
    labels: int
    """shopper-days fitted on, all rounds together"""
    agreement: float
    """share of held-out shopper-days where the student's most probable action is the teacher's"""
    teacher_send_share: float
    student_send_share: float
    """shares of held-out shopper-days with a send, by the teacher and by the student's most probable action"""
    send_agreement: float
    """among the teacher's sends, the share where the student's most probable action is the same offer, channel and slot"""
    negative_log_likelihood: float
    """mean of :math:`-\\log \\pi_\\theta(a^* \\mid x)` on the held-out market"""
    seconds: float


def label(teacher_name: str, market_config: MarketConfig, guardrails: GuardrailConfig | None, seed: int, student: Policy | None = None) -> Labels:
    """One training market of ``seed``, the whole horizon: the teacher's choice on every present shopper-day.

    The market moves on the student's actions when one is given (DAgger's later rounds), else on the
    teacher's. The teacher is built on the market (the reference reads the one it decides for).
    """
    market = MarketModel(market_config, guardrails, seed=seed)
    teacher = make_policy(teacher_name, market)
    parts: list[Labels] = []
    for _ in range(market_config.horizon_days):
        day = MarketDay.of(market)
        choice = teacher.act(day.obs, day.mask, day.context)
        parts.append(Labels(day.obs, day.mask.channel_ok, np.where(day.mask.allows(choice.actions), choice.actions, 0).astype(np.int64)))
        day.step(market, choice if student is None else student.act(day.obs, day.mask, day.context))
    return Labels.concat(parts)


def most_probable(network: MaskableActorCriticPolicy, labels: Labels) -> np.ndarray:
    """(N,) the actor's most probable action on each labelled shopper-day, as the deterministic policy acts."""
    context = DecisionContext(day=0, weekday=0, rng=np.random.default_rng(0), rows=np.arange(len(labels)))
    return PPOPolicy(network, deterministic=True).act(labels.obs, ActionMask(labels.channel_ok), context).actions


def log_likelihood(network: MaskableActorCriticPolicy, labels: Labels) -> th.Tensor:
    """(N,) :math:`\\log \\pi_\\theta(a^* \\mid x, \\text{mask})` under sb3-contrib's masked distribution, as PPO acts."""
    dist = network.get_distribution(th.as_tensor(labels.obs), action_masks=ActionMask(labels.channel_ok).dense())
    return dist.log_prob(th.as_tensor(labels.actions))


def fit(network: MaskableActorCriticPolicy, labels: Labels, epochs: int, batch_size: int, learning_rate: float, seed: int) -> None:
    """Maximum likelihood of the teacher's actions by Adam on the actor's parameters (the critic's are left alone)."""
    actor = [p for name, p in network.named_parameters() if name.startswith(ACTOR)]
    optimiser = th.optim.Adam(actor, lr=learning_rate)
    order = th.Generator().manual_seed(seed)
    network.set_training_mode(True)
    for _ in range(epochs):
        for batch in th.randperm(len(labels), generator=order).split(batch_size):
            rows = batch.numpy()
            loss = -log_likelihood(network, Labels(labels.obs[rows], labels.channel_ok[rows], labels.actions[rows])).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    network.set_training_mode(False)


def clone(network: MaskableActorCriticPolicy, teacher: str, market_config: MarketConfig, guardrails: GuardrailConfig | None,
          seeds: list[int], held_out_seed: int, epochs: int, batch_size: int, learning_rate: float, deterministic: bool) -> CloneReport:
    """Fit ``network``'s actor to ``teacher`` by DAgger, one round per market of ``seeds``; measure it on ``held_out_seed``.

    The student acts as it will be deployed (``deterministic``: its most probable action; else a draw).
    """
    start = time.perf_counter()
    data: list[Labels] = []
    for k, seed in enumerate(seeds):
        student = PPOPolicy(network, deterministic) if k > 0 else None
        data.append(label(teacher, market_config, guardrails, seed, student))
        fit(network, Labels.concat(data), epochs, batch_size, learning_rate, seed)
    held = label(teacher, market_config, guardrails, held_out_seed, PPOPolicy(network, deterministic))
    greedy = most_probable(network, held)
    with th.no_grad():
        nll = float(-log_likelihood(network, held).mean())
    sends = held.actions > 0
    return CloneReport(
        teacher=teacher, rounds=len(seeds), labels=sum(len(d) for d in data), agreement=float((greedy == held.actions).mean()),
        teacher_send_share=float(sends.mean()), student_send_share=float((greedy > 0).mean()),
        send_agreement=float((greedy[sends] == held.actions[sends]).mean()) if sends.any() else float("nan"),
        negative_log_likelihood=nll, seconds=time.perf_counter() - start,
    )

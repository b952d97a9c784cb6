"""TensorBoard curves of a comparison: one run directory per policy and seed, all under ``<run>/tb/``.

``tensorboard --logdir <run>/tb`` overlays every policy. Tags are namespaced like cleanrl's:
``charts/`` for business metrics per simulated day, ``mix/`` for the share of messages by
channel, offer and slot, ``guardrails/`` for refused sends. The cumulative regret of a policy is
measured against the reference (:mod:`policies.planner`) run on the same seed:

.. math::  R_T = \\sum_{t \\le T} (\\Pi^{reference}_t - \\Pi^{policy}_t)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from experiments.metrics import REFERENCE
from experiments.runner import RunResult
from sim.catalogue import ACTION_CHANNEL, ACTION_OFFER, ACTION_SLOT, CHANNEL_NAMES, OFFER_NAMES, SLOTS


def write_tensorboard(results: list[RunResult], daily: pd.DataFrame, hparams: str, run_dir: Path) -> Path:
    """Write the event files; returns the log root."""
    from torch.utils.tensorboard import SummaryWriter  # torch loads with the first comparison, not with every command

    root = run_dir / "tb"
    reference = {r.seed: r.daily["profit"].to_numpy() for r in results if r.policy == REFERENCE}
    parts = {"channel": (ACTION_CHANNEL[1:], CHANNEL_NAMES), "offer": (ACTION_OFFER[1:], OFFER_NAMES), "slot": (ACTION_SLOT[1:], SLOTS)}
    for r in results:
        d = daily[(daily.policy == r.policy) & (daily.seed == r.seed)].sort_values("day")
        writer = SummaryWriter(log_dir=str(root / r.policy / f"seed_{r.seed}"))
        writer.add_text("hyperparameters", hparams)
        sends = r.sends_by_day[:, 1:]
        total = np.maximum(sends.sum(axis=1), 1)
        regret = np.cumsum(reference[r.seed] - d["profit"].to_numpy()) if r.seed in reference else None
        for k, row in enumerate(d.itertuples()):
            present = max(row.present, 1.0)
            writer.add_scalar("charts/mean_reward", row.profit / present, row.day)
            writer.add_scalar("charts/incremental_profit", row.incremental_profit, row.day)
            writer.add_scalar("charts/cumulative_incremental_profit", row.cumulative_incremental_profit, row.day)
            writer.add_scalar("charts/sends_per_shopper", row.sends / present, row.day)
            writer.add_scalar("charts/exploration_rate", r.exploration[k], row.day)
            writer.add_scalar("charts/unsubscribes", row.unsubscribes, row.day)
            writer.add_scalar("charts/churned", row.churned, row.day)
            writer.add_scalar("guardrails/violations", row.violations, row.day)
            if regret is not None:
                writer.add_scalar("charts/cumulative_regret_vs_reference", regret[k], row.day)
            for part, (index, names) in parts.items():
                share = np.bincount(index, weights=sends[k], minlength=len(names)) / total[k]
                for name, value in zip(names, share):
                    writer.add_scalar(f"mix/{part}/{name}", value, row.day)
        writer.close()
    return root

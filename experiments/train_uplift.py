"""Fitting an ``uplift_<model>`` policy's model: its pilot on each training market seed, the fit, the files.

On each seed of ``train_seeds`` the market (resized to ``train_shoppers``) runs for
``pilot_days + 6`` days under the pilot (:class:`policies.uplift.pilot.PilotPolicy`), through the
comparison's runner with every decision logged, so that the pilot's days all mature inside it (a
decision's reward is its 7-day window's profit, :mod:`policies.attribution`) and the rows are
those a comparison's decision log would hold. The matured randomised rows of all seeds, at most
``fit_rows`` of them (a fixed draw), fit the learner (:mod:`policies.uplift.training`), written
into ``out`` as ``model.pkl`` and its manifest ``model.json``, each whole or not at all.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from experiments.io import atomic_write, write_text
from experiments.runner import run_policy
from policies.uplift.config import UpliftConfig
from policies.uplift.pilot import PilotPolicy
from policies.uplift.training import MANIFEST_FILE, MODEL_FILE, PilotRows, fit_model, manifest_text, model_bytes
from sim.catalogue import VALIDITY_DAYS
from sim.config import GuardrailConfig, MarketConfig


def pilot_market(config: UpliftConfig, market: MarketConfig) -> MarketConfig:
    """The training market: ``market`` resized to ``train_shoppers`` (0 = as is), over the pilot and its last window."""
    size = config.train_shoppers or market.population.size
    return dataclasses.replace(market, horizon_days=config.pilot_days + VALIDITY_DAYS - 1,
                               population=dataclasses.replace(market.population, size=size))


def pilot_rows(name: str, config: UpliftConfig, market: MarketConfig, guardrails: GuardrailConfig) -> PilotRows:
    """The randomised, matured pilot decisions of every training seed, at most ``fit_rows`` of them (a draw seeded by ``seed``)."""
    training = pilot_market(config, market)
    parts = []
    for seed in config.train_seeds:
        run = run_policy(f"{name}_pilot", seed, training, guardrails, log_shoppers=-1,
                         factory=lambda _market: PilotPolicy(config.parsed_arms, config.control_share))
        if run.decisions is not None:
            parts.append(PilotRows.from_log(run.decisions, config.parsed_arms))
    rows = PilotRows.concat(parts) if parts else PilotRows(np.zeros((0, 0), np.float32), np.zeros(0, np.int64), np.zeros(0))
    return rows.sample(config.fit_rows, np.random.default_rng([config.seed, 20_261_207]))


def train(name: str, config: UpliftConfig, market: MarketConfig, guardrails: GuardrailConfig, out: Path) -> Path:
    """Fit policy ``name``'s model (``uplift_t``: the T-learner, ...) on its training pilots into ``out``; returns ``out/model.pkl``."""
    start = time.perf_counter()
    rows = pilot_rows(name, config, market, guardrails)
    pilots = time.perf_counter() - start
    learner, manifest = fit_model(name.removeprefix("uplift_"), config, rows, where=f"training pilots (seeds {config.train_seeds})")
    manifest = {**manifest, "pilot_seconds": pilots, "training_market": {"shoppers": pilot_market(config, market).population.size,
                                                                         "days": pilot_market(config, market).horizon_days}}
    out = Path(out)
    write_text(manifest_text(manifest), out / MANIFEST_FILE)  # first: a model file is never without its manifest
    path = atomic_write(out / MODEL_FILE, lambda p: p.write_bytes(model_bytes(learner)))
    print(f"{name}: fitted on {len(rows):,} pilot decisions in {manifest['fit_seconds']:,.0f} s (pilots {pilots:,.0f} s)", flush=True)
    return path

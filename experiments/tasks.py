"""The tasks ``offerlab task=...`` (or an experiment preset) can run; each writes into the run folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from experiments import calibrate, compare, replay, simulate
from experiments.schema import Config

TASKS: dict[str, Callable[[Config, Path], None]] = {
    "compare": compare.run_task,
    "simulate": simulate.run_task,
    "hillstrom_fit": calibrate.run_task,
    "hillstrom_replay": replay.run_task,
}

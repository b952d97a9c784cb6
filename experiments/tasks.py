"""The tasks ``offerlab task=...`` (or an experiment preset) can run; each writes into the run folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from experiments import compare, ope, shop_size, simulate, train_ppo, uplift_eval
from experiments.calibration import fit, replay
from experiments.schema import Config


def _export(cfg: Config, run_dir: Path) -> None:
    from serving import export  # the `serve` extra (ONNX Runtime) loads only for the tasks that need it

    export.run_task(cfg.export, cfg.guardrails, run_dir)


def _serve(cfg: Config, run_dir: Path) -> None:
    from serving import api  # the `serve` extra (FastAPI, uvicorn, ONNX Runtime)

    api.run_task(cfg.serve, run_dir)


TASKS: dict[str, Callable[[Config, Path], None]] = {
    "compare": compare.run_task,
    "shop_size": shop_size.run_task,
    "ope": ope.run_task,
    "uplift_eval": uplift_eval.run_task,
    "simulate": simulate.run_task,
    "train_ppo": train_ppo.run_task,
    "hillstrom_fit": fit.run_task,
    "hillstrom_replay": replay.run_task,
    "export": _export,
    "serve": _serve,
}

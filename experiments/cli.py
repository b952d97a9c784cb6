"""The ``offerlab`` command: a thin Hydra shell around the tasks.

``offerlab market.population.size=200000 seed=3`` composes ``configs/config.yaml`` with the
overrides, checks every value (:func:`experiments.schema.to_config`) before any work, runs the
task in Hydra's run folder and prints where the outputs are.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from experiments import schema
from experiments.io import remove_temporaries
from experiments.tasks import TASKS
from sim.config import ConfigError
from sim.resources import config_dir

CONFIG_DIR = str(config_dir())
"""the installed ``configs`` package's folder (a checkout's ``configs/``), so the command runs from any directory"""

schema.register()


def run(cfg: DictConfig, run_dir: Path, policy: str | None = None) -> None:
    """Do the configured task in ``run_dir``; the testable part of the command.

    ``policy`` is the choice of the ``policy`` group (``offerlab policy=linucb``), see :func:`schema.to_config`.
    """
    typed = schema.to_config(cfg, policy)
    if typed.task not in TASKS:
        raise ConfigError(f"task={typed.task!r}: unknown; allowed: {', '.join(TASKS)}")
    remove_temporaries(run_dir)  # what a run killed in this folder left half-written
    TASKS[typed.task](typed, run_dir)
    print(f"outputs: {run_dir}")


@hydra.main(config_path=CONFIG_DIR, config_name="config", version_base="1.3")
def _main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        run(cfg, run_dir, hydra_cfg.runtime.choices.get("policy"))
    except ConfigError as e:
        print(f"offerlab: config error: {e}", file=sys.stderr)
        _discard_scaffold(run_dir)
        sys.exit(2)


def _discard_scaffold(run_dir: Path) -> None:
    """Remove the folder Hydra made for a run that failed its config check, if it holds nothing else.

    Hydra creates the run folder (its ``.hydra/`` copy of the config and a log) before the task
    starts; a run refused at the config check should not leave a folder that looks like a run.
    """
    scaffold = {".hydra", f"{HydraConfig.get().job.name}.log"}
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= scaffold:
        shutil.rmtree(run_dir, ignore_errors=True)


def main() -> None:
    _main()


if __name__ == "__main__":  # python -m experiments.cli, as the offerlab command
    main()

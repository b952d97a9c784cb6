"""One comparison over all trials of a multirun, written into the sweep folder.

``offerlab -m policy=linucb,thompson seed=1,2`` runs four trials, each a small comparison (the
policy and its no-contact twin on one seed) in its own folder. :class:`GatherSweep`, a Hydra
callback (``hydra.callbacks.gather`` in ``configs/config.yaml``), then reads their tables and writes
the same files a compare run writes (``summary``, ``comparison``, ``daily``, ``archetypes``,
``action_mix``, ``decisions``, the plots and ``report.md``) at the top of the sweep folder, with one
TensorBoard folder ``<sweep>/tb/<policy>/seed_<k>`` so every trial's curves overlay.

A policy run on the same seed by several trials (the twin, in every trial of that seed) is the
same run, bit for bit: it is kept once. Trials whose settings differ in more than policy and seed
(``-m market.population.size=500,1000``) are not comparable run for run: each such group is
gathered on its own into ``<sweep>/<its overrides>/``.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from experiments.compare import DecisionWriter, conditions, write_tables
from experiments.metrics import combine_mix, with_pct_of_reference
from experiments.report import markdown_table, write_report
from experiments.schema import Config

log = logging.getLogger(__name__)

TRIAL_KEYS = ("policy", "seed")
"""overrides that pick a trial within one comparison; any other override that differs makes another comparison"""


@dataclass
class Trial:
    """One finished compare run of the sweep."""

    folder: Path
    condition: str
    """its overrides other than policy and seed (and Hydra's own), sorted: equal for trials of one comparison"""

    @classmethod
    def read(cls, folder: Path) -> Trial:
        overrides = OmegaConf.load(folder / ".hydra" / "overrides.yaml")
        kept = sorted(o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in TRIAL_KEYS and not o.startswith("hydra"))
        return cls(folder, ",".join(kept))

    def config(self) -> Config:
        """The trial's resolved config as it ran (``.hydra/config.yaml``), typed."""
        saved = OmegaConf.load(self.folder / ".hydra" / "config.yaml")
        obj = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Config), saved))
        assert isinstance(obj, Config)
        return obj


def find_trials(sweep: Path) -> list[Trial]:
    """Compare runs under ``sweep`` (any depth of ``hydra.sweep.subdir``), in Hydra's job order."""
    folders = [p.parent for p in sweep.rglob("summary.parquet") if p.parent != sweep and (p.parent / ".hydra").is_dir()]
    return [Trial.read(f) for f in sorted(folders, key=lambda f: [int(x) if x.isdigit() else x for x in f.relative_to(sweep).parts])]


def gather(trials: list[Trial], out: Path) -> pd.DataFrame:
    """Write the comparison of ``trials`` (one condition) into ``out``; returns the comparison table."""
    seen: dict[tuple[str, int], float] = {}
    summaries, dailies, archetypes, mixes, tb = [], [], [], [], []
    with DecisionWriter(out / "decisions.parquet") as decisions:
        for trial in trials:
            summary = pd.read_parquet(trial.folder / "summary.parquet")
            policies = fresh_policies(summary, seen, trial.folder)
            fresh = {(p, s) for p, s in zip(summary.policy, summary.seed) if p in policies}

            def keep(frame: pd.DataFrame) -> pd.DataFrame:
                return frame[[(p, s) in fresh for p, s in zip(frame.policy, frame.seed)]]

            summaries.append(keep(summary))
            dailies.append(keep(pd.read_parquet(trial.folder / "daily.parquet")))
            archetypes.append(keep(pd.read_csv(trial.folder / "archetypes.csv")))
            mix = pd.read_csv(trial.folder / "action_mix.csv")
            mixes.append(mix[mix.policy.isin(policies)])
            if (trial.folder / "decisions.parquet").exists():
                decisions.write(keep(pd.read_parquet(trial.folder / "decisions.parquet")))
            tb += [(trial.folder / "tb" / p / f"seed_{s}", out / "tb" / p / f"seed_{s}") for p, s in sorted(fresh)]
    summary = with_pct_of_reference(pd.concat(summaries, ignore_index=True))
    daily = pd.concat(dailies, ignore_index=True)
    archetype = pd.concat(archetypes, ignore_index=True)
    mix = combine_mix(mixes)
    comparison = write_tables(summary, daily, archetype, mix, out)
    for src, dest in tb:
        if src.is_dir():
            shutil.copytree(src, dest, dirs_exist_ok=True)
    header = conditions(trials[0].config(), sorted(summary.seed.unique().tolist()))
    header += f" Gathered from {len(trials)} trials: " + ", ".join(f"`{t.folder.name}`" for t in trials) + "."
    write_report(comparison, daily, header, out, mix)
    return comparison


def fresh_policies(summary: pd.DataFrame, seen: dict[tuple[str, int], float], folder: Path) -> set[str]:
    """The policies of a trial's summary that no earlier trial ran; records their runs in ``seen``.

    A policy an earlier trial ran on the same seeds (the no-contact twin) must have earned the same
    profit there, else the trials did not run the same market and cannot be compared.
    """
    fresh = set()
    for policy, runs in summary.groupby("policy"):
        known = [(policy, s) in seen for s in runs.seed]
        if any(known) and not all(known):
            raise ValueError(f"{folder}: runs {policy} on seeds {sorted(runs.seed)}, some of which an earlier trial ran; give each "
                             "trial one seed (seed=<k>)")
        for s, profit in zip(runs.seed, runs.profit):
            if seen.setdefault((policy, s), profit) != profit:
                raise ValueError(f"{folder}: {policy} on seed {s} earned {profit} here and {seen[(policy, s)]} in an earlier trial; "
                                 "their markets differ, so they are not one comparison")
        if not any(known):
            fresh.add(policy)
    return fresh


class GatherSweep(Callback):
    """After a multirun of compare trials, their comparison in the sweep folder (see the module docstring)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep = Path(config.hydra.sweep.dir)
        trials = find_trials(sweep)
        if not trials:
            return  # a sweep of another task (simulate, export, ...): nothing to compare
        groups: dict[str, list[Trial]] = {}
        for trial in trials:
            groups.setdefault(trial.condition, []).append(trial)
        for condition, members in groups.items():
            out = sweep if len(groups) == 1 else sweep / (condition.replace("/", "_") or "default")
            comparison = gather(members, out)
            print(f"\n{len(members)} trials gathered{f' ({condition})' if len(groups) > 1 else ''}:\n{markdown_table(comparison)}")
            print(f"\nreport: {out / 'report.md'}\ntensorboard --logdir {out / 'tb'}")

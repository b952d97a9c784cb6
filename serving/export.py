"""The ``export`` task: a trained policy out of the laboratory, as one artefact folder (:mod:`serving.artefact`).

``offerlab experiment=export export.source=<run>/policies/linucb_seed0.npz`` writes
``<run>/artefact`` (or ``export.out``): the model file, ``manifest.json`` and
``checksums.sha256``.

Parity is checked before anything is written: the runtime that will serve the artefact
(:mod:`serving.runtime`) is loaded back from the exported file and compared with the live
policy on ``parity_samples`` observations drawn within the feature bounds, under random
guardrail masks. PPO must give the same action probabilities (max abs difference <=
:data:`PARITY_TOLERANCE`); bandits and rule tables the same actions and propensities from the
same random numbers. An export that fails its check leaves no folder.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from policies.base import DecisionContext, Policy
from policies.rules import RULES_DIR, RuleTable
from serving.artefact import FORMAT, FORMAT_VERSION, MANIFEST, MODEL_FILES, ArtefactError, load_artefact, sha256_file, write_checksums
from serving.runtime import bandit_class, load_runtime
from sim.catalogue import ACTION_NAMES, CATEGORIES, CATEGORY_NAMES, CHANNELS, OFFERS, SLOTS
from sim.config import ConfigError, GuardrailConfig
from sim.features import FEATURE_HIGH, FEATURE_LOW, FEATURES, N_FEATURES
from sim.guardrails import ActionMask

PARITY_TOLERANCE = 1e-5


# ---------------------------------------------------------------------------------------------
# Export


def export_policy(source: str | Path, out: Path, guardrails: GuardrailConfig, name: str = "", parity_samples: int = 10_000,
                  deterministic: bool = True) -> dict:
    """Write the artefact of the trained policy in ``source`` to the folder ``out``; returns the manifest.

    ``source`` is a bandit state (``.npz``, :meth:`bandits.base.LinearBandit.save`), a MaskablePPO
    model (``.zip``), or a rule table (a ``.yaml`` path or a table name such as ``rfm``). ``name``
    is the policy name in the manifest and the decision log (default: the learner's registry
    name, ``ppo``, or ``rules_<table>``). ``out`` must not exist or be empty: a served artefact
    is never overwritten in place. ``deterministic`` (a PPO model only): the served policy acts on
    its most probable action, as PPO acts in a comparison by default; false: it draws.
    """
    kind = source_kind(source)
    if not isinstance(parity_samples, int) or parity_samples < 1:
        raise ArtefactError(f"parity_samples={parity_samples!r}: must be a positive integer (a parity check on no observation checks nothing)")
    if name and not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise ArtefactError(f"policy name {name!r}: use letters, digits and . _ - (it goes into the decision log)")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ArtefactError(f"{out}: exists and is not an empty folder; choose another export.out")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{secrets.token_hex(4)}.tmp"  # beside out, so the final rename is atomic
    tmp.mkdir()
    try:
        model_file = tmp / MODEL_FILES[kind]
        spec, stats, parity = _WRITERS[kind](source, model_file, name, parity_samples)
        if kind == "ppo":
            spec["deterministic"] = bool(deterministic)
        spec["file"] = model_file.name
        model_sha = sha256_file(model_file)
        run = training_run(Path(source))
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model_version": f"{spec['name']}-{model_sha[:12]}",
            "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "policy": spec,
            "features": [dataclasses.asdict(f) for f in FEATURES],
            "actions": list(ACTION_NAMES),
            "catalogue": catalogue(),
            "guardrails": dataclasses.asdict(guardrails),
            "training": {
                "source": str(source),
                "source_sha256": sha256_file(Path(source)) if Path(source).is_file() else None,
                "run": str(run) if run else None,
                "config_sha256": sha256_file(run / ".hydra" / "config.yaml") if run else None,
            },
            "metrics": {"parity": parity, "model": stats, "run": run_metrics(run, spec["name"], Path(source)) if run else {}},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        write_checksums(tmp)
        load_artefact(tmp)  # what was written reads back
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def source_kind(source: str | Path) -> str:
    """``bandit``, ``ppo`` or ``rules``, from the source's suffix; a bare name that is not a file is a rule table's."""
    path = Path(source)
    kinds = {".npz": "bandit", ".zip": "ppo", ".yaml": "rules", ".yml": "rules"}
    if path.suffix in kinds:
        return kinds[path.suffix]
    if not path.suffix and len(path.parts) == 1 and not path.exists():
        return "rules"
    raise ArtefactError(f"{source}: not a policy file export takes: a bandit .npz, a MaskablePPO .zip, or a rule table (.yaml or a name)")


def _bandit(source: str | Path, dest: Path, name: str, samples: int) -> tuple[dict, dict, dict]:
    try:
        with np.load(Path(source), allow_pickle=False) as data:
            kind = str(data["kind"])
    except (OSError, ValueError, KeyError) as e:
        raise ArtefactError(f"{source}: not a readable bandit state ({e})") from None
    try:
        cls = bandit_class(kind)
    except ValueError as e:
        raise ArtefactError(f"{source}: {e}") from None
    try:
        live = cls.load_state(Path(source))
    except ValueError as e:
        raise ArtefactError(str(e)) from None
    live.save(dest)
    spec = {"kind": "bandit", "name": name or live.name, "class": kind, "params": live.params()}
    runtime = load_runtime(dest, spec)
    return spec, {"observations_learned": live.model.n_obs}, choice_parity(live, runtime, samples)


def _rules(source: str | Path, dest: Path, name: str, samples: int) -> tuple[dict, dict, dict]:
    path = Path(source)
    if not path.suffix:
        path = RULES_DIR / f"{str(source).removeprefix('rules_')}.yaml"
    try:
        live = RuleTable.from_yaml(path)
    except (FileNotFoundError, ValueError) as e:
        raise ArtefactError(str(e)) from None
    shutil.copyfile(path, dest)
    spec = {"kind": "rules", "name": name or live.name, "table": live.table}
    runtime = load_runtime(dest, spec)
    return spec, {"rules": len(live.rules)}, choice_parity(live, runtime, samples)


def _ppo(source: str | Path, dest: Path, name: str, samples: int) -> tuple[dict, dict, dict]:
    from serving import ppo_onnx  # torch and sb3-contrib: loaded only to export a PPO model

    try:
        model = ppo_onnx.load(Path(source))
    except (OSError, ValueError) as e:
        raise ArtefactError(f"{source}: not a usable MaskablePPO model ({e})") from None
    ppo_onnx.export(model, dest)
    arch = model.policy.net_arch
    spec = {"kind": "ppo", "name": name or "ppo", "class": type(model).__name__, "net_arch": arch if isinstance(arch, (list, dict)) else None}
    runtime = load_runtime(dest, spec)
    diff = max((np.abs(ppo_onnx.probabilities(model, obs, mask.dense()) - runtime.probabilities(obs, mask)).max() for obs, mask, _ in parity_inputs(samples)),
               default=0.0)
    if not diff <= PARITY_TOLERANCE:
        raise ArtefactError(f"{dest.name}: ONNX probabilities differ from torch's by up to {diff:.3g} (> {PARITY_TOLERANCE:g})")
    return spec, {"num_timesteps": int(model.num_timesteps)}, {"observations": samples, "max_abs_probability_diff": float(diff), "tolerance": PARITY_TOLERANCE}


_WRITERS: dict[str, Callable[[str | Path, Path, str, int], tuple[dict, dict, dict]]] = {"bandit": _bandit, "rules": _rules, "ppo": _ppo}
"""kind -> writer of the model file; returns (manifest policy section, model statistics, parity result)"""


def parity_inputs(samples: int, seed: int = 0, batch: int = 1000) -> list[tuple[np.ndarray, ActionMask, int]]:
    """Batches of (observations within the feature bounds, a random guardrail mask, a weekday).

    Uniform draws reach every corner of the observation box, including combinations real
    shoppers rarely show; each channel is allowed for 60% of the rows.
    """
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, samples, batch):
        n = min(batch, samples - start)
        obs = rng.uniform(FEATURE_LOW, FEATURE_HIGH, (n, N_FEATURES)).astype(np.float32)
        out.append((obs, ActionMask(rng.random((n, len(CHANNELS))) < 0.6), len(out) % 7))
    return out


def choice_parity(live: Policy, runtime: Policy, samples: int) -> dict:
    """Same actions and propensities from the live policy and the exported runtime, given the same random numbers."""
    for k, (obs, mask, weekday) in enumerate(parity_inputs(samples)):
        rows = np.arange(len(obs))
        a = live.act(obs, mask, DecisionContext(k, weekday, np.random.default_rng(k), rows))
        b = runtime.act(obs, mask, DecisionContext(k, weekday, np.random.default_rng(k), rows))
        if not (np.array_equal(a.actions, b.actions) and np.array_equal(a.propensity, b.propensity)):
            raise ArtefactError(f"exported {runtime.name} chooses differently from the live policy on {int((a.actions != b.actions).sum())} of {len(obs)} observations")
    return {"observations": samples, "same_choices": True}


def catalogue() -> dict:
    """Offers, channels, slots and categories, as a shop's systems need them to act on a decision."""
    offers = [dataclasses.asdict(o) | {"category": CATEGORY_NAMES[o.category] if o.category >= 0 else None} for o in OFFERS]
    return {"categories": [dataclasses.asdict(c) for c in CATEGORIES], "offers": offers, "channels": [dataclasses.asdict(h) for h in CHANNELS],
            "slots": list(SLOTS)}


def training_run(source: Path) -> Path | None:
    """The Hydra run folder the source was written in (the nearest of its three parents with ``.hydra/config.yaml``)."""
    for folder in list(source.resolve().parents)[:3]:
        if (folder / ".hydra" / "config.yaml").is_file():
            return folder
    return None


def run_metrics(run: Path, policy: str, source: Path) -> dict:
    """The training run's results for this policy (and seed, when the file is ``<name>_seed<k>``), from its summary.csv."""
    summary = run / "summary.csv"
    if not summary.is_file():
        return {}
    table = pd.read_csv(summary)
    stem = re.fullmatch(r"(.+)_seed(\d+)", source.stem)
    rows = table[table.policy == (stem.group(1) if stem else policy)]
    if stem and "seed" in rows:
        rows = rows[rows.seed == int(stem.group(2))]
    return {k: float(v) for k, v in rows.select_dtypes("number").drop(columns="seed", errors="ignore").mean().items() if np.isfinite(v)}


class ExportSettings(Protocol):
    """The ``export`` section of the run's config (``experiments.schema.ExportConfig``)."""

    source: str
    policy: str
    out: str
    parity_samples: int
    deterministic: bool


def run_task(settings: ExportSettings, guardrails: GuardrailConfig, run_dir: Path) -> None:
    """The ``export`` task: ``export.source`` -> ``export.out`` (default ``<run>/artefact``), with the run's guardrails."""
    if not settings.source:
        raise ConfigError("export.source: required; a bandit .npz (experiment.save_policies=true writes them), a MaskablePPO .zip or a rule table")
    out = Path(settings.out) if settings.out else run_dir / "artefact"
    try:
        manifest = export_policy(settings.source, out, guardrails, settings.policy, settings.parity_samples, settings.deterministic)
    except (ArtefactError, FileNotFoundError) as err:
        raise ConfigError(f"export: {err}") from None
    print(f"exported {manifest['policy']['kind']} policy {manifest['model_version']} to {out}; parity: {manifest['metrics']['parity']}")

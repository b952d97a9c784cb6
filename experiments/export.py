"""The ``export`` task: a trained policy out of the laboratory, as one self-describing artefact folder.

``offerlab experiment=export export.source=<run>/policies/linucb_seed0.npz`` writes::

    artefact/
      model.npz | policy.onnx | rules.yaml   the model: bandit state, PPO action network, or rule table
      manifest.json                          what a server needs to use it (below)
      checksums.sha256                       SHA-256 of every other file (``sha256sum -c`` reads it)

The manifest holds the format version, the feature names, bounds and order, the action names,
the offer / channel / slot catalogue, the guardrail settings to enforce at serving time, the
training run's config hash, metrics at export time (the training run's results where the run
folder has them, and the parity check below) and ``model_version``, the policy name plus the
start of the model file's SHA-256.

Parity is checked before anything is written: the runtime that will serve the artefact
(:mod:`policies.exported`) is loaded back from the exported file and compared with the live
policy on ``parity_samples`` observations drawn within the feature bounds, under random
guardrail masks. PPO must give the same action probabilities (max abs difference <=
:data:`PARITY_TOLERANCE`); bandits and rule tables the same actions and propensities from the
same random numbers. An export that fails its check leaves no folder.

:func:`load_artefact` trusts nothing it has not verified: a file changed, truncated, missing or
added after export, a manifest of another format version, or one made for another feature or
action layout fails with an :class:`ArtefactError` naming the file and the problem. The
checksums detect accidents and careless edits, not an attacker who rewrites them too: protect
the folder as you protect the server.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from policies.base import DecisionContext, Policy
from policies.exported import BANDITS, load_runtime
from policies.rules import RULES_DIR, RuleTable
from sim.catalogue import ACTION_NAMES, CATEGORIES, CATEGORY_NAMES, CHANNELS, OFFERS, SLOTS
from sim.config import ConfigError, GuardrailConfig
from sim.features import FEATURE_HIGH, FEATURE_LOW, FEATURES, N_FEATURES
from sim.guardrails import ActionMask

if TYPE_CHECKING:  # the schema imports every policy (PPO's torch too); loading an artefact must not
    from experiments.schema import Config

FORMAT = "offerlab-policy-artefact"
FORMAT_VERSION = 1
"""bump when a reader of the previous version would misread a new artefact"""
MANIFEST = "manifest.json"
CHECKSUMS = "checksums.sha256"
MODEL_FILES = {"bandit": "model.npz", "ppo": "policy.onnx", "rules": "rules.yaml"}
PARITY_TOLERANCE = 1e-5
_CHECKSUM_LINE = re.compile(r"^([0-9a-f]{64})  ([A-Za-z0-9._-]+)$")


class ArtefactError(ValueError):
    """An artefact (or an export source) that cannot be used; the message names the file and the problem."""


@dataclass
class Artefact:
    """A verified artefact folder and the policy that serves it."""

    path: Path
    manifest: dict
    policy: Policy

    @property
    def model_version(self) -> str:
        return self.manifest["model_version"]


# ---------------------------------------------------------------------------------------------
# Export


def export_policy(source: str | Path, out: Path, guardrails: GuardrailConfig, name: str = "", parity_samples: int = 10_000) -> dict:
    """Write the artefact of the trained policy in ``source`` to the folder ``out``; returns the manifest.

    ``source`` is a bandit state (``.npz``, :meth:`bandits.base.LinearBandit.save`), a MaskablePPO
    model (``.zip``), or a rule table (a ``.yaml`` path or a table name such as ``rfm``). ``name``
    is the policy name in the manifest and the decision log (default: the learner's registry
    name, ``ppo``, or ``rules_<table>``). ``out`` must not exist or be empty: a served artefact
    is never overwritten in place.
    """
    kind = source_kind(source)
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
    if kind not in BANDITS:
        raise ArtefactError(f"{source}: holds a {kind!r} state; bandits this offerlab exports: {', '.join(BANDITS)}")
    try:
        live = BANDITS[kind].load_state(Path(source))
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
    from experiments import ppo_onnx  # torch and sb3-contrib: loaded only to export a PPO model

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


# ---------------------------------------------------------------------------------------------
# Checksums and loading


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_checksums(folder: Path) -> None:
    lines = [f"{sha256_file(p)}  {p.name}\n" for p in sorted(folder.iterdir()) if p.name != CHECKSUMS]
    (folder / CHECKSUMS).write_text("".join(lines), encoding="utf-8")


def _read_checksums(folder: Path) -> dict[str, str]:
    path = folder / CHECKSUMS
    if not path.is_file():
        raise ArtefactError(f"{path}: missing; {folder} is not an offerlab artefact, or an incomplete copy of one")
    listed = {}
    for k, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        m = _CHECKSUM_LINE.match(line)
        if not m:
            raise ArtefactError(f"{path}: line {k} is not '<sha256>  <file>' (the file is damaged or truncated)")
        listed[m.group(2)] = m.group(1)
    return listed


def verify(folder: Path) -> dict:
    """The manifest of the artefact in ``folder`` once every check of the module docstring passed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ArtefactError(f"{folder}: no such artefact folder")
    listed = _read_checksums(folder)
    extra = sorted({p.name for p in folder.iterdir()} - set(listed) - {CHECKSUMS})
    if extra:
        raise ArtefactError(f"{folder / extra[0]}: not covered by {CHECKSUMS} (added after export?)")
    for name, expected in sorted(listed.items()):
        path = folder / name
        if not path.is_file():
            raise ArtefactError(f"{path}: listed in {CHECKSUMS} but missing")
        found = sha256_file(path)
        if found != expected:
            raise ArtefactError(f"{path}: SHA-256 {found[:16]}... differs from {expected[:16]}... in {CHECKSUMS}: changed or truncated after export")
    path = folder / MANIFEST
    if MANIFEST not in listed:
        raise ArtefactError(f"{path}: missing; {folder} is not an offerlab artefact")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtefactError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtefactError(f"{path}: not an offerlab policy manifest (format must be {FORMAT!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtefactError(f"{path}: format_version {manifest.get('format_version')!r}; this offerlab reads version {FORMAT_VERSION} "
                            f"(export the policy again with this offerlab)")
    _same_layout(path, "features", manifest.get("features"), [dataclasses.asdict(f) for f in FEATURES])
    _same_layout(path, "actions", manifest.get("actions"), list(ACTION_NAMES))
    spec = manifest.get("policy")
    if not isinstance(spec, dict) or spec.get("kind") not in MODEL_FILES or spec.get("file") != MODEL_FILES[spec["kind"]]:
        raise ArtefactError(f"{path}: policy section {spec!r} does not name a known kind ({', '.join(MODEL_FILES)}) and its model file")
    if spec["file"] not in listed:
        raise ArtefactError(f"{folder / spec['file']}: the model file is not in {CHECKSUMS}")
    return manifest


def _same_layout(path: Path, key: str, found: object, expected: list) -> None:
    """The artefact must describe exactly this offerlab's features or actions, in the same order."""
    if found == expected:
        return
    if not isinstance(found, list):
        raise ArtefactError(f"{path}: {key} must be a list")
    k = next((i for i, (a, b) in enumerate(zip(found, expected)) if a != b), min(len(found), len(expected)))
    raise ArtefactError(f"{path}: {key} differ from this offerlab's at position {k} ({found[k] if k < len(found) else 'none'!r} vs "
                        f"{expected[k] if k < len(expected) else 'none'!r}); the artefact was made for another layout")


def load_artefact(folder: Path) -> Artefact:
    """Verify the artefact in ``folder`` and load the policy that serves it (no torch involved)."""
    manifest = verify(folder)
    spec = manifest["policy"]
    model = Path(folder) / spec["file"]
    try:
        policy = load_runtime(model, spec)
        # one decision on an empty CRM row: a model this code cannot run fails here, not on a customer's request
        policy.act(np.zeros((1, N_FEATURES), np.float32), ActionMask(np.ones((1, len(CHANNELS)), bool)), DecisionContext(0, 0, np.random.default_rng(0), np.arange(1)))
    except Exception as e:  # any reader's failure (numpy, ONNX Runtime, YAML) reaches the caller as one error naming the file
        raise ArtefactError(f"{model}: cannot be used as a {spec['kind']} policy ({e})") from None
    return Artefact(Path(folder), manifest, policy)


def run_task(cfg: Config, run_dir: Path) -> None:
    """The ``export`` task: ``export.source`` -> ``export.out`` (default ``<run>/artefact``)."""
    e = cfg.export
    if not e.source:
        raise ConfigError("export.source: required; a bandit .npz (experiment.save_policies=true writes them), a MaskablePPO .zip or a rule table")
    out = Path(e.out) if e.out else run_dir / "artefact"
    try:
        manifest = export_policy(e.source, out, cfg.guardrails, e.policy, e.parity_samples)
    except (ArtefactError, FileNotFoundError) as err:
        raise ConfigError(f"export: {err}") from None
    print(f"exported {manifest['policy']['kind']} policy {manifest['model_version']} to {out}; parity: {manifest['metrics']['parity']}")

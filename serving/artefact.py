"""The artefact: one self-describing folder a trained policy is served from, and its verification.

::

    artefact/
      model.npz | policy.onnx | rules.yaml   the model: bandit state, PPO action network, or rule table
      manifest.json                          what a server needs to use it (below)
      checksums.sha256                       SHA-256 of every other file (``sha256sum -c`` reads it)

The manifest holds the format version, the feature names, bounds and order, the action names,
the offer / channel / slot catalogue, the guardrail settings to enforce at serving time, the
training run's config hash, metrics at export time (the training run's results where the run
folder has them, and the export's parity check) and ``model_version``, the policy name plus the
start of the model file's SHA-256. :mod:`serving.export` writes it.

:func:`load_artefact` trusts nothing it has not verified: a file changed, truncated, missing or
added after export, a manifest of another format version, or one made for another feature or
action layout fails with an :class:`ArtefactError` naming the file and the problem. The
checksums detect accidents and careless edits, not an attacker who rewrites them too: protect
the folder as you protect the server.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policies.base import DecisionContext, Policy
from serving.runtime import load_runtime
from sim.catalogue import ACTION_NAMES, CHANNELS
from sim.features import FEATURES, N_FEATURES
from sim.guardrails import ActionMask

FORMAT = "offerlab-policy-artefact"
FORMAT_VERSION = 1
"""bump when a reader of the previous version would misread a new artefact"""
MANIFEST = "manifest.json"
CHECKSUMS = "checksums.sha256"
MODEL_FILES = {"bandit": "model.npz", "ppo": "policy.onnx", "rules": "rules.yaml"}
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
# Checksums, verification and loading


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

"""Commands that build no policy start without torch: ``offerlab --help``, ``experiment=serve``, ``experiment=simulate``.

Each runs in a fresh interpreter (a module imported by an earlier test would hide the import),
through the same entry point as the console command, and reports what it had loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from experiments import cli
sys.argv = ["offerlab", *{args!r}]
try:
    cli.main()
except SystemExit:
    pass
print(json.dumps({{"torch": "torch" in sys.modules, "sb3": "stable_baselines3" in sys.modules,
                  "uvicorn": "uvicorn" in sys.modules}}))
"""


def startup(*args: str, cwd: Path) -> tuple[dict, subprocess.CompletedProcess]:
    res = subprocess.run([sys.executable, "-c", PROBE.format(args=list(args))], cwd=cwd, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(res.stdout.strip().splitlines()[-1]), res


def test_help_starts_without_torch(tmp_path):
    loaded, res = startup("--help", cwd=tmp_path)
    assert "experiment=compare" in res.stdout and not loaded["torch"] and not loaded["sb3"]


def test_serve_reaches_its_task_without_torch(tmp_path):
    """Up to the serving task's own check: it imports the serving stack (uvicorn), then refuses a missing artefact."""
    loaded, res = startup("experiment=serve", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert "serve.artefact" in res.stderr and loaded["uvicorn"], res.stderr
    assert not loaded["torch"] and not loaded["sb3"]


def test_simulate_runs_without_torch(tmp_path):
    loaded, res = startup("experiment=simulate", "market.population.size=200", "market.horizon_days=2", f"hydra.run.dir={tmp_path / 'run'}",
                          cwd=tmp_path)
    assert (tmp_path / "run" / "daily.csv").exists(), res.stderr
    assert not loaded["torch"] and not loaded["sb3"]

"""A local Ray for one sweep of ``hydra/launcher=ray``: where it keeps its files, and that it stops.

The Ray launcher starts Ray with ``hydra.launcher.ray.init`` and never stops it. When no cluster
address is given, this Hydra callback (``hydra.callbacks.local_ray`` in ``configs/config.yaml``; it
does nothing under another launcher) prepares the local one before the launcher starts it, and
shuts it down after the sweep:

- its temp dir (sockets, logs, spilled objects) goes into the sweep folder, ``<sweep>/.ray``, not a
  shared ``/tmp/ray``; unless the socket paths under it would pass the 107-byte limit of a Unix
  socket, in which case Ray keeps its default (a warning says so). ``hydra.launcher.ray.init._temp_dir``
  set by hand wins;
- ``RAY_AUTH_MODE=disabled`` unless set: a Ray on this machine only needs no token, and Ray 2.60
  warns on every start without one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict, read_write

log = logging.getLogger(__name__)

RAY_LAUNCHER = "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
SOCKET_PATH_MAX = 107
SOCKET_SUFFIX = len("/session_2026-01-01_00-00-00_000000_4194304/sockets/plasma_store")
"""what Ray appends to its temp dir for its longest socket path"""


def temp_dir(sweep_dir: str) -> str | None:
    """``<sweep>/.ray`` as an absolute path, or None when Ray's socket paths under it would be too long."""
    path = str(Path(sweep_dir).resolve() / ".ray")
    return path if len(path.encode()) + SOCKET_SUFFIX <= SOCKET_PATH_MAX else None


class LocalRay(Callback):
    """Prepares and stops a local Ray around a multirun (see the module docstring)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.launcher.get("_target_") != RAY_LAUNCHER:
            return
        init = config.hydra.launcher.ray.init
        if init.get("address") is not None:
            return  # a cluster: its own settings
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        if init.get("_temp_dir") is None:
            path = temp_dir(config.hydra.sweep.dir)
            if path is None:
                log.warning("sweep folder %s: too deep for Ray's socket paths; Ray keeps its default temp dir", config.hydra.sweep.dir)
                return
            with read_write(init), open_dict(init):
                init._temp_dir = path

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.launcher.get("_target_") != RAY_LAUNCHER:
            return
        import ray  # only under the Ray launcher, which has imported it already

        if ray.is_initialized():
            ray.shutdown()

"""Where the files that ship with offerlab are: its Hydra configs and its data, found through their packages.

``configs/`` and ``data/`` are packages (an ``__init__.py`` each, their files as package data), so a
wheel installs them beside ``sim/``, and a source checkout and an installed copy find them the same
way: by importing them, never by a path relative to the source tree. A relative path in a config
(``market.population.customers: data/hillstrom.csv.gz``) is relative to :func:`root`, the folder that
holds both packages: the repository in a checkout, ``site-packages`` in an installation.
"""

from __future__ import annotations

import importlib
from pathlib import Path


def config_dir() -> Path:
    """The Hydra config folder (``configs/``: ``config.yaml`` and its groups, the rule tables)."""
    return _package_dir("configs")


def data_dir() -> Path:
    """The shipped data folder (``data/``: the Hillstrom test's customers)."""
    return _package_dir("data")


def root() -> Path:
    """The folder holding ``configs/`` and ``data/``, against which relative paths in configs resolve."""
    return data_dir().parent


def source_checkout() -> Path | None:
    """The repository when offerlab runs from a source checkout (``pyproject.toml`` beside ``configs/``), else None.

    Only a checkout's configs are meant to be written (``experiment=hillstrom_fit`` refreshes a
    market preset there); an installed copy's are part of the installation.
    """
    top = config_dir().parent
    return top if (top / "pyproject.toml").is_file() else None


def _package_dir(name: str) -> Path:
    module = importlib.import_module(name)
    if getattr(module, "__file__", None) is None:  # a folder of that name without __init__.py, found first on sys.path
        raise ImportError(f"{name}: found as a namespace package at {list(module.__path__)}, not offerlab's {name}/ package; "
                          f"reinstall offerlab (pip install .) so that its {name}/ is importable")
    return Path(module.__file__).resolve().parent

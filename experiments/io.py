"""Writing result files so that a stopped run never leaves a half-written one.

Each file is written to a temporary name in the same folder and renamed into place: a rename
within one file system is atomic, so a reader sees the old file, the new file, or none. A run
killed outright (``kill -9``) leaves its temporaries behind; a rerun into the same folder removes
them first (:func:`remove_temporaries`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd


_UMASK = os.umask(0)
os.umask(_UMASK)
TEMPORARY = ".*.tmp"
"""names of files being written: :func:`atomic_write`'s ``.<name>.<random>.tmp``, :class:`experiments.compare.DecisionWriter`'s ``.<name>.tmp``"""


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result to ``path``; on any error nothing appears at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes owner-only files; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_table(df: pd.DataFrame, path: Path) -> Path:
    """A table as CSV or parquet, chosen by the file's suffix."""
    path = Path(path)
    if path.suffix == ".csv":
        return atomic_write(path, lambda p: df.to_csv(p, index=False))
    if path.suffix == ".parquet":
        return atomic_write(path, lambda p: df.to_parquet(p, index=False))
    raise ValueError(f"{path}: unknown table format {path.suffix!r}; allowed: .csv, .parquet")


def write_text(text: str, path: Path) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def remove_temporaries(folder: Path) -> list[Path]:
    """Delete the temporaries in ``folder`` and its subfolders (files a killed run never renamed into place); the removed paths.

    Called as a run starts, so only a run's own folder is given: nothing is being written there yet.
    """
    folder = Path(folder)
    stale = [p for p in folder.rglob(TEMPORARY) if p.is_file()] if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale

"""The service's decision log: every served decision, durable before its response leaves."""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

import numpy as np

from policies.decision_log import LOG_COLUMNS
from sim.features import N_FEATURES


class DecisionLog:
    """Served decisions, appended to a CSV with the simulator's decision-log columns, then when and by which model.

    Columns: :data:`policies.decision_log.LOG_COLUMNS`, then ``timestamp, model_version``. ``day``
    is the decision date, ``shopper`` the customer id; ``seed`` and ``reward`` are empty and
    ``matured`` is False: a served decision has no simulation seed, and its reward (the customer's
    profit over the 7-day attribution window) is the shop's to join on ``shopper`` and ``day`` once
    the window has closed. The service never answers with a send its guardrails forbid (the daily
    budget is not enforced here), so every served proposal runs: ``proposed_action`` and
    ``proposed_propensity`` repeat ``action`` and ``propensity`` and ``refusal`` is empty. Features are
    written with 9 significant digits, so they read back as the exact float32 the policy saw.

    Rows are written whole, under a lock, and made durable (flush and fsync) before the response
    leaves, so a decision a client has received is in the log. Concurrent requests share fsyncs
    (group commit): a request whose rows an fsync already covered does not wait for another. A
    row cut short by a crash was never answered; it is dropped when the log is opened again.
    One process only: two processes appending to the same file could interleave their rows.
    """

    COLUMNS = (*LOG_COLUMNS, "timestamp", "model_version")
    _FEATURES = ",".join(["%.9g"] * N_FEATURES)

    def __init__(self, path: Path, policy: str, model_version: str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._policy, self._version = policy, model_version
        self._file = open(self.path, "a+b")  # noqa: SIM115 - open for the app's lifetime, closed by close()
        header = (",".join(self.COLUMNS) + "\n").encode()
        if self._file.seek(0, os.SEEK_END) == 0:
            self._file.write(header)
        else:
            self._file.seek(0)
            if self._file.readline() != header:
                self._file.close()
                raise ValueError(f"{self.path}: its header is not this server's decision-log columns; choose another serve.decision_log")
            self._drop_partial_row()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = self._synced = 0

    def _drop_partial_row(self) -> None:
        end = self._file.seek(0, os.SEEK_END)
        pos = end
        while pos > 0:
            start = max(0, pos - 65536)
            self._file.seek(start)
            cut = self._file.read(pos - start).rfind(b"\n")
            if cut >= 0:
                if start + cut + 1 < end:
                    self._file.truncate(start + cut + 1)
                return
            pos = start

    def append(self, day: dt.date, shoppers: list[str | None], obs: np.ndarray, actions: np.ndarray, propensity: np.ndarray) -> None:
        """Write one row per decision and return once they are on disk."""
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        head, tail, fmt = f"{self._policy},,{day.isoformat()},", f",,,False,{stamp},{self._version}\n", self._FEATURES
        rows = [
            f"{head}{shopper or ''},{fmt % tuple(x)},{a},{p!r},{a},{p!r}{tail}"
            for shopper, x, a, p in zip(shoppers, obs.tolist(), actions.tolist(), propensity.tolist(), strict=True)
        ]
        data = "".join(rows).encode()
        with self._lock:
            self._file.write(data)
            self._file.flush()
            self._written += 1
            ticket = self._written
        with self._sync_lock:
            if self._synced < ticket:
                covered = self._written  # every write counted here was flushed before the count rose
                os.fsync(self._file.fileno())
                self._synced = covered

    def close(self) -> None:
        with self._lock:
            self._file.close()

"""Independent random streams by purpose and day, all from one seed (common random numbers).

Each purpose (population draw, browsing, buying and basket values, message responses, churn,
interest drift, market shocks, network, the time of day a site session is logged at) has its own stream, and each simulated day draws a fresh
generator keyed by ``(seed, purpose, day)``. Two runs with the same seed therefore meet the same
shoppers with the same organic behaviour whatever the policies do: a policy that contacts
shopper 7 changes which of shopper 7's message numbers are *used*, never which numbers anyone
draws. Blocks are always drawn for every row, so row i reads the same numbers whether the day is
run for all shoppers at once or one agent at a time.
"""

from __future__ import annotations

import numpy as np

PURPOSES = ("population", "network", "shock", "browse", "buy", "message", "churn", "drift", "refill", "policy", "session")


class Streams:
    """Generators keyed by (purpose, day) under one seed."""

    def __init__(self, seed: int):
        if int(seed) < 0:
            raise ValueError(f"seed={seed!r}: must be an integer >= 0")
        self.seed = int(seed)

    def rng(self, purpose: str, day: int = 0) -> np.random.Generator:
        """A fresh generator for ``purpose`` on ``day``; the same call always gives the same numbers."""
        key = PURPOSES.index(purpose)
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=(key, int(day)))))

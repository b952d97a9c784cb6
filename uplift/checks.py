"""The checks on uplift inputs, shared by the models and the metrics, and the error they raise.

Every refusal names the argument (or column), the value found and what is allowed, so that a
bad table fails at once with a message a user can act on.
"""

from __future__ import annotations

import numpy as np


class UpliftInputError(ValueError):
    """An uplift input that cannot be used: a missing column, a bad treatment code, a NaN outcome, ..."""


def as_vector(values: object, name: str, n: int | None = None) -> np.ndarray:
    """``values`` as a 1-d float64 array of finite numbers (of length ``n`` when given)."""
    out = np.asarray(values, dtype=np.float64)
    if out.ndim != 1:
        raise UpliftInputError(f"{name}: shape {out.shape}; allowed: one value per customer, a 1-d array")
    if n is not None and len(out) != n:
        raise UpliftInputError(f"{name}: {len(out)} values, but {n} customers; allowed: one value per customer")
    bad = ~np.isfinite(out)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise UpliftInputError(f"{name}: {int(bad.sum())} value(s) NaN or infinite (first at row {first}: {float(out[first])}); allowed: finite numbers")
    return out


def as_matrix(values: object, name: str = "X") -> np.ndarray:
    """``values`` as a 2-d float64 array of finite numbers, one row per customer."""
    out = np.asarray(values, dtype=np.float64)
    if out.ndim != 2:
        raise UpliftInputError(f"{name}: shape {out.shape}; allowed: a 2-d array, one row per customer")
    bad = ~np.isfinite(out)
    if bad.any():
        row, col = (int(v[0]) for v in np.nonzero(bad))
        raise UpliftInputError(f"{name}: NaN or infinite value at row {row}, column {col}; allowed: finite numbers")
    return out


def as_treatment(values: object, n: int, name: str = "treatment") -> np.ndarray:
    """``values`` as a 1-d int64 array of treatment codes: 0 = control, 1..K = the treatments, every code present.

    Returns the codes; ``K`` is their maximum. A code missing between 0 and K would leave a
    treatment (or the control) with no customer to learn from, so it is refused by name.
    """
    raw = np.asarray(values)
    if raw.ndim != 1 or len(raw) != n:
        raise UpliftInputError(f"{name}: shape {raw.shape}, but {n} customers; allowed: one code per customer, a 1-d array")
    if raw.dtype.kind not in "biu" and not (raw.dtype.kind == "f" and np.all(np.isfinite(raw)) and np.all(raw == np.round(raw))):
        raise UpliftInputError(f"{name}: values of type {raw.dtype} (e.g. {_plain(raw[0]) if raw.size else None!r}); allowed: integer codes, 0 = control, 1..K = treatments")
    codes = raw.astype(np.int64)
    if n and codes.min() < 0:
        raise UpliftInputError(f"{name}: code {int(codes.min())}; allowed: 0 = control, 1..K = treatments")
    present = np.bincount(codes, minlength=2) if n else np.zeros(2, dtype=np.int64)
    empty = np.flatnonzero(present == 0)
    if len(present) < 2 or empty.size:
        arm = int(empty[0]) if empty.size else 1
        what = "the control (0)" if arm == 0 else f"treatment {arm}"
        raise UpliftInputError(f"{name}: {what} has no rows (codes present: {sorted(set(codes.tolist()))}); "
                               f"allowed: codes 0..K, each with at least one customer, K >= 1")
    return codes


def as_indicator(values: object, n: int, name: str = "treated") -> np.ndarray:
    """``values`` as a 1-d bool array, 1 = the treatment, 0 = the control, both present."""
    raw = np.asarray(values)
    if raw.ndim != 1 or len(raw) != n:
        raise UpliftInputError(f"{name}: shape {raw.shape}, but {n} customers; allowed: one 0/1 value per customer")
    if raw.dtype.kind == "b":
        flags = raw
    else:
        try:
            numbers = raw.astype(np.float64)
        except (TypeError, ValueError):
            raise UpliftInputError(f"{name}: values of type {raw.dtype} (e.g. {_plain(raw[0])!r}); allowed: 0 = control, 1 = treatment") from None
        odd = ~np.isin(numbers, (0.0, 1.0))
        if odd.any():
            first = int(np.flatnonzero(odd)[0])
            raise UpliftInputError(f"{name}: value {_plain(raw[first])!r} at row {first}; allowed: 0 = control, 1 = treatment")
        flags = numbers == 1.0
    for value, group in ((True, "treatment (1)"), (False, "control (0)")):
        if not np.any(flags == value):
            raise UpliftInputError(f"{name}: the {group} has no rows; allowed: both groups present")
    return flags.astype(bool)


def _plain(value: object) -> object:
    """A numpy scalar as the Python value it holds, so that a message shows ``2``, not ``np.int64(2)``."""
    return value.item() if isinstance(value, np.generic) else value

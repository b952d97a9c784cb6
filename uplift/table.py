"""A randomised log as a table: the columns it must have, their checks, and the arrays the models and metrics take.

A randomised log has one row per customer and

| column | what |
|---|---|
| the treatment column (e.g. ``segment``) | the arm the customer was assigned at random: the control's label or a treatment's |
| the outcome column (e.g. ``visit``, ``spend``) | a finite number per customer: a 0/1 response, an amount |
| the feature columns | what was known of the customer before the assignment: numbers, 0/1, or text categories |

Any other column is ignored. Labels are compared as text (a 0/1 treatment column's control is
``"0"``). Text features are one-hot encoded with the categories of the table the model was fitted
on (:class:`FeatureEncoder`), so that a model fitted on one table scores another the same way; a
category the fit never saw is refused by name rather than scored as if absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from uplift.checks import UpliftInputError


def require_columns(frame: pd.DataFrame, roles: dict[str, str], source: str) -> None:
    """Refuse ``frame`` if it lacks a column of ``roles`` (column -> its role), naming the column, its role and the columns present."""
    for column, role in roles.items():
        if column not in frame.columns:
            raise UpliftInputError(f"{source}: no column {column!r} ({role}); the table's columns: {', '.join(map(str, frame.columns))}")


@dataclass(frozen=True)
class FeatureEncoder:
    """Feature columns to a numeric matrix: numbers as they are, each text column one-hot over the fit table's categories."""

    columns: tuple[str, ...]
    categories: dict[str, tuple[str, ...]]
    """text column -> its categories in the fit table, sorted"""

    @classmethod
    def fit(cls, frame: pd.DataFrame, columns: Sequence[str], source: str = "table") -> FeatureEncoder:
        if not columns:
            raise UpliftInputError(f"{source}: no feature columns given; allowed: at least one column known before the assignment")
        require_columns(frame, {c: "a feature" for c in columns}, source)
        text = {c: tuple(sorted(frame[c].astype(str).unique())) for c in columns if not _numeric(frame[c])}
        return cls(tuple(columns), text)

    @property
    def names(self) -> list[str]:
        """The matrix's column names: a number's column name, ``column=category`` for each one-hot column."""
        return [n for c in self.columns for n in ([f"{c}={v}" for v in self.categories[c]] if c in self.categories else [c])]

    def transform(self, frame: pd.DataFrame, source: str = "table") -> np.ndarray:
        """(n, len(names)) float64 features of ``frame``'s rows."""
        require_columns(frame, {c: "a feature" for c in self.columns}, source)
        parts = []
        for c in self.columns:
            if c in self.categories:
                values = frame[c].astype(str).to_numpy()
                unknown = sorted(set(values) - set(self.categories[c]))
                if unknown:
                    raise UpliftInputError(f"{source}: column {c!r} has category {unknown[0]!r}, unseen by the fit; "
                                           f"allowed: {', '.join(self.categories[c])}")
                parts.append((values[:, None] == np.array(self.categories[c])[None, :]).astype(np.float64))
            else:
                if not _numeric(frame[c]):
                    raise UpliftInputError(f"{source}: column {c!r} holds text (e.g. {frame[c].iloc[0]!r}), but numbers in the fit's table")
                values = frame[c].to_numpy(dtype=np.float64)
                bad = ~np.isfinite(values)
                if bad.any():
                    first = int(np.flatnonzero(bad)[0])
                    raise UpliftInputError(f"{source}: column {c!r} has a missing or infinite value at row {first}; allowed: finite numbers")
                parts.append(values[:, None])
        return np.hstack(parts)


def _numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


@dataclass(frozen=True)
class RandomisedLog:
    """A checked log: features, treatment codes (0 = control, k = ``arms[k]``) and outcomes, one row per customer kept."""

    X: np.ndarray
    treatment: np.ndarray
    y: np.ndarray
    arms: tuple[str, ...]
    """the labels: ``arms[0]`` the control, ``arms[k]`` treatment k"""
    encoder: FeatureEncoder


def read_log(frame: pd.DataFrame, treatment: str, control: str, outcome: str, features: Sequence[str], arms: Sequence[str] = (),
             encoder: FeatureEncoder | None = None, source: str = "table") -> RandomisedLog:
    """The randomised log in ``frame``: its control's and treatments' rows, coded, with their features and outcomes.

    :param treatment: the column of assigned arms; ``control`` its control label.
    :param arms: the treatments' labels, coded 1..K in this order (empty: every other label, sorted); rows of other labels are left out.
    :param encoder: the features' encoding (a model scoring this table must see the encoding it was fitted with); None: fitted here.
    """
    require_columns(frame, {treatment: "the treatment", outcome: "the outcome"}, source)
    labels = frame[treatment].astype(str)
    present = sorted(labels.unique())
    if control not in present:
        raise UpliftInputError(f"{source}: column {treatment!r} has no row of the control {control!r}; its values: {', '.join(present)}")
    chosen = tuple(arms) if arms else tuple(v for v in present if v != control)
    missing = [a for a in chosen if a not in present or a == control]
    if missing or not chosen:
        raise UpliftInputError(f"{source}: column {treatment!r} has no row of the treatment {missing[0] if missing else None!r}; "
                               f"allowed: labels other than the control {control!r} among {', '.join(present)}")
    all_arms = (control, *chosen)
    keep = labels.isin(all_arms).to_numpy()
    rows = frame[keep]
    y = pd.to_numeric(rows[outcome], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(y)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise UpliftInputError(f"{source}: column {outcome!r} (the outcome) has {int(bad.sum())} missing, non-numeric or infinite value(s) "
                               f"(first {rows[outcome].iloc[first]!r} at kept row {first}); allowed: finite numbers")
    encoder = encoder or FeatureEncoder.fit(rows, features, source)
    codes = labels[keep].map({a: k for k, a in enumerate(all_arms)}).to_numpy(dtype=np.int64)
    return RandomisedLog(encoder.transform(rows, source), codes, y, all_arms, encoder)

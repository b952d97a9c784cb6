"""The ``uplift_eval`` task: how well does an uplift model, fitted on one randomised log, rank the customers of another?

Fits an uplift learner (:mod:`uplift.models`, ``uplift_eval.model``) on the training rows
(``uplift_eval.train``, filtered by ``uplift_eval.train_where``), scores the evaluation rows
(``uplift_eval.log`` filtered by ``uplift_eval.eval_where``), and judges the scores of each
treatment against the control (:mod:`uplift.metrics`): the normalised Qini and uplift-curve areas
and uplift@k (by group and overall), each with a bootstrap 95% interval over the evaluation
customers, beside uniformly random scores on the same resamples (and the paired difference).

A table is a ``.parquet`` or ``.csv`` randomised log (:mod:`uplift.table`: a treatment column, an
outcome column, feature columns), or ``hillstrom``: the shipped Hillstrom e-mail test
(``data/hillstrom.csv.gz``) with a column ``half`` (``fit`` / ``holdout``, the halves of
:func:`experiments.calibration.hillstrom.halves` at ``calibration.split_seed``). The replay's
``replay_customers.parquet`` (``offerlab experiment=hillstrom_replay``) is a simulated log in the
same columns, with ``seed`` and ``half``. The assignment is taken as completely random (one
probability per arm, as in both), so no propensity is read.

Writes ``uplift_eval.csv`` (one row per arm, scorer and metric), ``uplift_eval.png`` (the Qini
curves) and ``uplift_eval.md`` (the verdict) into the run folder, each whole or not at all; every
input is read and checked before the first file is written.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from experiments.calibration import hillstrom
from experiments.io import write_table, write_text
from experiments.ope import run_seed
from experiments.report import save_figure
from experiments.schema import Config
from sim.config import ConfigError
from uplift import metrics
from uplift.checks import UpliftInputError
from uplift.models import MODELS, TLearner, make_model
from uplift.table import RandomisedLog, read_log

FILES = ("uplift_eval.csv", "uplift_eval.md", "uplift_eval.png")
SHIPPED = "hillstrom"
"""the table name that means the shipped Hillstrom test, with its ``half`` column"""
RANDOM = "random"
"""the scorer that draws every score uniformly at random: random targeting"""


def read_table(name: str, split_seed: int, key: str) -> pd.DataFrame:
    """The table ``name`` (``hillstrom``, or a .parquet / .csv path); ``key`` names the setting in errors."""
    if name == SHIPPED:
        table = hillstrom.load()
        halves = hillstrom.halves(table, split_seed)
        half = pd.Series("", index=table.frame.index)
        for h, part in halves.items():
            half[part.frame.index] = h
        return table.frame.assign(half=half.to_numpy())
    path = Path(name)
    if not name or not path.is_file():
        raise ConfigError(f"{key}={name!r}: no such file; allowed: {SHIPPED!r} (the shipped Hillstrom test) or a .parquet/.csv randomised log")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    raise ConfigError(f"{key}={name!r}: unknown format {path.suffix!r}; allowed: .parquet, .csv")


def where(frame: pd.DataFrame, conditions: list[str], key: str, source: str) -> pd.DataFrame:
    """The rows of ``frame`` meeting every ``column=value`` of ``conditions`` (values compared as text)."""
    keep = np.ones(len(frame), dtype=bool)
    for condition in conditions:
        column, sep, value = condition.partition("=")
        if not sep or not column:
            raise ConfigError(f"{key}: {condition!r} is not a condition; allowed: column=value, e.g. half=fit")
        if column not in frame.columns:
            raise ConfigError(f"{key}: {condition!r}: {source} has no column {column!r}; its columns: {', '.join(map(str, frame.columns))}")
        keep &= (frame[column].astype(str) == value).to_numpy()
    if not keep.any():
        raise ConfigError(f"{key}={conditions}: no row of {source} meets every condition")
    return frame[keep].reset_index(drop=True)


@dataclass(frozen=True)
class Fitted:
    """A learner fitted on a training log, with that log (its arms and feature encoding score the evaluation rows)."""

    model: TLearner
    train: RandomisedLog


def fit(frame: pd.DataFrame, cfg: Config, source: str, seed: int) -> Fitted:
    """The configured learner fitted on the randomised log in ``frame``."""
    u = cfg.uplift_eval
    log = read_log(frame, u.treatment, u.control, u.outcome, u.features, u.arms, source=source)
    return Fitted(make_model(u.model, seed).fit(log.X, log.treatment, log.y), log)


def held_out(frame: pd.DataFrame, fitted: Fitted, cfg: Config, source: str) -> RandomisedLog:
    """The evaluation log, read with the training log's arms and feature encoding."""
    u = cfg.uplift_eval
    return read_log(frame, u.treatment, u.control, u.outcome, u.features, fitted.train.arms[1:], encoder=fitted.train.encoder, source=source)


def random_scores(n: int, k: int, seed: int) -> np.ndarray:
    """(n, k) uniform scores: random targeting, drawn once and judged on the same resamples as the models."""
    return np.random.default_rng([seed, 1]).random((n, k))


def score_arms(log: RandomisedLog, scores: dict[str, np.ndarray], differences: tuple[tuple[str, str], ...], k: float, replicates: int,
               seed: int) -> pd.DataFrame:
    """:func:`uplift.metrics.evaluate` for every treatment of ``log`` against its control, each scorer's column of that arm."""
    parts = []
    for arm in range(1, len(log.arms)):
        rows, treated = metrics.arm_rows(log.treatment, arm)
        table = metrics.evaluate({name: s[rows, arm - 1] for name, s in scores.items()}, treated, log.y[rows], k=k,
                                 replicates=replicates, seed=seed + arm, differences=differences)
        parts.append(table.assign(arm=log.arms[arm]))
    out = pd.concat(parts, ignore_index=True)
    return out[["arm", *[c for c in out.columns if c != "arm"]]]


def qini_curves(log: RandomisedLog, scores: dict[str, np.ndarray]) -> dict[str, dict[str, metrics.Curve]]:
    """Arm label -> scorer -> its Qini curve on the evaluation log."""
    out = {}
    for arm in range(1, len(log.arms)):
        rows, treated = metrics.arm_rows(log.treatment, arm)
        out[log.arms[arm]] = {name: metrics.qini_curve(s[rows, arm - 1], treated, log.y[rows]) for name, s in scores.items()}
    return out


def check(cfg: Config) -> None:
    """Refuse settings no table can fix, before any table is read."""
    u = cfg.uplift_eval
    if u.model not in MODELS:
        raise ConfigError(f"uplift_eval.model={u.model!r}: unknown; allowed: {', '.join(MODELS)}")
    for key, value in (("treatment", u.treatment), ("control", u.control), ("outcome", u.outcome)):
        if not value:
            raise ConfigError(f"uplift_eval.{key} is empty: name the log's {key} {'label' if key == 'control' else 'column'}")
    if not u.features:
        raise ConfigError("uplift_eval.features is empty: name the columns known before the assignment, e.g. [recency, history]")
    if u.outcome in u.features or u.treatment in u.features:
        raise ConfigError(f"uplift_eval.features={u.features}: holds the outcome or the treatment column; allowed: columns known before the assignment")


def uplift_eval(cfg: Config, run_dir: Path) -> pd.DataFrame:
    """Fit, score and judge; write the folder (see the module docstring); return the table."""
    check(cfg)
    u, seed = cfg.uplift_eval, run_seed(cfg)
    train_name = u.train or u.log
    train_source = f"uplift_eval.train={train_name!r}"
    eval_source = f"uplift_eval.log={u.log!r}"
    try:
        train_frame = where(read_table(train_name, cfg.calibration.split_seed, "uplift_eval.train" if u.train else "uplift_eval.log"),
                            u.train_where, "uplift_eval.train_where", train_source)
        eval_frame = where(read_table(u.log, cfg.calibration.split_seed, "uplift_eval.log"), u.eval_where, "uplift_eval.eval_where", eval_source)
        fitted = fit(train_frame, cfg, train_source, seed)
        log = held_out(eval_frame, fitted, cfg, eval_source)
    except UpliftInputError as e:
        raise ConfigError(str(e)) from None
    name = f"uplift_{u.model}"
    scores = {name: fitted.model.predict(log.X), RANDOM: random_scores(len(log.y), len(log.arms) - 1, seed)}
    table = score_arms(log, scores, ((name, RANDOM),), u.k, u.bootstrap, seed)
    table = table.assign(outcome=u.outcome, n_train=len(fitted.train.y))
    write_table(table, run_dir / FILES[0])
    save_figure(figure(qini_curves(log, scores), u.outcome), run_dir / FILES[2])
    write_text(verdict(table, name, conditions(cfg, train_name, fitted, log, seed)), run_dir / FILES[1])
    return table


def conditions(cfg: Config, train_name: str, fitted: Fitted, log: RandomisedLog, seed: int) -> str:
    """The verdict's first paragraph: the tables, the rows, the model, the settings."""
    u = cfg.uplift_eval
    counts = lambda lg: ", ".join(f"{a} {int(np.sum(lg.treatment == i)):,}" for i, a in enumerate(lg.arms))  # noqa: E731
    rows = lambda conditions: f"where {', '.join(conditions)}" if conditions else "every row"  # noqa: E731
    return (f"Fitted on `{train_name}`, {rows(u.train_where)} ({counts(fitted.train)}); judged on `{u.log}`, {rows(u.eval_where)} "
            f"({counts(log)}). Outcome `{u.outcome}`, treatment column `{u.treatment}`, control "
            f"`{u.control}`. Learner `{u.model}` ({type(fitted.model).__name__}, scikit-learn gradient boosting, uplift/models.py) on "
            f"{', '.join(u.features)} ({len(fitted.train.encoder.names)} columns once one-hot encoded). uplift@k at k = {u.k:g}. Intervals: "
            f"{u.bootstrap} bootstrap resamples of the judged customers within each group, seed {seed}; every scorer on the same resamples. "
            f"Python {platform.python_version()}, {platform.machine()}.")


def _ci(row: pd.Series, fmt: str = ".4f") -> str:
    return f"{row['value']:{fmt}} [{row['low']:{fmt}}, {row['high']:{fmt}}]"


def verdict(table: pd.DataFrame, name: str, header: str) -> str:
    """``uplift_eval.md``: conditions, one line per arm and scorer, and what the intervals support."""
    t = table.set_index(["arm", "scorer", "metric"])
    lines = ["# Uplift model evaluation", "", header, "",
             "| arm | scorer | Qini [95% CI] | AUUC [95% CI] | uplift@k by group [95% CI] | uplift@k overall [95% CI] |",
             "|---|---|---:|---:|---:|---:|"]
    arms = list(dict.fromkeys(table["arm"]))
    for arm in arms:
        for scorer in dict.fromkeys(table.loc[table["arm"] == arm, "scorer"]):
            lines.append(f"| {arm} | {scorer} | " + " | ".join(_ci(t.loc[(arm, scorer, m)]) for m in metrics.METRICS) + " |")
    lines += ["", "Qini and AUUC are normalised: 0 = random targeting, 1 = the best order the log shows (docs/uplift.md).", "",
              "## Verdict", ""]
    for arm in arms:
        diff = t.loc[(arm, f"{name} - {RANDOM}", "qini")]
        reading = ("ranks better than random targeting" if diff["low"] > 0 else "ranks worse than random targeting" if diff["high"] < 0
                   else "is not shown to rank better than random targeting")
        lines.append(f"- {arm}: `{name}` {reading} (Qini, model minus random scores, paired: {_ci(diff, '+.4f')}).")
    lines += ["", f"![Qini curves]({FILES[2]})", "", f"Numbers: `{FILES[0]}`."]
    return "\n".join(lines) + "\n"


def figure(curves: dict[str, dict[str, metrics.Curve]], outcome: str) -> plt.Figure:
    """One panel per treatment: each scorer's Qini curve, and random targeting's line, per customer of the pair."""
    fig, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 4.2), squeeze=False)
    for ax, (arm, by_scorer) in zip(axes[0], curves.items()):
        for scorer, curve in by_scorer.items():
            n = curve.x[-1]
            ax.plot(curve.x / n, curve.y / n, label=scorer, lw=1.2, color="#999999" if scorer == RANDOM else None)
        ax.plot([0, 1], [0, curve.y[-1] / n], color="black", lw=0.8, ls="--", label="random targeting (expected)")
        ax.set(xlabel="share of customers targeted, highest score first", ylabel=f"incremental {outcome} per customer (Qini)", title=arm)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def run_task(cfg: Config, run_dir: Path) -> None:
    """``task=uplift_eval``: fit, judge, write the folder, print the table."""
    table = uplift_eval(cfg, run_dir)
    wide = table.pivot_table(index=["arm", "scorer"], columns="metric", values="value", sort=False)[list(metrics.METRICS)]
    print(wide.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"\nverdict: {run_dir / FILES[1]}")

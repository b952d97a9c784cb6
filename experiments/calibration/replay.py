"""The ``hillstrom_replay`` task: the Hillstrom e-mail test re-run inside the simulator, beside the real one.

Each real customer becomes one simulated shopper (:mod:`sim.customers`). For every seed the
shoppers are split at random into three equal arms, as in the real test; on day 0 the men's arm
gets the market's ``mens_email`` campaign and the women's arm its ``womens_email`` campaign, by
e-mail in the morning; nobody is contacted after that. Over the two-week window
(``calibration.window_days``) a simulated customer

* **visits** if on some day they browse at least one category, or buy (in the data every
  conversion has a visit);
* **converts** if they buy at least once;
* **spends** the value of everything they buy.

The fit half and the held-out half of the customers (:func:`experiments.calibration.hillstrom.halves`) are
simulated as two separate markets. Outputs, in the run folder:

* ``replay.csv``: per half, arm and metric (visit, conversion and spend per customer; the lifts of
  each e-mail over no e-mail), the simulated mean over seeds with its 95% t interval across seeds
  (lifts paired by seed), the real value with its interval from that half's customers, and
  whether the simulated mean lies inside the real interval (informative, value by value; not the verdict);
* ``holdout_test.csv``: the verdict, the held-out test of :mod:`experiments.calibration.holdout` on
  the held-out half (its chi-square statistic, degrees of freedom, threshold at the 5% level,
  p-value and whether the market passes), with the simulated values' covariance of
  :func:`simulated_covariance`;
* ``untargeted.csv``: the lifts by past purchases (men's only, women's only, both), new vs
  returning customer, purchase channel and area, over all customers: effects the fit never saw;
* ``replay.png``, ``untargeted.png``: the same as plots;
* ``replay_customers.parquet``: one row per simulated customer and seed with the source
  customer's Hillstrom columns, so the simulated test can be cut like the real one (``segment``,
  ``visit``, ``conversion``, ``spend`` are simulated; the real ones are ``real_segment``, ...).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from tqdm import tqdm  # noqa: E402

from experiments.calibration import hillstrom, holdout  # noqa: E402
from experiments.io import write_table  # noqa: E402
from experiments.report import save_figure  # noqa: E402
from experiments.schema import Config  # noqa: E402
from experiments.stats import mean_ci  # noqa: E402
from sim import MarketModel  # noqa: E402
from sim.config import MarketConfig  # noqa: E402
from sim.customers import REQUIRED, CustomerTable  # noqa: E402

REPLAY_COLUMNS = ["half", "arm", "metric", "simulated", "simulated_low", "simulated_high", "real", "real_low", "real_high", "inside_real_ci"]
UNTARGETED_BY = ("bought", "newbie", "channel", "zip_code")
"""customer columns the untargeted lifts are cut by (``bought`` = :func:`experiments.calibration.hillstrom.purchase_group`)"""
GROUP_NAMES = {"newbie": {0: "returning", 1: "new"}}
"""readable names of coded groups"""
SEND_SLOT = "morning"
SCALE = {"visit": (100, "%"), "conversion": (100, "%"), "spend": (1, "$"), "visit_lift": (100, "pp"),
         "conversion_lift": (100, "pp"), "spend_lift": (1, "$")}
"""how each metric is shown: multiplier and unit"""


def assign_arms(n: int, seed: int) -> np.ndarray:
    """(n,) arm index into ``hillstrom.ARMS``: a random permutation of equal thirds (sizes differ by at most 1)."""
    return np.random.default_rng(seed).permutation(np.resize(np.arange(len(hillstrom.ARMS)), n))


def simulate_experiment(market: MarketConfig, table: CustomerTable, seed: int, window_days: int) -> pd.DataFrame:
    """One simulated run of the test on the customers of ``table``: their columns, arm and outcomes.

    Returns one row per customer: ``customer`` (row in the source file), the observable columns,
    ``segment`` (the simulated arm) and the simulated ``visit``, ``conversion``, ``spend``.
    """
    n = len(table)
    cfg = dataclasses.replace(market, horizon_days=window_days, population=dataclasses.replace(market.population, size=n))
    model = MarketModel(cfg, seed=seed, customers=table)
    arm = assign_arms(n, seed)
    first = np.zeros(model.n_rows, dtype=np.int64)
    for k, name in enumerate(hillstrom.ARMS):
        if name in hillstrom.CAMPAIGN_OF_ARM:
            first[:n][arm == k] = model.campaign_action(hillstrom.CAMPAIGN_OF_ARM[name], "email", SEND_SLOT)
    visit, conversion, spend = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), np.zeros(n, dtype=np.float64)
    for day in range(window_days):
        model.step(first if day == 0 else None)
        out = model.outcome
        bought = out.purchases[:n] > 0
        visit |= out.viewed[:n] | bought
        conversion |= bought
        spend += out.revenue[:n]
    if model.violations:
        raise RuntimeError(f"{model.violations} campaign e-mails were refused by the guardrails; every arm member must get one")
    frame = table.frame[list(REQUIRED)].copy()
    frame.insert(0, "customer", table.frame.index.to_numpy())
    frame["segment"] = np.array(hillstrom.ARMS)[arm]
    frame["visit"], frame["conversion"], frame["spend"] = visit.astype(np.int8), conversion.astype(np.int8), spend
    return frame.reset_index(drop=True)


def side_by_side(simulated: list[pd.DataFrame], real: pd.DataFrame) -> pd.DataFrame:
    """Simulated runs (one customer frame per seed) beside the real customers, arm by arm and metric by metric.

    The simulated value is the mean over seeds with a 95% t interval across seeds; a lift is taken
    within each seed first (arm minus no e-mail on the same simulated market), so its interval is
    paired by seed.
    """
    per_seed = pd.concat([hillstrom.effects(f) for f in simulated]).groupby(["arm", "metric"], sort=False)["value"]
    sim = per_seed.apply(lambda v: mean_ci(v.to_numpy())).rename("ci").reset_index()
    out = hillstrom.effects(real).merge(sim, on=["arm", "metric"], how="left")
    out["simulated"] = [ci.mean for ci in out["ci"]]
    out["simulated_low"] = [ci.low for ci in out["ci"]]
    out["simulated_high"] = [ci.high for ci in out["ci"]]
    out = out.rename(columns={"value": "real", "low": "real_low", "high": "real_high"})
    out["inside_real_ci"] = (out["simulated"] >= out["real_low"]) & (out["simulated"] <= out["real_high"])
    return out[[c for c in REPLAY_COLUMNS if c != "half"]]


def simulated_covariance(fit_half: pd.DataFrame, runs: list[pd.DataFrame]) -> pd.DataFrame:
    """The covariance of a fitted market's values on the held-out half, :math:`\\Sigma_s` of the held-out test.

    .. math::  \\Sigma_s = \\Sigma_{\\text{fit}} + \\frac{1}{S^2} \\sum_{k=1}^{S} \\Sigma_k

    :math:`\\Sigma_{\\text{fit}}` is the fit half's sampling covariance: the market was fitted to that
    half, so it can be at best as right as that sample (:mod:`experiments.calibration.holdout`).
    The second term is the simulation's noise: the simulated value is the mean of :math:`S`
    independent seeds, and :math:`\\Sigma_k` is the sampling covariance within seed :math:`k`'s
    simulated customers (:func:`experiments.calibration.hillstrom.covariance`), estimated from
    each run's customers because :math:`S` seeds are too few for a 15 x 15 covariance across seeds.
    """
    noise = sum(hillstrom.covariance(r) for r in runs) / len(runs) ** 2
    return hillstrom.covariance(fit_half) + noise


def held_out_test(table: pd.DataFrame, fit_half: pd.DataFrame, held_half: pd.DataFrame, held_runs: list[pd.DataFrame]) -> holdout.HoldoutTest:
    """The verdict: the held-out test of the ``holdout`` rows of ``table`` (:func:`side_by_side` with ``half``)."""
    rows = table[table["half"] == "holdout"].set_index(["arm", "metric"])
    return holdout.holdout_test(rows["simulated"], simulated_covariance(fit_half, held_runs), rows["real"], hillstrom.covariance(held_half))


def replay(cfg: Config, run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, holdout.HoldoutTest]:
    """Simulate both halves on every seed; write the folder (see the module docstring); return replay and untargeted tables and the verdict."""
    cal, seeds = cfg.calibration, list(cfg.experiment.seeds)
    table = hillstrom.load()
    halves = hillstrom.halves(table, cal.split_seed)
    runs: dict[tuple[str, int], pd.DataFrame] = {}
    with tqdm(total=len(halves) * len(seeds), desc=f"replay on {cfg.market.name}", unit="run") as bar:
        for half, customers in halves.items():
            for seed in seeds:
                runs[half, seed] = simulate_experiment(cfg.market, customers, seed, cal.window_days).assign(half=half, seed=seed)
                bar.update()

    tables = [side_by_side([runs[half, s] for s in seeds], halves[half].frame).assign(half=half) for half in halves]
    replay_table = pd.concat(tables, ignore_index=True)[REPLAY_COLUMNS]
    everyone = {s: pd.concat([runs[half, s] for half in halves]) for s in seeds}
    untargeted = untargeted_table([everyone[s] for s in seeds], table.frame)
    test = held_out_test(replay_table, halves["fit"].frame, halves["holdout"].frame, [runs["holdout", s] for s in seeds])

    customers = pd.concat(runs.values(), ignore_index=True)
    real = table.frame.drop(columns=list(REQUIRED)).rename(columns={c: f"real_{c}" for c in hillstrom.OUTCOMES + ("segment",)})
    customers = customers.merge(real, left_on="customer", right_index=True, how="left")
    first = ["seed", "half", "customer"]
    customers = customers[first + [c for c in table.frame.columns if c in customers] + [c for c in customers if c.startswith("real_")]]

    write_table(replay_table, run_dir / "replay.csv")
    write_table(untargeted, run_dir / "untargeted.csv")
    write_table(pd.DataFrame([{"half": "holdout", "seeds": len(seeds), "statistic": test.statistic, "df": test.df, "threshold": test.threshold,
                               "level": test.level, "p_value": test.p_value, "passed": test.passed}]), run_dir / "holdout_test.csv")
    write_table(customers, run_dir / "replay_customers.parquet")
    plot_replay(replay_table, run_dir / "replay.png")
    plot_untargeted(untargeted, run_dir / "untargeted.png")
    return replay_table, untargeted, test


def untargeted_table(simulated: list[pd.DataFrame], real: pd.DataFrame) -> pd.DataFrame:
    """The e-mails' lifts by customer group (:data:`UNTARGETED_BY`), simulated beside real, over all customers."""
    simulated = [f.assign(bought=hillstrom.purchase_group(f)) for f in simulated]
    real = real.assign(bought=hillstrom.purchase_group(real))
    parts = []
    for by in UNTARGETED_BY:
        for group in sorted(real[by].unique()):
            t = side_by_side([f[f[by] == group] for f in simulated], real[real[by] == group])
            parts.append(t[t["metric"].isin(hillstrom.LIFTS)].assign(by=by, group=GROUP_NAMES.get(by, {}).get(group, str(group))))
    out = pd.concat(parts, ignore_index=True)
    return out[["by", "group", *[c for c in REPLAY_COLUMNS if c != "half"]]]


def _plot_pairs(ax: plt.Axes, rows: pd.DataFrame, labels: list[str], scale: float) -> None:
    """Real (black) and simulated (blue) values with their 95% intervals, one pair per row of ``rows``."""
    x = np.arange(len(rows))
    for offset, col, color in ((-0.12, "real", "black"), (0.12, "simulated", "tab:blue")):
        mid = rows[col].to_numpy() * scale
        err = np.abs(np.vstack([rows[f"{col}_low"], rows[f"{col}_high"]]) * scale - mid)
        ax.errorbar(x + offset, mid, yerr=err, fmt="o", color=color, capsize=3, label=col)
    ax.set_xticks(x, labels, fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def plot_replay(table: pd.DataFrame, path: Path) -> None:
    """One panel per half and metric: each arm's real value and interval beside the simulated one."""
    metrics = list(hillstrom.OUTCOMES + hillstrom.LIFTS)
    halves = list(dict.fromkeys(table["half"]))
    fig, axes = plt.subplots(len(halves), len(metrics), figsize=(3.2 * len(metrics), 3.2 * len(halves)), squeeze=False)
    for i, half in enumerate(halves):
        for j, metric in enumerate(metrics):
            rows = table[(table["half"] == half) & (table["metric"] == metric)]
            scale, unit = SCALE[metric]
            _plot_pairs(axes[i, j], rows, [a.replace(" E-Mail", "") for a in rows["arm"]], scale)
            axes[i, j].set_title(f"{metric} ({unit}), {half} half", fontsize=9)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Hillstrom e-mail test: real (95% CI) vs simulated (mean over seeds, 95% CI)")
    save_figure(fig, path)


def plot_untargeted(table: pd.DataFrame, path: Path) -> None:
    """One panel per customer column and lift: each group x e-mail's real lift beside the simulated one."""
    bys, metrics = list(dict.fromkeys(table["by"])), list(hillstrom.LIFTS)
    fig, axes = plt.subplots(len(bys), len(metrics), figsize=(5.5 * len(metrics), 3.2 * len(bys)), squeeze=False)
    for i, by in enumerate(bys):
        for j, metric in enumerate(metrics):
            rows = table[(table["by"] == by) & (table["metric"] == metric)]
            scale, unit = SCALE[metric]
            labels = [f"{g}\n{a.replace(' E-Mail', '')}" for g, a in zip(rows["group"], rows["arm"])]
            _plot_pairs(axes[i, j], rows, labels, scale)
            axes[i, j].axhline(0, color="grey", lw=0.8)
            axes[i, j].set_title(f"{metric} ({unit}) by {by}", fontsize=9)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Effects the fit did not target: lift over no e-mail by customer group (all customers)")
    save_figure(fig, path)


def markdown(table: pd.DataFrame) -> str:
    """``replay.csv`` as the README shows it: one line per half, arm and metric."""
    lines = ["| half | arm | metric | simulated [95% CI] | real [95% CI] | inside |", "|---|---|---|---:|---:|:---:|"]
    for r in table.itertuples():
        scale, unit = SCALE[r.metric]
        fmt = (lambda v: f"{v * scale:.2f}") if unit != "$" else (lambda v: f"{v:.3f}")
        lines.append(
            f"| {r.half} | {r.arm} | {r.metric} ({unit}) | {fmt(r.simulated)} [{fmt(r.simulated_low)}, {fmt(r.simulated_high)}] "
            f"| {fmt(r.real)} [{fmt(r.real_low)}, {fmt(r.real_high)}] | {'yes' if r.inside_real_ci else '**no**'} |"
        )
    return "\n".join(lines)


def run_task(cfg: Config, run_dir: Path) -> None:
    """``task=hillstrom_replay``: replay, write the folder, print the table and the verdict."""
    table, untargeted, test = replay(cfg, run_dir)
    print(markdown(table))
    inside = table["inside_real_ci"]
    print(f"\n{int(inside.sum())} of {len(table)} simulated values lie inside the real 95% interval (informative; not the verdict).")
    print(f"held-out test (experiments/calibration/holdout.py): {test}")
    print("outputs: replay.csv, holdout_test.csv, untargeted.csv, replay.png, untargeted.png, replay_customers.parquet")

"""The ``hillstrom_fit`` task: estimate the Hillstrom market's parameters from the real experiment.

Method of simulated moments. The fit half of the customers (:func:`experiments.calibration.hillstrom.halves`,
``calibration.split_seed``) is simulated ``calibration.fit_replicas`` times over in one market,
always with the same seed (``calibration.fit_seed``): common random numbers make the simulated
moments a smooth function of the parameters, so a derivative-based optimiser can work on them.
The moments :math:`m_k` are

* arm level: visit rate, conversion rate and spend per customer in each of the three arms;
* feature-level base rates, in the no e-mail arm: visit and conversion rate by new vs returning
  customer and by past purchases (men's only, women's only, both); visit rate by purchase
  channel, by area, by recency band (1-3, 4-6, 7-9, 10-12 months) and by past-year spend band
  (< 100, 100-200, 200-350, >= 350 dollars).

The loss is the sum of squared standardised differences

.. math::  L(\\theta) = \\sum_k \\big( (\\hat m_k(\\theta) - m_k) / s_k \\big)^2

with :math:`s_k` the standard error of the real moment, minimised over the parameters of
:data:`FITTED` by ``scipy.optimize.least_squares`` (trust region reflective, bounds from the config
schema, variables scaled by the Jacobian). The Jacobian is taken by forward differences with one
fixed step (``calibration.diff_step``, 0.2 logits): much smaller steps would see the granularity
of simulated counts rather than the slope. The starting point is the market of the
``hillstrom_fit`` preset. The fitted values are rounded to :data:`DECIMALS` decimals and the
moments simulated once more at the rounded values: that is what the preset records, so it
reproduces its own numbers exactly.

Outputs: ``configs/market/hillstrom.yaml`` (``calibration.preset``; a copy goes to the run folder),
``fit.csv`` (moment, target, its interval and standard error, fitted, z) and
``fit_parameters.csv`` (parameter, start, fitted, bounds).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf
from scipy import optimize

from experiments.calibration import hillstrom
from experiments.io import write_table, write_text
from experiments.calibration.replay import simulate_experiment
from experiments.schema import CalibrationConfig, Config
from sim.config import MarketConfig
from sim.customers import CustomerTable
from sim.resources import source_checkout

DECIMALS = 4
RECENCY_BANDS = ([1, 3], [4, 6], [7, 9], [10, 12])
HISTORY_BANDS = (0.0, 100.0, 200.0, 350.0, np.inf)
BASE_RATES = {"newbie": ("visit", "conversion"), "bought": ("visit", "conversion"), "channel": ("visit",),
              "zip_code": ("visit",), "recency_band": ("visit",), "history_band": ("visit",)}
"""feature-level base rates: customer column -> outcomes matched in each of its groups (no e-mail arm)"""
MOMENTS_MARKER = "# moments (target = real fit half; fitted = simulated at the values below):"


@dataclass(frozen=True)
class Param:
    """A fitted market setting: its dotted key under ``market``, and how the optimiser sees it (``x = value / scale``, or log)."""

    key: str
    scale: float = 1.0
    log: bool = False

    def to_x(self, value: float) -> float:
        return float(np.log(value)) if self.log else value / self.scale

    def from_x(self, x: float) -> float:
        return float(np.exp(x)) if self.log else float(x * self.scale)


FITTED = (
    Param("response.browse_base"),
    Param("response.buy_base"),
    Param("response.open_browse"),
    Param("campaigns.mens_email.appeal"),
    Param("campaigns.womens_email.appeal"),
    Param("population.customer_effects.bought_interest"),
    Param("population.customer_effects.newbie_activity"),
    Param("population.customer_effects.recency_activity", scale=1 / 12),  # per month; x is per year
    Param("population.customer_effects.history_activity"),
    Param("population.customer_effects.web_activity"),
    Param("population.customer_effects.multichannel_activity"),
    Param("population.customer_effects.urban_activity"),
    Param("population.customer_effects.rural_activity"),
    Param("population.customer_effects.basket_scale", log=True),
)


def _field(cfg: MarketConfig, key: str) -> tuple[object, str]:
    """The object holding ``key``'s last part, and that part's name."""
    *path, name = key.split(".")
    obj: object = cfg
    for part in path:
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj, name


def get(cfg: MarketConfig, key: str) -> float:
    obj, name = _field(cfg, key)
    return float(getattr(obj, name))


def with_values(cfg: MarketConfig, values: dict[str, float]) -> MarketConfig:
    """A copy of ``cfg`` with the dotted keys set."""
    out = copy.deepcopy(cfg)
    for key, value in values.items():
        obj, name = _field(out, key)
        setattr(obj, name, value)
    return out


def bounds(cfg: MarketConfig, p: Param) -> tuple[float, float]:
    """The schema's range of a parameter, in the optimiser's units."""
    obj, name = _field(cfg, p.key)
    meta = {f.name: f.metadata for f in dataclasses.fields(obj)}[name]
    lo = meta.get("ge") if meta.get("ge") is not None else meta.get("gt")
    hi = meta.get("le")
    lo_x = -np.inf if lo is None or (p.log and lo <= 0) else p.to_x(lo)
    hi_x = np.inf if hi is None else p.to_x(hi)
    return lo_x, hi_x


def with_bands(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` plus the derived columns the moments are cut by: ``bought``, ``recency_band``, ``history_band``."""
    out = frame.assign(bought=hillstrom.purchase_group(frame))
    rec = np.select([frame["recency"].between(lo, hi) for lo, hi in RECENCY_BANDS], [f"{lo}-{hi}" for lo, hi in RECENCY_BANDS], "other")
    labels = [f"{lo:g}-{hi:g}" if np.isfinite(hi) else f">={lo:g}" for lo, hi in zip(HISTORY_BANDS[:-1], HISTORY_BANDS[1:])]
    hist = pd.cut(frame["history"], HISTORY_BANDS, right=False, labels=labels).astype(str)
    return out.assign(recency_band=rec, history_band=hist)


def moments(frame: pd.DataFrame) -> pd.DataFrame:
    """``moment, value, se, n`` of a customer frame (real or simulated): see the module docstring."""
    frame = with_bands(frame)
    rows = []
    for arm in hillstrom.ARMS:
        g = frame[frame["segment"] == arm]
        rows += [(f"{m} | {arm}", *_mean_se(g[m], m)) for m in hillstrom.OUTCOMES]
    control = frame[frame["segment"] == hillstrom.CONTROL]
    for by, metrics in BASE_RATES.items():
        for group, g in control.groupby(by, sort=True):
            rows += [(f"{m} | {hillstrom.CONTROL} | {by}={group}", *_mean_se(g[m], m)) for m in metrics]
    return pd.DataFrame(rows, columns=["moment", "value", "se", "n"])


def _mean_se(x: pd.Series, metric: str) -> tuple[float, float, int]:
    v = x.to_numpy(dtype=np.float64)
    mean = float(v.mean())
    se = np.sqrt(mean * (1 - mean) / v.size) if metric != "spend" else v.std(ddof=1) / np.sqrt(v.size)
    return mean, float(se), int(v.size)


class Objective:
    """Standardised moment differences at a parameter vector, by simulating the fit half with common random numbers.

    The optimiser's vector is the offset of each parameter (in its ``Param`` units) from its value
    in ``market``: forward differences then take the same absolute step on every parameter.
    """

    def __init__(self, market: MarketConfig, fit: CustomerTable, target: pd.DataFrame, cal: CalibrationConfig):
        self.market, self.target, self.cal = market, target, cal
        self.start = np.array([p.to_x(get(market, p.key)) for p in FITTED])
        self.customers = fit.take(np.tile(np.arange(len(fit)), cal.fit_replicas))
        if (target["se"] <= 0).any():
            bad = target.loc[target["se"] <= 0, "moment"].tolist()
            raise ValueError(f"moments without spread in the real data cannot be matched: {bad}")
        self.evaluations = 0
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def config(self, x: np.ndarray) -> MarketConfig:
        return with_values(self.market, {p.key: p.from_x(v) for p, v in zip(FITTED, self.start + x)})

    def simulate(self, cfg: MarketConfig) -> pd.DataFrame:
        """The simulated moments of a market, aligned with the targets."""
        self.evaluations += 1
        frame = simulate_experiment(cfg, self.customers, self.cal.fit_seed, self.cal.window_days)
        sim = moments(frame).set_index("moment")["value"]
        return self.target.assign(fitted=sim.reindex(self.target["moment"]).to_numpy())

    def residuals(self, x: np.ndarray) -> np.ndarray:
        if self._last is not None and np.array_equal(self._last[0], x):
            return self._last[1]
        fitted = self.simulate(self.config(x))
        r = ((fitted["fitted"] - fitted["value"]) / fitted["se"]).fillna(0.0).to_numpy()
        self._last = (x.copy(), r)
        return r

    def jacobian(self, x: np.ndarray, upper: np.ndarray) -> np.ndarray:
        """Forward differences with the fixed step ``diff_step`` (backward where the step would cross ``upper``)."""
        r0 = self.residuals(x)
        out = np.empty((r0.size, x.size))
        for k in range(x.size):
            step = self.cal.diff_step if x[k] + self.cal.diff_step <= upper[k] else -self.cal.diff_step
            xk = x.copy()
            xk[k] += step
            out[:, k] = (self.residuals(xk) - r0) / step
        return out


def fit(cfg: Config) -> tuple[MarketConfig, pd.DataFrame, pd.DataFrame, dict]:
    """Run the fit; returns the fitted market, the moments table, the parameters table and a summary."""
    cal = cfg.calibration
    table = hillstrom.load()
    fit_half = hillstrom.halves(table, cal.split_seed)["fit"]
    target = moments(fit_half.frame)
    market = dataclasses.replace(cfg.market, horizon_days=cal.window_days, population=dataclasses.replace(cfg.market.population, size=len(table)))
    objective = Objective(market, fit_half, target, cal)
    lo, hi = np.array([bounds(market, p) for p in FITTED]).T
    started = time.perf_counter()
    lower, upper = lo - objective.start, hi - objective.start
    result = optimize.least_squares(
        objective.residuals, np.zeros(len(FITTED)), jac=lambda x: objective.jacobian(x, upper), bounds=(lower, upper),
        x_scale="jac", max_nfev=cal.max_steps,
    )
    fitted_values = {p.key: round(p.from_x(v), DECIMALS) for p, v in zip(FITTED, objective.start + result.x)}
    fitted_market = with_values(market, fitted_values)
    table_out = objective.simulate(fitted_market)
    table_out = table_out.assign(
        target_low=table_out["value"] - 1.96 * table_out["se"],
        target_high=table_out["value"] + 1.96 * table_out["se"],
        z=(table_out["fitted"] - table_out["value"]) / table_out["se"],
    ).rename(columns={"value": "target"})[["moment", "target", "target_low", "target_high", "se", "n", "fitted", "z"]]
    params = pd.DataFrame(
        [(p.key, get(market, p.key), fitted_values[p.key], p.from_x(a) if np.isfinite(a) else None, p.from_x(b) if np.isfinite(b) else None)
         for p, a, b in zip(FITTED, lo, hi)],
        columns=["parameter", "start", "fitted", "lower", "upper"],
    )
    summary = {
        "loss": float((table_out["z"] ** 2).sum()),
        "moments": len(table_out),
        "parameters": len(FITTED),
        "evaluations": objective.evaluations,
        "seconds": time.perf_counter() - started,
        "status": result.message,
    }
    return fitted_market, table_out, params, summary


def preset_text(market: MarketConfig, fit_table: pd.DataFrame, summary: dict, cal: CalibrationConfig) -> str:
    """The market preset YAML, headed by how it was made and the moments it reproduces."""
    lines = [
        "# The Hillstrom market: the MineThatData e-mail test's customers (data/hillstrom.csv.gz) as shoppers.",
        f"# Written by `offerlab experiment=hillstrom_fit` on {dt.date.today().isoformat()}; do not edit by hand, re-run the fit.",
        *textwrap.wrap(f"Fitted: {', '.join(p.key for p in FITTED)}.", 110, initial_indent="# ", subsequent_indent="#   "),
        "# Everything else is the default market's assumption or the test's design (window, no arrivals, e-mail campaigns).",
        f"# Fit: split_seed={cal.split_seed} fit_seed={cal.fit_seed} fit_replicas={cal.fit_replicas} window_days={cal.window_days}; "
        f"loss {summary['loss']:.2f} over {summary['moments']} moments and {summary['parameters']} parameters "
        f"({summary['evaluations']} simulations, {summary['seconds']:.0f} s).",
        MOMENTS_MARKER,
        f"# {'moment':<58} {'target':>10} {'fitted':>10} {'se':>9}",
    ]
    lines += [f"# {r.moment:<58} {r.target:>10.6f} {r.fitted:>10.6f} {r.se:>9.6f}" for r in fit_table.itertuples()]
    body = OmegaConf.to_yaml(OmegaConf.structured(market))
    return "\n".join(lines) + "\n#\ndefaults: [market_schema, _self_]\n" + body


def recorded_moments(path: Path) -> tuple[pd.DataFrame, dict[str, int]]:
    """The moments and fit settings a preset's header records (what :func:`preset_text` wrote)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    settings_line = next(line for line in lines if line.startswith("# Fit: "))
    settings = {k: int(v.rstrip(";")) for k, v in (w.split("=") for w in settings_line[len("# Fit: "):].split() if "=" in w)}
    start = lines.index(MOMENTS_MARKER) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("# ") or line == "#":
            break
        *name, target, fitted, se = line[2:].split()
        rows.append((" ".join(name), float(target), float(fitted), float(se)))
    return pd.DataFrame(rows, columns=["moment", "target", "fitted", "se"]), settings


def run_task(cfg: Config, run_dir: Path) -> None:
    """``task=hillstrom_fit``: fit, write the preset and the tables, print the summary."""
    market, fit_table, params, summary = fit(cfg)
    text = preset_text(market, fit_table, summary, cfg.calibration)
    write_text(text, run_dir / "hillstrom.yaml")
    preset = preset_path(cfg.calibration.preset)
    if preset is not None:
        write_text(text, preset)
    write_table(fit_table, run_dir / "fit.csv")
    write_table(params, run_dir / "fit_parameters.csv")
    print(params.to_string(index=False))
    print(fit_table[["moment", "target", "fitted", "z"]].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(
        f"\nloss {summary['loss']:.2f} over {summary['moments']} moments, {summary['parameters']} parameters; "
        f"{summary['evaluations']} simulations in {summary['seconds']:.0f} s ({summary['status']})"
    )
    if preset is not None:
        print(f"preset: {preset}")
    elif cfg.calibration.preset:
        print(f"preset: {run_dir / 'hillstrom.yaml'} only: calibration.preset={cfg.calibration.preset!r} is relative to a source "
              f"checkout and offerlab runs from an installed copy; give an absolute path to write the preset there too")


def preset_path(preset: str) -> Path | None:
    """Where the fit writes the market preset besides the run folder, or None for nowhere.

    An absolute ``calibration.preset`` is taken as given; a relative one (the default,
    ``configs/market/hillstrom.yaml``) is relative to the source checkout, whose configs it
    refreshes. An installed copy has no checkout: its configs are part of the installation and are
    left alone, and the preset is written only into the run folder.
    """
    if not preset:
        return None
    path = Path(preset)
    if path.is_absolute():
        return path
    checkout = source_checkout()
    return checkout / path if checkout is not None else None

"""The ``ope`` task: what would a candidate policy have earned on the decisions of a log, before it runs?

Reads a decision log (``ope.log``: a run's ``decisions.parquet``, or a shop's own log in the
schema of :mod:`policies.decision_log`), keeps the matured decisions of the logging policies
``ope.log_policies`` (all by default), builds the candidate ``ope.candidate`` by its registered
name, and estimates the candidate's mean matured reward per decision (profit over the 7-day
window: the contextual-bandit estimand) by DM, IPS, SNIPS, DR, switch-DR and DR with optimistic
shrinkage, each with a bootstrap 95% interval over shoppers (:mod:`policies.ope`), with the
effective sample size and the candidate's support in the log.

The market the log was made on is read from the run folder's ``.hydra/config.yaml`` beside the
log when there is one (its frequency cap rebuilds each decision's guardrail mask); a log without
it is taken to follow this run's ``guardrails``. Candidates: every registered policy but those
that read the market's latent state (the oracle, the reference), which a log does not hold;
learners as configured (``policies.<name>.state`` to evaluate a trained one), PPO with its
``model_path``; a rule table's .yaml file; an exported artefact's folder (``offerlab experiment=export``),
verified and loaded as the service loads it (:mod:`policies.ope.candidate` says what each kind must answer).

Writes ``ope.csv`` (one row per estimator, with the diagnostics), ``ope.png`` and ``ope.md`` (the
verdict) into the run folder, each whole or not at all.
"""

from __future__ import annotations

import platform
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from omegaconf import OmegaConf

from experiments.io import write_table, write_text
from experiments.report import save_figure
from experiments.schema import Config
from policies.base import Policy
from policies.decision_log import LogError, check_log
from policies.ope.candidate import CandidateError
from policies.ope.estimators import ESTIMATORS, MODEL_FIXED, Estimate, Logged, bootstrap, row_terms
from policies.ope.evaluate import evaluate, shopper_groups
from policies.registry import ON_MARKET, known_policies, make_policy
from policies.rules import RuleTable
from sim.config import ConfigError

FILES = ("ope.csv", "ope.md", "ope.png")
HEADLINE = "dr"
"""the estimator the verdict is read from: unbiased when either the propensities or the reward model are right"""


def read_log(path: Path) -> pd.DataFrame:
    """The log at ``path`` (.parquet or .csv), its text columns as categories (millions of rows repeat a few names)."""
    if not path.is_file():
        raise ConfigError(f"ope.log={str(path)!r}: no such file; give a run's decisions.parquet or a .parquet/.csv decision log")
    if path.suffix == ".parquet":
        return pq.read_table(path, read_dictionary=["policy", "refusal"]).to_pandas()
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"policy": "category", "refusal": "category"}, keep_default_na=False, na_values={"seed": [""], "reward": [""]})
    raise ConfigError(f"ope.log={str(path)!r}: unknown format {path.suffix!r}; allowed: .parquet, .csv")


def logged_cap(path: Path, cfg: Config) -> tuple[int, str]:
    """The frequency cap the log was made under, and where it was read: the log's run config, or this run's guardrails."""
    run_config = path.parent / ".hydra" / "config.yaml"
    if run_config.is_file():
        cap = OmegaConf.select(OmegaConf.load(run_config), "guardrails.frequency_cap_7d")
        if cap is not None:
            return int(cap), f"{run_config}"
    return cfg.guardrails.frequency_cap_7d, "this run's guardrails (no run config beside the log)"


def candidate(cfg: Config) -> tuple[Policy, str]:
    """The policy ``ope.candidate`` names, and its name in the log's ``policy`` column: a registered policy built as a run
    builds it, a rule table's .yaml file, or an exported artefact's folder loaded and verified as the service loads it
    (so the candidate is exactly what would be served). A kind a log cannot evaluate is refused by name."""
    name = cfg.ope.candidate
    path = Path(name)
    if path.is_dir():
        return exported(path, name)
    if path.suffix in (".yaml", ".yml"):
        try:
            table = RuleTable.from_yaml(path)
        except (ValueError, FileNotFoundError) as e:
            raise ConfigError(f"ope.candidate={name!r}: {e}") from None
        return table, table.name
    allowed = ", ".join(p for p in known_policies() if p not in ON_MARKET)
    allowed += "; or a rule table's .yaml file, or an exported artefact's folder (offerlab experiment=export)"
    if name in ON_MARKET:
        raise ConfigError(f"ope.candidate={name!r}: reads the market's latent state, which a decision log does not hold; allowed: {allowed}")
    if name not in known_policies():
        raise ConfigError(f"ope.candidate={name!r}: unknown; allowed: {allowed}")
    try:
        return make_policy(name, None, cfg.policies.get(name)), name
    except (ValueError, FileNotFoundError) as e:
        raise ConfigError(f"ope.candidate={name!r}: {e}") from None


def exported(folder: Path, name: str) -> tuple[Policy, str]:
    """The policy of the artefact in ``folder``, verified (checksums, layout) by the service's own loader, and the name it logs
    under. The loader runs exported PPO with ONNX Runtime, which the ``serve`` extra installs."""
    try:
        from serving.artefact import ArtefactError, load_artefact
    except ImportError as e:
        raise ConfigError(f"ope.candidate={name!r}: an exported artefact needs the serve extra ({e}); pip install 'offerlab[serve]'") from None
    try:
        artefact = load_artefact(folder)
    except ArtefactError as e:
        raise ConfigError(f"ope.candidate={name!r}: {e}") from None
    return artefact.policy, artefact.manifest["policy"]["name"]


def selected(log: pd.DataFrame, names: list[str], source: str) -> pd.DataFrame:
    """The matured rows of the logging policies ``names`` (empty: all)."""
    present = list(dict.fromkeys(log["policy"].astype(str)))
    unknown = [n for n in names if n not in present]
    if unknown:
        raise ConfigError(f"ope.log_policies: {unknown[0]!r} made no decision in {source}; the log's policies: {', '.join(present)}")
    keep = log["matured"].to_numpy(dtype=bool, copy=True)
    if names:
        keep &= log["policy"].astype(str).isin(names).to_numpy()
    return log[keep].reset_index(drop=True)


def interval_of(num: np.ndarray, codes: np.ndarray, cfg: Config) -> tuple[float, float, float]:
    """The mean of ``num`` over rows and its bootstrap interval over the same groups, seeded as the estimators' are."""
    low, high = bootstrap(num[:, None], np.ones((len(num), 1)), codes, cfg.ope.bootstrap, np.random.default_rng(run_seed(cfg)))
    return float(num.mean()), float(low[0]), float(high[0])


def run_seed(cfg: Config) -> int:
    return 0 if cfg.seed is None else cfg.seed


def ope(cfg: Config, run_dir: Path) -> Estimate:
    """Evaluate the candidate on the log and write the folder; returns the estimate."""
    path = Path(cfg.ope.log)
    if not cfg.ope.log:
        raise ConfigError("ope.log is empty: give the decision log to evaluate on (a run's decisions.parquet, or a log in its schema)")
    policy, label = candidate(cfg)
    log = read_log(path)
    try:
        check_log(log, str(path))
    except LogError as e:
        raise ConfigError(str(e)) from None
    rows = selected(log, cfg.ope.log_policies, str(path))
    codes = shopper_groups(rows)
    shoppers = int(codes.max()) + 1 if len(rows) else 0
    if shoppers < cfg.ope.folds:
        raise ConfigError(f"ope.folds={cfg.ope.folds}: the kept rows of {path} ({len(rows):,} matured decisions) hold {shoppers} shopper(s); "
                          f"cross-fitting needs at least one per fold")
    cap, cap_source = logged_cap(path, cfg)
    try:
        result, data = evaluate(policy, rows, cap, seed=run_seed(cfg), folds=cfg.ope.folds, ridge=cfg.ope.ridge, fit_rows=cfg.ope.fit_rows,
                                replicates=cfg.ope.bootstrap, min_support=cfg.ope.min_support)
    except CandidateError as e:
        raise ConfigError(f"ope.candidate={cfg.ope.candidate!r}: {e}") from None
    references = {"logged": interval_of(data.reward, codes, cfg)}
    if not result.warnings:
        dr = row_terms(data, result.tau, result.lam)[0][:, list(ESTIMATORS).index(HEADLINE)]
        references["dr_minus_logged"] = interval_of(dr - data.reward, codes, cfg)
    own = log[log["matured"].to_numpy(dtype=bool) & (log["policy"].astype(str) == label).to_numpy()]
    if len(own):
        references["candidate_logged"] = interval_of(own["reward"].to_numpy(dtype=np.float64), shopper_groups(own), cfg)
    table = result_table(result, label, references)
    write_table(table, run_dir / FILES[0])
    save_figure(figure(result, data, references, label), run_dir / FILES[2])
    write_text(verdict(result, references, conditions(cfg, path, log, rows, cap, cap_source)), run_dir / FILES[1])
    return result


def result_table(result: Estimate, name: str, references: dict[str, tuple[float, float, float]]) -> pd.DataFrame:
    """``ope.csv``: the estimators' rows, then the reference values' (``logged``: the logged decisions' own mean reward,
    ``dr_minus_logged``: the paired difference, ``candidate_logged``: the candidate's own logged decisions, if any), with the diagnostics."""
    refs = pd.DataFrame([{"estimator": k, "name": REFERENCE_NAMES[k], "value": v, "low": lo, "high": hi, "interval": "sampling"}
                         for k, (v, lo, hi) in references.items()])
    table = pd.concat([result.table, refs], ignore_index=True)
    covered = result.covered
    return table.assign(candidate=name, rows=result.rows, shoppers=result.groups, supported=result.supported, support=result.support,
                        ess=result.ess, covered_mass=covered[0], covered_mass_low=covered[1], covered_mass_high=covered[2],
                        switch_tau=result.tau, shrinkage_lambda=result.lam, level=result.level)


REFERENCE_NAMES = {"logged": "the logged decisions' own reward", "dr_minus_logged": "DR minus the logged reward (paired)",
                   "candidate_logged": "the candidate's own logged decisions"}


def conditions(cfg: Config, path: Path, log: pd.DataFrame, rows: pd.DataFrame, cap: int, cap_source: str) -> str:
    """The verdict's first paragraph: the log, the rows kept, the loggers (deterministic ones named), the candidate, the settings."""
    loggers = rows.groupby(rows["policy"].astype(str), sort=False)["propensity"]
    fixed = [p for p, prop in loggers if (prop == 1).all()]
    loggers_kept = log["policy"].astype(str).isin(cfg.ope.log_policies).to_numpy() if cfg.ope.log_policies else np.ones(len(log), bool)
    unmatured = int((~log["matured"].to_numpy(dtype=bool) & loggers_kept).sum())
    text = (f"Log `{path}`: {len(log):,} decisions, {len(rows):,} kept (matured, from "
            f"{', '.join(f'{p} ({n:,})' for p, n in loggers.size().items())}; {unmatured:,} unmatured left out), "
            f"{rows.groupby(['seed', 'shopper'], dropna=False).ngroups:,} shoppers. Candidate `{cfg.ope.candidate}`. Frequency cap "
            f"{cap} (from {cap_source}). Estimand: mean matured reward (profit over the 7-day window) per logged decision, had the "
            f"candidate decided. Reward model: ridge (penalty {cfg.ope.ridge:g}) on the 87 features x the action's constant, send "
            f"and channel, plus offer and slot, {cfg.ope.folds}-fold cross-fitted by shopper, at most {cfg.ope.fit_rows:,} rows a fit. "
            f"Intervals: {cfg.ope.bootstrap} bootstrap replicates resampling shoppers, seed {run_seed(cfg)}. "
            f"Python {platform.python_version()}, {platform.machine()}.")
    if fixed:
        text += (f"\n\nDeterministic loggers ({', '.join(fixed)}: propensity 1 on every row) show one action per context: IPS and DR "
                 f"on their rows see only what the candidate shares with them. `ope.log_policies=[random]` keeps the rows of a logger "
                 f"that tries every allowed action.")
    return text


def _ci(v: tuple[float, float, float] | pd.Series, fmt: str = ",.3f") -> str:
    value, low, high = (v["value"], v["low"], v["high"]) if isinstance(v, pd.Series) else v
    return f"{value:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


def verdict(result: Estimate, references: dict[str, tuple[float, float, float]], header: str) -> str:
    """``ope.md``: conditions, the estimates, the diagnostics, and what they support."""
    lines = ["# Off-policy evaluation", "", header, ""]
    if result.warnings:
        lines += ["## Verdict", "", *[f"**Warning: {w}.**" for w in result.warnings], "",
                  f"The logged decisions earned {_ci(references['logged'])} per decision.", ""]
        return "\n".join(lines) + "\n"
    table = result.table.set_index("estimator")
    lines += ["| estimator | value per decision [95% interval] | interval |", "|---|---:|---|"]
    lines += [f"| {r['name']} | {_ci(r)} | {r['interval']} |" for _, r in table.iterrows()]
    lines += [f"| *{REFERENCE_NAMES[k]}* | {_ci(v)} | sampling |" for k, v in references.items()]
    covered = result.covered
    lines += ["", "## Diagnostics", "",
              f"- rows {result.rows:,} in {result.groups:,} shoppers; the candidate could have made {result.supported:,} of the logged "
              f"decisions ({result.support:.1%}: its support)",
              f"- effective sample size {result.ess:,.0f} rows ({result.ess / result.rows:.2%} of the rows)",
              f"- mean weight {_ci(covered, '.3f')}: the candidate's probability mass on actions the loggers could take (1 = all of it)",
              f"- switch-DR threshold {result.tau:.4g}, DRos shrinkage {result.lam:.4g} (by the estimated MSE)",
              "", "## Verdict", ""]
    lines += [f"- {v}" for v in readings(result, references)]
    lines += ["", f"![estimates and weights]({FILES[2]})", "", f"Numbers: `{FILES[0]}`."]
    return "\n".join(lines) + "\n"


def readings(result: Estimate, references: dict[str, tuple[float, float, float]]) -> list[str]:
    """What the numbers support, each claim only where its interval does."""
    table = result.table.set_index("estimator")
    dr, ips = table.loc[HEADLINE], table.loc["ips"]
    out = [f"DR puts the candidate's mean matured reward at {_ci(dr)} per decision; IPS at {_ci(ips)}."]
    diff = references["dr_minus_logged"]
    out.append(f"Against the logged decisions ({_ci(references['logged'])}): "
               + ("better" if diff[1] > 0 else "worse" if diff[2] < 0 else "no difference shown")
               + f" (DR minus logged, paired over shoppers: {_ci(diff, '+,.3f')}).")
    deficient = result.covered[2] < 1
    if deficient:
        out.append(f"Deficient support: the mean weight's interval lies below 1, so about {1 - result.covered[0]:.0%} of the candidate's "
                   f"probability goes to actions no logger took in these contexts. IPS counts it as earning nothing; DR and DM take it "
                   f"from the reward model, unchecked by data. Evaluate on the rows of a logger that explores those actions.")
    if result.ess < max(100.0, 0.01 * result.rows):
        out.append(f"Few effective rows ({result.ess:,.0f}): the weighted estimators rest on a handful of decisions; their intervals "
                   f"are wide, and a percentile bootstrap of heavy weights covers less than stated.")
    if not (ips["low"] <= dr["high"] and dr["low"] <= ips["high"]):
        out.append("IPS and DR disagree (their intervals do not overlap): " + ("as the deficient support makes them." if deficient
                   else "the reward model or the logged propensities are off."))
    out.append(f"The intervals of {', '.join(ESTIMATORS[k] for k in MODEL_FIXED)} hold the reward model fixed: they leave its error "
               f"out and are narrower than their errors (docs/ope.md); read them as checks of DR, not as claims.")
    if "candidate_logged" in references:
        out.append(f"The candidate's own logged decisions earned {_ci(references['candidate_logged'])}: on the shoppers as the candidate "
                   f"left them, not those of this log, so it is a check of the order of magnitude, not of the estimate.")
    return out


def figure(result: Estimate, data: Logged, references: dict[str, tuple[float, float, float]], name: str) -> plt.Figure:
    """Left: every estimate with its interval, the logged reward as a line. Right: the importance weights (log scale)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    table = result.table
    y = np.arange(len(table))[::-1]
    if not result.warnings:
        err = np.vstack([table["value"] - table["low"], table["high"] - table["value"]])
        colours = ["#999999" if k in MODEL_FIXED else "#1f77b4" for k in table["estimator"]]
        for yi, (_, r), c, e in zip(y, table.iterrows(), colours, err.T):
            left.errorbar(r["value"], yi, xerr=e[:, None], fmt="o", color=c, capsize=3)
    else:
        left.text(0.5, 0.5, "no support:\nno estimate", transform=left.transAxes, ha="center", va="center", color="#b22222")
    left.axvline(references["logged"][0], color="black", lw=0.8, ls="--", label="logged decisions")
    if "candidate_logged" in references:
        left.axvline(references["candidate_logged"][0], color="#2ca02c", lw=0.8, ls=":", label=f"{name}'s own logged decisions")
    left.set_yticks(y, table["name"])
    left.set(xlabel="mean matured reward per decision (95% interval; grey: model held fixed)", title=f"Value of {name}, off-policy")
    left.legend(fontsize=8, loc="best")
    positive = data.weight[data.weight > 0]
    if positive.size:
        right.hist(positive, bins=np.geomspace(positive.min(), positive.max() * 1.0001, 40), color="#1f77b4")
        right.set_xscale("log")
        right.set_yscale("log")  # the few large weights that move IPS would not show beside the many small ones
    right.set(xlabel="importance weight w = pi_e / pi_b (w > 0)", ylabel="rows (log scale)",
              title=f"support {result.support:.1%}, ESS {result.ess:,.0f} of {result.rows:,}")
    return fig


def run_task(cfg: Config, run_dir: Path) -> None:
    """``task=ope``: evaluate, write the folder, print the headline."""
    result = ope(cfg, run_dir)
    if result.warnings:
        print("\n".join(f"warning: {w}" for w in result.warnings))
    else:
        print(result.table[["name", "value", "low", "high"]].to_string(index=False, float_format=lambda v: f"{v:,.4f}"))
        print(f"support {result.support:.1%}, ESS {result.ess:,.0f} of {result.rows:,} rows")
    print(f"\nverdict: {run_dir / FILES[1]}")

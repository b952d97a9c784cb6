"""Structured configs behind the YAML in ``configs/``, registered in Hydra's ConfigStore.

Hydra checks key names and types against these dataclasses while composing; :func:`to_config`
then checks ranges (:func:`sim.config.validate`), so every bad setting fails before any work with
a message naming the key, the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, fields
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from policies.registry import LEARNERS, OPTIONAL, TRAINED, check_params, hyperparameters, known_policies, make_policy
from sim.config import ConfigError, GuardrailConfig, MarketConfig, PopulationConfig, bounded, validate
from sim.resources import config_dir

POLICY_DIR = config_dir() / "policy"

@dataclass
class ExperimentConfig:
    """Which policies meet which seeds; presets in ``configs/experiment/``."""

    name: str = "compare"
    policies: list[str] = field(
        default_factory=lambda: ["no_contact", "random", "blast", "rules_rfm", "rules_affinity", "rules_winback", "rules_calendar", "oracle"]
    )
    """policy names (see policies/registry.py); the no_contact twin is always added"""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    """market seeds; every policy runs on each (common random numbers)"""
    log_shoppers: int = bounded(500, ge=-1)
    """shoppers per run whose every decision goes to decisions.parquet (-1 = all, 0 = no log)"""
    jobs: int = bounded(2, ge=1, le=64)
    """runs in parallel processes; results do not depend on it"""
    save_policies: bool = False
    """write each learner's final state to ``<run>/policies/<name>_seed<k>.npz`` (what ``experiment=export`` takes)"""
    sizes: list[int] = field(default_factory=lambda: [1_000, 2_000, 5_000, 10_000, 20_000, 50_000])
    """shoppers at the start of each market of ``task=shop_size`` (the experiment's market resized, all else kept);
    distinct whole numbers within the market's ``population.size`` range"""


@dataclass
class CalibrationConfig:
    """The Hillstrom replay and fit (``experiments/calibration/replay.py``, ``experiments/calibration/fit.py``)."""

    window_days: int = bounded(14, ge=1, le=365)
    """days of outcomes after the e-mail (the real test's two weeks)"""
    split_seed: int = bounded(2008, ge=0)
    """seed of the random split of the real customers into the fit half and the held-out half"""
    fit_seed: int = bounded(100, ge=0)
    """market seed of every simulation of the fit (common random numbers)"""
    fit_replicas: int = bounded(3, ge=1, le=20)
    """times each fit-half customer is simulated per evaluation (less simulation noise, slower)"""
    diff_step: float = bounded(0.2, gt=0.0, le=1.0)
    """step of the optimiser's forward differences, in the parameters' units (logits)"""
    max_steps: int = bounded(20, ge=1, le=1000)
    """most trust-region steps of the fit (a step is one simulation, a new Jacobian one per fitted parameter)"""
    preset: str = "configs/market/hillstrom.yaml"
    """where the fit writes the fitted market preset besides the run folder: absolute, or relative to the source checkout
    (empty, or relative when offerlab is installed rather than checked out = only into the run folder)"""


@dataclass
class OpeConfig:
    """Off-policy evaluation of a candidate on a decision log (``experiments/ope.py``, ``offerlab experiment=ope``)."""

    log: str = ""
    """the decision log: a run's ``decisions.parquet``, or a .parquet or .csv with the columns of policies/decision_log.py"""
    candidate: str = "rules_rfm"
    """the policy to evaluate: a registered name (its hyperparameters, a learner's ``state``, PPO's ``model_path``: ``policies.<name>``),
    a rule table's .yaml file, or an exported artefact's folder"""
    log_policies: list[str] = field(default_factory=list)
    """evaluate on the rows these logging policies made (empty = every row); e.g. [random], the one that explores everything"""
    folds: int = bounded(5, ge=2, le=20)
    """K of the reward model's cross-fitting"""
    ridge: float = bounded(1.0, gt=0.0)
    """the reward model's ridge penalty (on standardised features)"""
    fit_rows: int = bounded(50_000, ge=100)
    """most rows each fold's reward model is fitted on (drawn at random from its training folds); every row is predicted"""
    bootstrap: int = bounded(500, ge=50, le=10_000)
    """bootstrap replicates of the intervals (shoppers resampled whole)"""
    min_support: int = bounded(30, ge=1)
    """fewest logged decisions the candidate could have made for an estimate to be given (else a warning, no number)"""


HILLSTROM_FEATURES = ["recency", "history", "mens", "womens", "zip_code", "newbie", "channel"]
"""the Hillstrom customers' observable columns (sim/customers.py): what was known of them before the e-mail"""


@dataclass
class UpliftEvalConfig:
    """An uplift model fitted on one randomised log, judged on another (``experiments/uplift_eval.py``, ``offerlab experiment=uplift_eval``)."""

    log: str = "hillstrom"
    """the log to judge on: ``hillstrom`` (the shipped test, with a ``half`` column), or a .parquet/.csv randomised log"""
    eval_where: list[str] = field(default_factory=lambda: ["half=holdout"])
    """``column=value`` conditions the judged rows meet (empty = every row)"""
    train: str = ""
    """the log to fit on, as ``log`` (empty = ``log`` itself)"""
    train_where: list[str] = field(default_factory=lambda: ["half=fit"])
    """``column=value`` conditions the training rows meet (empty = every row); keep them apart from the judged rows"""
    treatment: str = "segment"
    """the column of assigned arms"""
    control: str = "No E-Mail"
    """the control's label in the treatment column (compared as text)"""
    arms: list[str] = field(default_factory=list)
    """the treatments' labels, in order (empty = every other label, sorted)"""
    outcome: str = "visit"
    """the outcome column: 0/1 or an amount"""
    features: list[str] = field(default_factory=lambda: list(HILLSTROM_FEATURES))
    """columns known before the assignment; text columns are one-hot encoded"""
    model: str = "t"
    """the learner of uplift/models.py: t (T-learner) or x (X-learner)"""
    k: float = bounded(0.1, gt=0.0, le=1.0)
    """the share of customers uplift@k targets"""
    bootstrap: int = bounded(1000, ge=50, le=10_000)
    """bootstrap resamples of the intervals"""


@dataclass
class ExportConfig:
    """A trained policy into an artefact folder (``serving/export.py``, ``offerlab experiment=export``)."""

    source: str = ""
    """the trained policy: a bandit .npz (``experiment.save_policies=true``), a MaskablePPO .zip, or a rule table (.yaml or a name)"""
    policy: str = ""
    """its name in the manifest and the decision log (empty = the learner's name, ``ppo`` or ``rules_<table>``)"""
    out: str = ""
    """the artefact folder, new or empty (empty = ``<run>/artefact``)"""
    parity_samples: int = bounded(10_000, ge=100, le=1_000_000)
    """observations on which the exported policy must match the live one"""
    deterministic: bool = True
    """a PPO model: the served policy acts on its most probable action, as ``policies.ppo.deterministic`` (default true)
    makes a comparison's PPO act; false: it draws from its distribution"""


@dataclass
class ServeConfig:
    """An artefact behind HTTP (``serving/api.py``, ``offerlab experiment=serve``)."""

    artefact: str = ""
    """the artefact folder written by ``experiment=export``"""
    host: str = "127.0.0.1"
    """address to listen on; anything but loopback requires an API key"""
    port: int = bounded(8000, ge=1, le=65535)
    api_key: str = ""
    """key clients send in the X-API-Key header (empty = the OFFERLAB_API_KEY environment variable, else none); prefer the
    variable: a key given here is copied into the run folder's .hydra/config.yaml"""
    max_body_bytes: int = bounded(4 * 1024 * 1024, ge=1024, le=1024**3)
    """larger request bodies are refused with 413"""
    decision_log: str = ""
    """CSV every decision is appended to (empty = ``<run>/decisions.csv``)"""


@dataclass
class Config:
    """The root of every run's config (``configs/config.yaml``)."""

    task: str = "compare"
    """a key of experiments.tasks.TASKS: compare = policies x seeds with a report; simulate = one market, no contact"""
    seed: Optional[int] = bounded(None, ge=0, le=2**31 - 1)
    """the trial's market seed, from which all random streams derive: the task runs on it alone instead of
    ``experiment.seeds`` (null = those; task=simulate: 0). ``offerlab -m seed=1,2,3`` makes one trial per seed"""
    market: MarketConfig = field(default_factory=MarketConfig)
    guardrails: GuardrailConfig = field(default_factory=GuardrailConfig)
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    policies: dict[str, Any] = field(default_factory=dict)
    """learners' hyperparameters by policy name, from configs/policy/<name>.yaml (``policies.linucb.alpha=2``)"""
    ope: OpeConfig = field(default_factory=OpeConfig)
    uplift_eval: UpliftEvalConfig = field(default_factory=UpliftEvalConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)


TRIAL_TASKS = ("compare",)
"""tasks that run one policy per trial when ``policy=<name>`` is given"""


def register() -> None:
    """Put the schemas where the YAML files' defaults lists find them, and make every policy a choice of ``policy=``.

    A learner's ``configs/policy/<name>.yaml`` is already a choice (its ``# @package policies.<name>``
    header puts it where its hyperparameters live); it composes on ``policy_defaults/<name>``, the
    defaults its code holds (:func:`policies.registry.hyperparameters`), so the YAML holds none. Every
    other policy (baselines, ``rules_<table>``) gets an empty choice here, so ``offerlab policy=rules_rfm``
    composes, ``--help`` and tab completion list it, and an unknown name is refused by Hydra with the
    list of choices.
    """
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    cs.store(group="market", name="market_schema", node=MarketConfig)
    cs.store(group="guardrails", name="guardrails_schema", node=GuardrailConfig)
    with_yaml = {p.stem for p in POLICY_DIR.glob("*.yaml")}
    for name in sorted(with_yaml):
        cs.store(group="policy_defaults", name=name, node=hyperparameters(name))
    for name in known_policies():
        if name not in with_yaml:
            cs.store(group="policy", name=name, node={}, package="_global_")  # sets nothing: the choice is the point


def to_config(cfg: DictConfig, policy: str | None = None) -> Config:
    """The composed config as typed dataclasses, with every range checked.

    ``policy`` is the choice of the ``policy`` group (``offerlab policy=linucb``; the CLI reads it from
    Hydra's runtime choices): the trial runs that policy, and its no-contact twin, instead of
    ``experiment.policies``. ``seed``, when set, replaces ``experiment.seeds`` the same way.
    """
    obj = OmegaConf.to_object(cfg)
    assert isinstance(obj, Config)
    validate(obj)
    known = known_policies()
    if policy is not None:
        if obj.task not in TRIAL_TASKS:
            raise ConfigError(f"policy={policy}: picks the policy of a trial of task={'/'.join(TRIAL_TASKS)}; task={obj.task} runs none")
        if policy not in known:
            raise ConfigError(f"policy={policy}: unknown; allowed: {', '.join(known)}")
        obj.experiment.policies = [policy]
    if obj.seed is not None:
        obj.experiment.seeds = [obj.seed]
    checked = set()
    for name, params in obj.policies.items():
        if name in OPTIONAL and not OPTIONAL[name]:
            continue  # hyperparameters of a learner whose extra is not installed: unused
        if name not in LEARNERS and name not in TRAINED:
            raise ConfigError(f"policies.{name}: not a policy with hyperparameters; these have some: {', '.join([*LEARNERS, *TRAINED])}")
        try:  # a trained policy evaluated here must not have been trained on the experiment's seeds
            check_params(name, params, obj.experiment.seeds if name in obj.experiment.policies and obj.experiment.seeds else None)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        checked.add(name)
    if not obj.experiment.seeds or any(s < 0 for s in obj.experiment.seeds) or len(set(obj.experiment.seeds)) != len(obj.experiment.seeds):
        raise ConfigError(f"experiment.seeds={obj.experiment.seeds}: must be distinct integers >= 0, at least one")
    check_sizes(obj.experiment.sizes)
    check_policies(obj.experiment.policies, obj.policies, built=checked)
    return obj


def check_sizes(sizes: list[int]) -> None:
    """Refuse ``experiment.sizes`` unless they are distinct whole numbers of shoppers the market accepts.

    The range is ``market.population.size``'s own (:class:`sim.config.PopulationConfig`): a size the
    market would refuse is refused here, before the first run, rather than when its market is built.
    """
    bounds = next(f.metadata for f in fields(PopulationConfig) if f.name == "size")
    low, high = bounds["ge"], bounds["le"]
    whole = all(isinstance(s, int) and not isinstance(s, bool) for s in sizes)
    if not sizes or not whole or any(not low <= s <= high for s in sizes) or len(set(sizes)) != len(sizes):
        raise ConfigError(f"experiment.sizes={sizes!r}: must be distinct whole numbers of shoppers in [{low}, {high}], at least one")


def check_policies(names: list[str], params: dict[str, Any], built: Collection[str] = ()) -> None:
    """Build every policy of ``names`` once, without a market, so that a bad one fails before the first run.

    A run builds its policy inside a worker process, after other runs have finished: a rule table
    naming an unknown field would otherwise fail minutes into an experiment. Building parses and
    checks each rule table and each learner's hyperparameters; a trained policy (PPO) is not
    built, its hyperparameters are checked by :func:`to_config`. A policy behind an optional extra
    that is not installed is named with the extra to install. Names in ``built`` were built already
    (:func:`to_config` builds every learner with hyperparameters) and are not built again.
    """
    known = known_policies()
    for name in names:
        if name in OPTIONAL and not OPTIONAL[name]:
            raise ConfigError(f"experiment.policies: {name!r} needs the optional extra {name}, which is not installed: "
                              f"pip install 'offerlab[{name}]'")
        if name not in known:
            raise ConfigError(f"experiment.policies: {name!r} is unknown; allowed: {', '.join(known)}")
        if name in TRAINED or name in built:
            continue
        try:
            make_policy(name, None, params.get(name))
        except (ValueError, FileNotFoundError) as e:
            raise ConfigError(f"experiment.policies: {name}: {e}") from None

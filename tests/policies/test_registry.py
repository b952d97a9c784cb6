"""The policy registry: names without imports, a class on first use, the same errors as before."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from experiments import cli
from policies import registry

ROOT = Path(__file__).resolve().parents[2]
POLICY_DIR = Path(cli.CONFIG_DIR) / "policy"
HEAVY = ("torch", "stable_baselines3", "sb3_contrib", "numba", "bandits", "vowpalwabbit")
"""what importing the registry must not load: the training stack, the bandits' compiled kernels, the bandits themselves"""


def loaded_after(code: str) -> list[str]:
    """The modules of ``HEAVY`` (and their submodules) that a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))"
    res = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_importing_the_registry_loads_no_policy_module():
    assert loaded_after("import policies.registry; policies.registry.known_policies()") == []


def test_a_learner_is_imported_when_first_used():
    loaded = loaded_after("from policies.registry import learner_class; learner_class('linucb_additive')")
    assert "bandits" in loaded and "torch" not in loaded


def test_learner_class_names_the_class_of_each_learner():
    from bandits.linucb import LinUCB

    assert registry.learner_class("linucb_additive") is LinUCB
    assert all(isinstance(registry.learner_class(name), type) for name in registry.LEARNERS)
    with pytest.raises(ValueError, match=r"learner 'rules_rfm': unknown; allowed: epsilon_greedy, linucb_additive"):
        registry.learner_class("rules_rfm")


def test_every_name_in_the_tables_resolves_to_a_class():
    for table in (registry.BASELINES, registry.LEARNERS, registry.TRAINED):
        for name in table:
            assert isinstance(table[name], type), name


def test_bad_names_and_hyperparameters_fail_naming_them():
    with pytest.raises(ValueError, match=r"policy 'nope': unknown; allowed: no_contact, random, blast, oracle, reference, epsilon_greedy"):
        registry.make_policy("nope", None)
    with pytest.raises(ValueError, match=r"policies\.linucb\.alpha=-1: must be >= 0"):
        registry.make_policy("linucb", None, {"alpha": -1})
    with pytest.raises(ValueError, match=r"policies\.linucb: .*unexpected keyword argument 'alfa'"):
        registry.make_policy("linucb", None, {"alfa": 1.0})


@pytest.mark.parametrize("name", sorted(p.stem for p in POLICY_DIR.glob("*.yaml")))
def test_each_policy_config_composes_on_its_codes_defaults_and_copies_none(name):
    """The CLI runs the code's defaults (what ``make_policy(name, market)`` and the benchmarks get), with the values
    ``configs/policy/<name>.yaml`` sets on top; a value set there equal to its default would be a second copy."""
    own = {k: v for k, v in yaml.safe_load((POLICY_DIR / f"{name}.yaml").read_text()).items() if k != "defaults"}
    defaults = registry.hyperparameters(name)
    assert own.keys() <= defaults.keys() and all(own[k] != defaults[k] for k in own)
    with initialize_config_dir(config_dir=cli.CONFIG_DIR, version_base="1.3"):
        composed = OmegaConf.to_container(compose(config_name="config").policies[name])
    assert composed == {**defaults, **own}


@pytest.mark.parametrize("name", list(registry.LEARNERS))
def test_a_learners_defaults_are_those_it_is_built_with(name):
    learner = registry.make_policy(name, None)
    defaults = {k: v for k, v in registry.hyperparameters(name).items() if k != "state"}
    built = learner.params() if hasattr(learner, "params") else {k: getattr(learner, k) for k in defaults}
    assert built == defaults


def test_a_trained_policys_defaults_are_its_config_dataclass():
    from policies.ppo.config import PPOConfig

    assert registry.hyperparameters("ppo") == dataclasses.asdict(PPOConfig())
    with pytest.raises(ValueError, match=r"policy 'oracle': has no hyperparameters; these have some: epsilon_greedy"):
        registry.hyperparameters("oracle")

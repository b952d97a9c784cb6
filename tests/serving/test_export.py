"""Exported artefacts: parity with the live policy, the manifest, and refusal of damaged artefacts."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from experiments import cli
from experiments.runner import run_policy
from policies.base import DecisionContext
from serving import export
from serving.artefact import CHECKSUMS, FORMAT_VERSION, MANIFEST, ArtefactError, load_artefact, write_checksums
from serving.export import export_policy
from serving.runtime import exportable_bandits
from sim.catalogue import ACTION_NAMES, N_CHANNELS
from sim.config import GuardrailConfig, MarketConfig, PopulationConfig
from sim.features import FEATURE_HIGH, FEATURE_LOW, FEATURE_NAMES, N_FEATURES
from sim.guardrails import ActionMask
from tests.conftest import small_config
from tests.serving.trained import market_observations, trained

GUARD = GuardrailConfig()


@pytest.fixture(scope="module")
def linucb_artefact(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("linucb_additive")
    trained("linucb_additive").save(folder / "linucb_additive.npz")
    export_policy(folder / "linucb_additive.npz", folder / "artefact", GUARD, parity_samples=1000)
    return folder / "artefact"


EXPORTABLE = sorted(name for name, _ in exportable_bandits())


def test_the_exportable_learners_are_the_registrys_linear_bandits():
    assert EXPORTABLE == ["bootstrap", "epsilon_greedy", "linucb", "linucb_additive", "thompson", "thompson_additive"]


@pytest.mark.parametrize("name", EXPORTABLE)
def test_exported_bandit_makes_the_live_objects_choices(name, tmp_path):
    live = trained(name)
    live.save(tmp_path / f"{name}.npz")
    manifest = export_policy(tmp_path / f"{name}.npz", tmp_path / "artefact", GUARD, parity_samples=1000)
    served = load_artefact(tmp_path / "artefact").policy
    assert manifest["metrics"]["parity"] == {"observations": 1000, "same_choices": True}
    sends = 0
    for day, (obs, mask, weekday) in enumerate(market_observations(400, 5, seed=1)):
        a = live.act(obs, mask, DecisionContext(day, weekday, np.random.default_rng(day), np.arange(len(obs))))
        b = served.act(obs, mask, DecisionContext(day, weekday, np.random.default_rng(day), np.arange(len(obs))))
        np.testing.assert_array_equal(a.actions, b.actions)
        np.testing.assert_array_equal(a.propensity, b.propensity)
        assert mask.allows(b.actions).all()
        sends += int((b.actions > 0).sum())
    assert sends > 0  # the comparison covers sends, not only "no contact"


@pytest.fixture(scope="module")
def ppo_model(tmp_path_factory):
    """(its market's vectorised env, a MaskablePPO model trained a little on it, the model's .zip)."""
    from sb3_contrib import MaskablePPO

    from sim.vec_env import MarketVecEnv

    env = MarketVecEnv(MarketConfig(population=PopulationConfig(size=100), horizon_days=5), GUARD, seed=0)
    model = MaskablePPO("MlpPolicy", env, n_steps=4, batch_size=101, n_epochs=2, seed=0, device="cpu", policy_kwargs={"net_arch": [32, 32]})
    model.learn(400)
    path = tmp_path_factory.mktemp("ppo") / "ppo.zip"
    model.save(path)
    return env, model, path


def test_exported_ppo_gives_torchs_probabilities_on_10000_observations(ppo_model, tmp_path):
    from policies.ppo.inference import PPOPolicy
    from serving import ppo_onnx

    env, model, source = ppo_model
    manifest = export_policy(source, tmp_path / "artefact", GUARD)
    assert manifest["metrics"]["parity"]["max_abs_probability_diff"] <= 1e-5
    assert manifest["metrics"]["model"]["num_timesteps"] >= 400
    served = load_artefact(tmp_path / "artefact").policy

    # 10,000 observations the policy meets in its own market, under the day's guardrails with random channels closed too
    obs, masks = [], []
    env.seed(7)
    x = env.reset()
    rng = np.random.default_rng(0)
    while sum(len(o) for o in obs) < 10_000:
        obs.append(x.copy())
        masks.append(env.market.action_mask().channel_ok & (rng.random((len(x), N_CHANNELS)) < 0.7))
        actions, _ = model.predict(x, action_masks=ActionMask(masks[-1]).dense())
        x, _, _, _ = env.step(actions)
    obs, mask = np.concatenate(obs)[:10_000], ActionMask(np.concatenate(masks)[:10_000])
    torch_probs = ppo_onnx.probabilities(model, obs, mask.dense())
    onnx_probs = served.probabilities(obs, mask)
    assert np.abs(torch_probs - onnx_probs).max() <= 1e-5
    assert (onnx_probs[~mask.dense()] == 0).all()
    context = DecisionContext(0, 0, np.random.default_rng(1), np.arange(len(obs)))
    decision = served.act(obs, mask, context)  # the most probable action, as a comparison's PPO acts by default
    live = PPOPolicy.from_file(source, deterministic=True).act(obs, mask, context)
    np.testing.assert_array_equal(decision.actions, live.actions)
    assert mask.allows(decision.actions).all() and (decision.propensity == 1).all()

    export_policy(source, tmp_path / "drawing", GUARD, parity_samples=100, deterministic=False)
    drawing = load_artefact(tmp_path / "drawing").policy
    decision = drawing.act(obs, mask, DecisionContext(0, 0, np.random.default_rng(1), np.arange(len(obs))))
    assert mask.allows(decision.actions).all() and (decision.actions != live.actions).any()
    np.testing.assert_allclose(decision.propensity, onnx_probs[np.arange(len(obs)), decision.actions])


def test_manifest_describes_features_actions_catalogue_and_guardrails(linucb_artefact):
    manifest = json.loads((linucb_artefact / MANIFEST).read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert [f["name"] for f in manifest["features"]] == list(FEATURE_NAMES) and len(manifest["features"]) == N_FEATURES
    assert manifest["actions"] == list(ACTION_NAMES)
    assert {"offers", "channels", "slots", "categories"} <= set(manifest["catalogue"])
    assert manifest["guardrails"] == {"frequency_cap_7d": 3, "daily_budget": 0.0}
    assert manifest["policy"]["kind"] == "bandit" and manifest["policy"]["class"] == "LinUCB"
    assert manifest["model_version"].startswith("linucb_additive-")
    listed = {line.split("  ")[1] for line in (linucb_artefact / CHECKSUMS).read_text().splitlines()}
    assert listed == {MANIFEST, "model.npz"}


def test_runner_saves_learners_and_a_rule_table_exports_too(tmp_path):
    run_policy("linucb_additive", 0, small_config(size=200, horizon=9), GUARD, save_dir=tmp_path / "policies")
    run_policy("rules_rfm", 0, small_config(size=200, horizon=2), GUARD, save_dir=tmp_path / "policies")
    assert [p.name for p in (tmp_path / "policies").iterdir()] == ["linucb_additive_seed0.npz"]  # rules have nothing trained to save
    assert export_policy(tmp_path / "policies" / "linucb_additive_seed0.npz", tmp_path / "a", GUARD, parity_samples=100)["policy"]["name"] == "linucb_additive"
    manifest = export_policy("rfm", tmp_path / "rules", GUARD, parity_samples=100)
    assert manifest["policy"] == {"kind": "rules", "name": "rules_rfm", "table": "rfm", "file": "rules.yaml"}
    assert load_artefact(tmp_path / "rules").policy.name == "rules_rfm"


def offerlab(run_dir: Path, *overrides: str) -> None:
    """The command's work in this process (the presets, the checks, the task), with the config copy Hydra keeps."""
    with initialize_config_dir(config_dir=cli.CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    cli.run(cfg, run_dir)


def test_export_preset_takes_a_saved_learner_with_its_run_metrics(tmp_path):
    run = tmp_path / "run"
    offerlab(run, "experiment=smoke", "experiment.policies=[linucb_additive]", "experiment.seeds=[0]", "experiment.save_policies=true",
             "experiment.log_shoppers=0", "market.population.size=200", "market.horizon_days=9")
    offerlab(tmp_path / "export", "experiment=export", f"export.source={run / 'policies' / 'linucb_additive_seed0.npz'}", "export.parity_samples=500")
    manifest = load_artefact(tmp_path / "export" / "artefact").manifest
    assert manifest["training"]["run"] == str(run) and len(manifest["training"]["config_sha256"]) == 64
    assert "incremental_profit" in manifest["metrics"]["run"]


def _rewrite_manifest(folder: Path, change) -> None:
    manifest = json.loads((folder / MANIFEST).read_text())
    change(manifest)
    (folder / MANIFEST).write_text(json.dumps(manifest))
    (folder / CHECKSUMS).unlink()
    write_checksums(folder)  # a consistent artefact of the wrong kind, not merely a damaged one


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE = {
    "tampered model": (lambda f: _flip_byte(f / "model.npz"), "model.npz: SHA-256"),
    "truncated model": (lambda f: (f / "model.npz").write_bytes((f / "model.npz").read_bytes()[:1000]), "model.npz: SHA-256"),
    "truncated manifest": (lambda f: (f / MANIFEST).write_bytes((f / MANIFEST).read_bytes()[:500]), "manifest.json: SHA-256"),
    "truncated checksums": (lambda f: (f / CHECKSUMS).write_text((f / CHECKSUMS).read_text()[:90]), "checksums.sha256: line 2"),
    "missing checksums": (lambda f: (f / CHECKSUMS).unlink(), "checksums.sha256: missing"),
    "missing model": (lambda f: (f / "model.npz").unlink(), "model.npz: listed in checksums.sha256 but missing"),
    "added file": (lambda f: (f / "extra.bin").write_bytes(b"x"), "extra.bin: not covered by checksums.sha256"),
    "wrong version": (lambda f: _rewrite_manifest(f, lambda m: m.update(format_version=FORMAT_VERSION + 1)),
                      f"format_version {FORMAT_VERSION + 1}; this offerlab reads version {FORMAT_VERSION}"),
    "other feature layout": (lambda f: _rewrite_manifest(f, lambda m: m["features"].reverse()), "features differ from this offerlab's at position 0"),
    "other action names": (lambda f: _rewrite_manifest(f, lambda m: m["actions"].__setitem__(2, "50% socks / email / midday")),
                           "actions differ from this offerlab's at position 2 ('50% socks / email / midday' vs 'info / email / midday')"),
    "fewer actions": (lambda f: _rewrite_manifest(f, lambda m: m["actions"].pop()), f"actions differ from this offerlab's at position {len(ACTION_NAMES) - 1} "),
    "more actions": (lambda f: _rewrite_manifest(f, lambda m: m["actions"].append("sms / later")), f"actions differ from this offerlab's at position {len(ACTION_NAMES)} "),
}


def _refused(case: tuple, artefact: Path, tmp_path: Path) -> tuple[Path, ArtefactError]:
    """A copy of ``artefact`` changed by ``case`` (change, expected message), and the error loading it raised."""
    folder = tmp_path / "artefact"
    shutil.copytree(artefact, folder)
    change, message = case
    change(folder)
    with pytest.raises(ArtefactError, match=re.escape(message)) as refused:
        load_artefact(folder)
    return folder, refused.value


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_or_foreign_artefact_fails_with_a_clear_error(damage, linucb_artefact, tmp_path):
    _refused(DAMAGE[damage], linucb_artefact, tmp_path)


def test_export_refuses_to_overwrite_and_reports_bad_sources(linucb_artefact, tmp_path):
    with pytest.raises(ArtefactError, match="exists and is not an empty folder"):
        export_policy(linucb_artefact.parent / "linucb_additive.npz", linucb_artefact, GUARD)
    with pytest.raises(ArtefactError, match="not a readable bandit state"):
        (tmp_path / "junk.npz").write_bytes(b"not a zip")
        export_policy(tmp_path / "junk.npz", tmp_path / "out", GUARD)
    with pytest.raises(ArtefactError, match="use letters, digits"):
        export_policy(linucb_artefact.parent / "linucb_additive.npz", tmp_path / "out", GUARD, name="a,b")
    for none in (0, -5, 2.5):  # a parity check on no observation would let any runtime through
        with pytest.raises(ArtefactError, match=rf"parity_samples={none}: must be a positive integer"):
            export_policy(linucb_artefact.parent / "linucb_additive.npz", tmp_path / "out", GUARD, parity_samples=none)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


def test_export_refuses_a_bandit_whose_runtime_chooses_differently_and_leaves_no_folder(linucb_artefact, tmp_path, monkeypatch):
    """The parity gate: a runtime whose model differs from the live one by one observation (as a state saved a day
    later would) is refused, naming the disagreement, and nothing is left beside ``out``."""
    real = export.load_runtime

    def drifted(path, spec):
        runtime = real(path, spec)
        runtime.model.update(np.ones((1, runtime.model.d)), np.array([1.0]))
        return runtime

    monkeypatch.setattr(export, "load_runtime", drifted)
    with pytest.raises(ArtefactError, match=r"exported linucb_additive chooses differently from the live policy on [1-9]\d* of 1000 observations"):
        export_policy(linucb_artefact.parent / "linucb_additive.npz", tmp_path / "artefact", GUARD, parity_samples=1000)
    assert list(tmp_path.iterdir()) == []  # no artefact folder, no temporary folder


def test_export_refuses_an_onnx_graph_whose_probabilities_differ_and_leaves_no_folder(ppo_model, tmp_path, monkeypatch):
    """The ONNX graph is written from a network whose logit of one action is 0.1 higher than the live model's."""
    import torch

    from serving import ppo_onnx

    real = ppo_onnx.export

    def perturbed(model, dest):
        bias = model.policy.action_net.bias
        saved = bias.detach().clone()
        with torch.no_grad():
            bias[1] += 0.1
        try:
            real(model, dest)
        finally:
            with torch.no_grad():
                bias.copy_(saved)

    monkeypatch.setattr(ppo_onnx, "export", perturbed)
    with pytest.raises(ArtefactError, match=r"policy\.onnx: ONNX probabilities differ from torch's by up to [0-9.e-]+ \(> 1e-05\)"):
        export_policy(ppo_model[2], tmp_path / "artefact", GUARD, parity_samples=1000)
    assert list(tmp_path.iterdir()) == []


def _drop_from_checksums(folder: Path, name: str) -> None:
    lines = (folder / CHECKSUMS).read_text().splitlines(keepends=True)
    (folder / CHECKSUMS).write_text("".join(line for line in lines if not line.endswith(f"  {name}\n")))


def _replace(folder: Path, name: str, data: bytes) -> None:
    (folder / name).write_bytes(data)
    (folder / CHECKSUMS).unlink()
    write_checksums(folder)  # consistent checksums over a file that is not what its name says


FOREIGN = {
    "manifest not JSON": (lambda f: _replace(f, MANIFEST, b"{"), "manifest.json: not valid JSON"),
    "manifest not text": (lambda f: _replace(f, MANIFEST, b"\xff\xfe{}"), "manifest.json: not valid JSON"),
    "checksums not text": (lambda f: (f / CHECKSUMS).write_bytes(b"\xff\xfe\x00 garbage\n"), "checksums.sha256: line 1 is not '<sha256>  <file>'"),
    "another format": (lambda f: _rewrite_manifest(f, lambda m: m.update(format="other-tool")),
                       "manifest.json: not an offerlab policy manifest (format must be 'offerlab-policy-artefact')"),
    "no format version": (lambda f: _rewrite_manifest(f, lambda m: m.pop("format_version")),
                          f"manifest.json: format_version None; this offerlab reads version {FORMAT_VERSION} (export the policy again"),
    "features not a list": (lambda f: _rewrite_manifest(f, lambda m: m.update(features="all")), "manifest.json: features must be a list"),
    "actions not a list": (lambda f: _rewrite_manifest(f, lambda m: m.update(actions=None)), "manifest.json: actions must be a list"),
    "unknown model kind": (lambda f: _rewrite_manifest(f, lambda m: m["policy"].update(kind="svm")),
                           "does not name a known kind (bandit, ppo, rules) and its model file"),
    "kind and file disagree": (lambda f: _rewrite_manifest(f, lambda m: m["policy"].update(file="policy.onnx")),
                               "does not name a known kind (bandit, ppo, rules) and its model file"),
    "policy not a section": (lambda f: _rewrite_manifest(f, lambda m: m.update(policy="bandit")),
                             "manifest.json: policy section 'bandit' does not name a known kind"),
    "model neither present nor listed": (lambda f: ((f / "model.npz").unlink(), _drop_from_checksums(f, "model.npz")),
                                         "model.npz: the model file is not in checksums.sha256"),
    "manifest neither present nor listed": (lambda f: ((f / MANIFEST).unlink(), _drop_from_checksums(f, MANIFEST)),
                                            "manifest.json: missing; "),
    "checksum line with two spaces too few": (lambda f: (f / CHECKSUMS).write_text((f / CHECKSUMS).read_text().replace("  ", " ", 1)),
                                              "checksums.sha256: line 1 is not '<sha256>  <file>'"),
    "model file not a model": (lambda f: _replace(f, "model.npz", b"PK not really a zip"), "model.npz: cannot be used as a bandit policy ("),
}


@pytest.mark.parametrize("damage", FOREIGN)
def test_a_consistent_artefact_that_is_not_a_usable_one_is_refused_naming_the_file_and_the_problem(damage, linucb_artefact, tmp_path):
    folder, refused = _refused(FOREIGN[damage], linucb_artefact, tmp_path)
    assert str(refused).startswith(str(folder))  # the path of the file (or folder) at fault comes first


def test_a_folder_that_is_not_there_or_holds_no_artefact_is_refused(tmp_path):
    with pytest.raises(ArtefactError, match=re.escape(f"{tmp_path / 'nowhere'}: no such artefact folder")):
        load_artefact(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ArtefactError, match="no such artefact folder"):
        load_artefact(tmp_path / "file")


def test_checksums_are_sha256_of_each_file_by_name(linucb_artefact):
    import hashlib

    listed = dict(reversed(line.split("  ")) for line in (linucb_artefact / CHECKSUMS).read_text().splitlines())
    assert listed == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in linucb_artefact.iterdir() if p.name != CHECKSUMS}
    assert (linucb_artefact / CHECKSUMS).read_text().endswith("\n")


def test_parity_inputs_cover_the_feature_box_and_close_each_channel_for_about_40_percent_of_rows():
    batches = export.parity_inputs(2500)
    assert [len(obs) for obs, _, _ in batches] == [1000, 1000, 500] and [w for _, _, w in batches] == [0, 1, 2]
    assert all(len(mask) == len(obs) and obs.dtype == np.float32 for obs, mask, _ in batches)
    obs = np.concatenate([b[0] for b in batches])
    low, high = FEATURE_LOW, FEATURE_HIGH
    assert ((obs >= low) & (obs <= high)).all()
    span = high - low
    assert (obs.min(axis=0) < low + 0.01 * span).all() and (obs.max(axis=0) > high - 0.01 * span).all()  # every corner is reached
    ok = np.concatenate([b[1].channel_ok for b in batches])
    assert np.abs(ok.mean(axis=0) - 0.6).max() < 4 * np.sqrt(0.6 * 0.4 / len(ok))  # binomial tolerance, 4 standard errors
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(batches, export.parity_inputs(2500)))  # the same inputs every export
    assert [w for _, _, w in export.parity_inputs(9000)] == [0, 1, 2, 3, 4, 5, 6, 0, 1]


class _Twisted:
    """The exported runtime with its decisions changed after the fact: ``actions`` or ``propensity`` of some rows."""

    def __init__(self, runtime, rows: np.ndarray, field: str):
        self.runtime, self.rows, self.field, self.name = runtime, rows, field, runtime.name

    def act(self, obs, mask, context):
        decision = self.runtime.act(obs, mask, context)
        if self.field == "actions":
            decision.actions = decision.actions.copy()
            decision.actions[self.rows] = 0
        else:
            decision.propensity = np.array(decision.propensity, dtype=np.float64, copy=True)
            decision.propensity[self.rows] *= 0.5
        return decision


@pytest.mark.parametrize("field", ["actions", "propensity"])
def test_the_parity_gate_refuses_a_runtime_that_differs_in_actions_or_in_propensities_alone(field, linucb_artefact):
    from serving.runtime import load_runtime

    live = trained("linucb_additive")
    runtime = load_runtime(linucb_artefact / "model.npz", json.loads((linucb_artefact / MANIFEST).read_text())["policy"])
    assert export.choice_parity(live, runtime, 2000) == {"observations": 2000, "same_choices": True}
    decided = live.act(*_first_parity_batch())
    sends = np.flatnonzero(decided.actions > 0)[:7]  # seven rows where the live policy sends
    counted = " on 7 of 1000 observations" if field == "actions" else ""  # a propensity-only difference is refused too
    with pytest.raises(ArtefactError, match=f"exported linucb_additive chooses differently from the live policy{counted}"):
        export.choice_parity(live, _Twisted(runtime, sends, field), 2000)


def _first_parity_batch():
    obs, mask, weekday = export.parity_inputs(1000)[0]
    return obs, mask, DecisionContext(0, weekday, np.random.default_rng(0), np.arange(len(obs)))


def test_a_changed_file_is_named_with_the_start_of_both_digests(linucb_artefact, tmp_path):
    import hashlib

    folder = tmp_path / "artefact"
    shutil.copytree(linucb_artefact, folder)
    listed = hashlib.sha256((folder / "model.npz").read_bytes()).hexdigest()
    _flip_byte(folder / "model.npz")
    found = hashlib.sha256((folder / "model.npz").read_bytes()).hexdigest()
    expected = (f"{folder / 'model.npz'}: SHA-256 {found[:16]}... differs from {listed[:16]}... in checksums.sha256: "
                "changed or truncated after export")
    with pytest.raises(ArtefactError, match=f"^{re.escape(expected)}$"):
        load_artefact(folder)
    assert load_artefact(linucb_artefact).path == linucb_artefact


@pytest.mark.parametrize(("change", "detail"), [
    (lambda m: m["actions"].pop(), f"at position {len(ACTION_NAMES) - 1} ('none' vs {ACTION_NAMES[-1]!r})"),
    (lambda m: m["actions"].append("sms / later"), f"at position {len(ACTION_NAMES)} ('sms / later' vs 'none')"),
])
def test_an_action_layout_of_another_length_names_the_first_position_and_what_is_missing(change, detail, linucb_artefact, tmp_path):
    folder = tmp_path / "artefact"
    shutil.copytree(linucb_artefact, folder)
    _rewrite_manifest(folder, change)
    expected = f"{folder / MANIFEST}: actions differ from this offerlab's {detail}; the artefact was made for another layout"
    with pytest.raises(ArtefactError, match=f"^{re.escape(expected)}$"):
        load_artefact(folder)


def test_a_ppo_export_describes_its_network_and_its_parity_check(ppo_model, tmp_path):
    manifest = export_policy(ppo_model[2], tmp_path / "artefact", GUARD, parity_samples=100)
    assert manifest["policy"] == {"kind": "ppo", "name": "ppo", "class": "MaskablePPO", "net_arch": [32, 32], "file": "policy.onnx",
                                  "deterministic": True}
    parity = manifest["metrics"]["parity"]
    assert set(parity) == {"observations", "max_abs_probability_diff", "tolerance"}
    assert parity["observations"] == 100 and parity["tolerance"] == 1e-5 and 0 <= parity["max_abs_probability_diff"] <= 1e-5
    assert export_policy(ppo_model[2], tmp_path / "named", GUARD, name="champion", parity_samples=100)["policy"]["name"] == "champion"
    (tmp_path / "broken.zip").write_bytes(b"PK not a model")
    with pytest.raises(ArtefactError, match=re.escape(f"{tmp_path / 'broken.zip'}: not a usable MaskablePPO model (")):
        export_policy(tmp_path / "broken.zip", tmp_path / "never", GUARD, parity_samples=100)
    assert not (tmp_path / "never").exists()

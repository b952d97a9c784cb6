"""The hyperparameters of PPO (``configs/policy/ppo.yaml``), checked on construction; importable without torch.

Seeds: the training markets are seeded ``train_seed, train_seed + 1, ...`` (one market per
horizon-long episode, see :class:`~sim.vec_env.MarketVecEnv`) and the evaluation markets during
training ``eval_seed, eval_seed - 1, ...``; :meth:`PPOConfig.check_held_out` keeps both away from
the seeds a comparison evaluates on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from policies.registry import LEARNERS, TRAINED, known_policies
from sim.config import bounded, validate


@dataclass
class PPOConfig:
    """Hyperparameters of ``configs/policy/ppo.yaml``, checked on construction (a ValueError naming the key)."""

    train_shoppers: int = bounded(500, ge=100, le=1_000_000)
    """shoppers of the training market at the start (the experiment's market otherwise); every row is one parallel env"""
    total_timesteps: int = bounded(1_000_000, ge=1, le=10**10)
    """shopper-days to train on (rounded up to whole rollouts); from the clone of the reference the best evaluation on the
    long-run market came after 0.58 M and the later ones fell (docs/results/ppo.md)"""
    n_steps: int = bounded(0, ge=0, le=3650)
    """simulated days per rollout (x rows of the training market = transitions); 0 = the market's horizon, one episode"""
    batch_size: int = bounded(4096, ge=2, le=10**7)
    """transitions per gradient step"""
    n_epochs: int = bounded(5, ge=1, le=100)
    """passes over each rollout"""
    learning_rate: float = bounded(1e-3, gt=0.0, le=1.0)
    gamma: float = bounded(0.99, ge=0.0, le=0.9999)
    """daily discount; the long run needs it close to 1 (0.99 weighs next month's profit by 0.74)"""
    gae_lambda: float = bounded(1.0, ge=0.0, le=1.0)
    """1 = Monte Carlo returns: with less, the value net's errors bias the advantage of contacting (see the README)"""
    clip_range: float = bounded(0.2, gt=0.0, le=1.0)
    ent_coef: float = bounded(0.0, ge=0.0, le=1.0)
    """entropy bonus; 0, since a bonus would push toward the 255 send actions, i.e. toward contacting"""
    vf_coef: float = bounded(0.5, ge=0.0, le=10.0)
    max_grad_norm: float = bounded(0.5, gt=0.0, le=100.0)
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    """hidden layer widths of the policy and of the value network (separate networks)"""
    reward_scale: float = bounded(0.01, gt=0.0, le=100.0)
    """training rewards are (incremental) profit x reward_scale: value targets O(1) rather than O(100) (see TrainingEnv)"""
    twin_baseline: bool = True
    """reward = profit minus the same shopper's profit in a no-contact twin market (unbiased, far less noisy; see TrainingEnv)"""
    initial_contact: float = bounded(0.05, ge=0.001, le=0.999)
    """probability that the untrained policy contacts a shopper open on every channel (see contact_prior); at 0.2 the
    untrained policy lost 14.7 per shopper on the long-run market and spent most of training unlearning it"""
    seed: int = bounded(0, ge=0, le=2**31 - 1)
    """seed of the network's initial weights, minibatch order and action draws during training"""
    train_seed: int = bounded(1000, ge=0, le=2**31 - 1)
    """market seed of the first training episode; episode k runs on train_seed + k"""
    eval_seed: int = bounded(999, ge=0, le=2**31 - 1)
    """market seed of the evaluations during training (held out from training and from comparisons)"""
    eval_markets: int = bounded(3, ge=1, le=100)
    """evaluation markets, seeds ``eval_seed, eval_seed - 1, ...``, whose mean picks the best model: on one market a
    checkpoint that still contacted scored -0.05 per shopper and earned -0.45 on the long-run comparison's seeds"""
    eval_shoppers: int = bounded(5000, ge=100, le=1_000_000)
    """shoppers of each evaluation market; the best model is picked on them, so their noise must be below the gaps
    between evaluations (with 1,000 the pick scored -1.16 per shopper on the long-run seeds, the final model -0.06)"""
    eval_every: int = bounded(500_000, ge=1, le=10**10)
    """timesteps between evaluations; the best evaluated model is kept as best_model.zip"""
    checkpoint_every: int = bounded(1_000_000, ge=1, le=10**10)
    """timesteps between checkpoints (model, optimiser, random states, training market)"""
    threads: int = bounded(1, ge=1, le=256)
    """torch threads while training"""
    deterministic: bool = True
    """act on the most probable action (propensity 1) instead of drawing from the policy: the clone's draws from its
    spread-out distribution send offers its teacher would not (docs/results/ppo.md); training always draws"""
    clone: str = "reference"
    """the teacher whose choices the actor copies before PPO starts (policies/ppo/cloning.py, DAgger): a policy that needs
    no training (a baseline, ``reference``, ``oracle``, a ``rules_<table>``); empty: PPO starts from a near-uniform actor.
    ``reference`` and ``oracle`` read latent traits: privileged teachers on training markets only, the actor reads the CRM"""
    clone_rounds: int = bounded(3, ge=1, le=20)
    """DAgger rounds, one training market each (seeds ``train_seed, train_seed + 1, ...``): the teacher acts in the first,
    the student of the round before in the others; the teacher labels every shopper-day"""
    clone_shoppers: int = bounded(3000, ge=100, le=1_000_000)
    """shoppers at the start of each cloning market (and of the held-out one, seed ``train_seed + clone_rounds``)"""
    clone_epochs: int = bounded(8, ge=1, le=1000)
    """passes over the labels after each round"""
    clone_learning_rate: float = bounded(1e-3, gt=0.0, le=1.0)
    model_path: str = ""
    """a trained model (.zip) to evaluate; empty: a comparison trains one into <run>/ppo/"""
    resume_from: str = ""
    """a checkpoint folder (<run>/checkpoints/step_...) to continue training from"""

    def __post_init__(self) -> None:
        validate(self)
        for key in ("deterministic", "twin_baseline"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"{key}={getattr(self, key)!r}: must be true or false")
        if not self.net_arch or any(isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= 4096 for w in self.net_arch):
            raise ValueError(f"net_arch={self.net_arch!r}: must be a non-empty list of layer widths in [1, 4096]")
        if self.eval_seed >= self.train_seed:
            raise ValueError(f"eval_seed={self.eval_seed}: must be below train_seed={self.train_seed} (training uses train_seed and up)")
        if self.eval_markets > self.eval_seed + 1:
            raise ValueError(f"eval_markets={self.eval_markets}: the evaluation seeds count down from eval_seed={self.eval_seed}, "
                             f"so at most {self.eval_seed + 1}")
        if self.resume_from and not (Path(self.resume_from) / "state.pkl").is_file():
            raise ValueError(f"resume_from={self.resume_from!r}: not a checkpoint folder (no state.pkl in it)")
        if self.clone:
            if self.clone not in known_policies() or self.clone in LEARNERS or self.clone in TRAINED:
                teachers = [p for p in known_policies() if p not in LEARNERS and p not in TRAINED]
                raise ValueError(f"clone={self.clone!r}: not a policy that acts without training; allowed: {', '.join(teachers)} "
                                 f"(or empty: no cloning)")
        if self.model_path and not Path(self.model_path).is_file():
            raise ValueError(f"model_path={self.model_path!r}: no such file")

    def check_held_out(self, seeds: list[int]) -> None:
        """Refuse evaluation ``seeds`` that a training or evaluation market of this config uses."""
        if self.model_path:
            return  # a given model: where it was trained is the caller's business
        if max(seeds) >= self.train_seed:
            raise ValueError(f"train_seed={self.train_seed}: training markets use seeds from it up, so it must exceed every "
                             f"experiment seed (largest {max(seeds)})")
        shared = sorted(set(self.eval_seeds) & set(seeds))
        if shared:
            raise ValueError(f"eval_seed={self.eval_seed}: its evaluation markets (seeds {self.eval_seeds[-1]}-{self.eval_seed}) include the "
                             f"experiment seed(s) {shared}; pick a held-out one")

    @property
    def eval_seeds(self) -> list[int]:
        """The market seeds of the evaluations during training: ``eval_seed`` and the ``eval_markets - 1`` below it."""
        return list(range(self.eval_seed, self.eval_seed - self.eval_markets, -1))

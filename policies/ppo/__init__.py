"""PPO that learns restraint (MaskablePPO on the market), split by idea: see the modules of this package."""

from policies.ppo.training import *  # noqa: F401,F403
from policies.ppo.training import BEST_MODEL, FINAL_MODEL, PPOConfig, PPOPolicy, TrainingEnv, resized, train  # noqa: F401

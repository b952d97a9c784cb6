"""How ``obp_reference.npz`` and the frozen numbers of ``tests/policies/test_ope_estimators.py`` were made (not run by the tests).

Open Bandit Pipeline 0.5.7 does not install beside this project's packages: it declares Python
<3.11 and pins numpy 1.23.5. To read its numbers anyway it was installed into a throwaway
virtual environment with ``pip install --no-deps --ignore-requires-python obp==0.5.7`` beside
numpy 2.4.6, scikit-learn 1.9.1, pandas 3.1.1, scipy 1.17.1 and torch 2.13.0 (CPU), Python 3.11.7,
and this script was run there: ``/tmp/obpvenv/bin/python tests/policies/data/obp_reference.py``.
It draws obp's synthetic bandit data, takes a softmax evaluation policy and a deliberately
imperfect reward model, saves the arrays every estimator reads, and prints obp's estimates.
"""

from pathlib import Path

import numpy as np
from obp.dataset import SyntheticBanditDataset, logistic_reward_function
from obp.ope import (DirectMethod, DoublyRobust, DoublyRobustWithShrinkage, DoublyRobustWithShrinkageTuning, InverseProbabilityWeighting,
                     SelfNormalizedInverseProbabilityWeighting, SwitchDoublyRobust, SwitchDoublyRobustTuning)
from obp.utils import softmax

N, SWITCH, SHRINK = 500, [0.5, 1.0, 2.0, 4.0, np.inf], [0.1, 1.0, 10.0, 100.0, np.inf]

data = SyntheticBanditDataset(n_actions=5, dim_context=3, reward_type="binary", reward_function=logistic_reward_function, beta=-2.0,
                              random_state=12345).obtain_batch_bandit_feedback(n_rounds=N)
action_dist = softmax(5.0 * data["expected_reward"])[:, :, None]
q_hat = (0.8 * data["expected_reward"] + 0.05)[:, :, None]
np.savez_compressed(Path(__file__).with_suffix(".npz"), reward=data["reward"], action=data["action"], pscore=data["pscore"],
                    action_dist=action_dist[:, :, 0], q_hat=q_hat[:, :, 0])
args = dict(reward=data["reward"], action=data["action"], pscore=data["pscore"], action_dist=action_dist, position=np.zeros(N, int))
print("dm", repr(DirectMethod().estimate_policy_value(action_dist=action_dist, estimated_rewards_by_reg_model=q_hat, position=args["position"])))
print("ips", repr(InverseProbabilityWeighting().estimate_policy_value(**args)))
print("snips", repr(SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(**args)))
print("dr", repr(DoublyRobust().estimate_policy_value(**args, estimated_rewards_by_reg_model=q_hat)))
print("switch_dr(1.0)", repr(SwitchDoublyRobust(lambda_=1.0).estimate_policy_value(**args, estimated_rewards_by_reg_model=q_hat)))
print("dr_os(1.0)", repr(DoublyRobustWithShrinkage(lambda_=1.0).estimate_policy_value(**args, estimated_rewards_by_reg_model=q_hat)))
for name, cls, grid in (("switch", SwitchDoublyRobustTuning, SWITCH), ("shrinkage", DoublyRobustWithShrinkageTuning, SHRINK)):
    tuned = cls(lambdas=grid, tuning_method="mse", use_bias_upper_bound=False)
    value = tuned.estimate_policy_value(**args, estimated_rewards_by_reg_model=q_hat)
    print(f"{name} tuned: lambda", tuned.best_hyperparam, "value", repr(value))

"""Off-policy evaluation: the value a candidate policy would have had on the decisions another policy logged.

:mod:`policies.ope.estimators` holds the estimators (DM, IPS, self-normalised IPS, DR, switch-DR,
DR with optimistic shrinkage), their bootstrap intervals and the diagnostics (effective sample size,
support); :mod:`policies.ope.reward_model` the cross-fitted reward model of DM and the DR family;
:mod:`policies.ope.candidate` a policy's action probabilities on a decision log; and
:mod:`policies.ope.evaluate` the three put together on a log in the schema of
:mod:`policies.decision_log`. The estimators work on plain arrays, so the same code evaluates the
simulator's logs and the Open Bandit Dataset (``python -m studies.obd_check``).
"""

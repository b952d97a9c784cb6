"""Uplift modelling: multi-treatment meta-learners and the metrics that judge them on a randomised log.

What a marketing data scientist builds instead of a bandit: from a randomised pilot (each customer
assigned one of K treatments or the control at random), a model of each customer's incremental
outcome under each treatment, and the customers with the largest predicted gain targeted.

* :mod:`uplift.models`: the T-learner and the X-learner on scikit-learn's histogram gradient
  boosting; ``fit(X, treatment, y)``, ``predict(X) -> (n, K)``.
* :mod:`uplift.metrics`: uplift and Qini curves, AUUC, the Qini coefficient, uplift@k, with
  bootstrap intervals over customers, for one treatment against the control.
* :mod:`uplift.table`: a randomised log as a table (treatment, outcome and feature columns) checked
  and turned into the arrays both take.
* :mod:`uplift.checks`: the input checks they share, and the error they raise.

The package knows nothing of the market: it is a library on numpy and scikit-learn that the
market's policies and the experiments import (the layers in ``pyproject.toml``).
"""

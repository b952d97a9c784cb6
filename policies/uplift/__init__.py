"""Uplift policies ``uplift_<model>``: a randomised pilot, an uplift model of each arm's incremental profit, targeting by it.

What a marketing data-science team does instead of a bandit: test a few campaigns at random on a
share of the customers (with a holdout), fit a model of each customer's incremental profit under
each campaign, then send each customer the campaign with the largest predicted gain where it is
positive. Trained like PPO, once per comparison, on market seeds of its own.

- :mod:`~policies.uplift.arms`: the actions tested, by readable name (the rule tables' templates allowed);
- :mod:`~policies.uplift.config`: :class:`~policies.uplift.config.UpliftConfig`, the settings;
- :mod:`~policies.uplift.pilot`: :class:`~policies.uplift.pilot.PilotPolicy`, the randomised pilot with exact propensities;
- :mod:`~policies.uplift.training`: the pilot's decisions as training rows, the fit, the model's files;
- :mod:`~policies.uplift.policy`: :class:`~policies.uplift.policy.UpliftPolicy`, the pilot then the targeting rule.

The learners are :mod:`uplift.models`' T- and X-learners on scikit-learn's gradient boosting.
"""

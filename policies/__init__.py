"""Policies: the interface every decision-maker answers, baselines, segment rules, the oracle, PPO."""

"""The offerlab command: Hydra configs, the runner, metrics, reports and plots."""

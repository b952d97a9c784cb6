"""The simulated market: shoppers (Mesa agents over arrays), catalogue, guardrails, and Gymnasium envs.

Importing ``sim`` registers the Gymnasium environments under the ``offerlab/`` namespace.
"""

from sim.config import ConfigError, GuardrailConfig, MarketConfig
from sim.env import register_envs
from sim.market import MarketModel

register_envs()

__all__ = ["ConfigError", "GuardrailConfig", "MarketConfig", "MarketModel"]

"""Contextual bandits over offer x channel x slot arms."""

"""The message-signal study measures what it says: one return per contacted shopper (tiny market)."""

from __future__ import annotations

import numpy as np

from studies import message_signal


def test_message_signal_returns_one_finite_return_per_contacted_shopper():
    actions, returns = message_signal.contact_returns(shoppers=300, share=0.5, day=3, gamma=0.99, seed=1000)
    assert 100 < len(actions) < 200 and (actions > 0).all()  # about half of 300, each a send
    assert len(returns) == len(actions) and np.isfinite(returns).all() and returns.std() > 0

import numpy as np
import pytest

from sim import catalogue as cat


def test_encode_and_decode_are_inverse_over_every_action():
    offer, channel, slot = cat.decode(np.arange(1, cat.N_ACTIONS))
    assert np.array_equal(cat.encode(offer, channel, slot), np.arange(1, cat.N_ACTIONS))
    assert cat.decode(0) == (-1, -1, -1)


def test_catalogue_has_what_the_market_needs():
    assert cat.N_CATEGORIES >= 6 and cat.N_OFFERS >= 8
    assert set(cat.CHANNEL_NAMES) == {"email", "sms", "push", "social_ad", "call_centre"}
    assert cat.SLOTS == ("morning", "midday", "evening")
    assert cat.N_ACTIONS == 1 + cat.N_OFFERS * cat.N_CHANNELS * cat.N_SLOTS


def test_every_action_has_a_unique_readable_name_that_parses_back():
    assert len(set(cat.ACTION_NAMES)) == cat.N_ACTIONS
    assert cat.action_name(0) == "no contact"
    a = cat.encode(cat.OFFER_NAMES.index("25% kids"), cat.CHANNEL_NAMES.index("sms"), 2)
    assert cat.action_name(int(a)) == "25% kids / sms / evening"
    assert cat.parse_action("25% kids / sms / evening") == a


def test_unknown_action_is_a_clear_error():
    with pytest.raises(ValueError, match=r"action=999.*\[0, 255\]"):
        cat.action_name(999)
    with pytest.raises(ValueError, match="unknown"):
        cat.parse_action("50% toys / fax / night")

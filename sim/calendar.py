"""The market's calendar: weekdays, seasons, holidays with demand peaks, and birthdays.

Holidays follow the source documents' examples (a women's-day mailing that must not go to men)
and the Russian retail calendar the interviews describe; their demand boosts are assumptions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from sim.catalogue import CATEGORY_NAMES, N_CATEGORIES

WEEKDAY_EFFECT = np.array([-0.05, 0.0, 0.0, 0.02, 0.08, 0.15, 0.05], dtype=np.float32)
"""purchase-intent logits per weekday, Monday first (weekend shopping peak)"""

SEASON_PEAK_DAY = np.array([100, 100, 240, 110, 60, 340], dtype=np.float32)
"""day of year on which each category's seasonal demand peaks"""
SEASON_AMPLITUDE = 0.12
"""logits between a category's seasonal mean and its peak"""


@dataclass(frozen=True)
class Holiday:
    name: str
    month: int
    day: int
    categories: tuple[str, ...]
    """categories whose demand rises before the holiday (all when empty)"""
    audience: str
    """who celebrates by buying: all | women | men | parents"""
    lead_days: int
    """how many days before the holiday demand starts to rise"""


HOLIDAYS: tuple[Holiday, ...] = (
    Holiday("valentines_day", 2, 14, ("womens", "mens", "beauty"), "all", 7),
    Holiday("mens_day", 2, 23, ("mens", "electronics"), "men", 7),
    Holiday("womens_day", 3, 8, ("womens", "beauty"), "women", 7),
    Holiday("back_to_school", 9, 1, ("kids",), "parents", 14),
    Holiday("black_friday", 11, 28, (), "all", 5),
    Holiday("new_year", 12, 31, (), "all", 14),
)
HOLIDAY_NAMES = tuple(h.name for h in HOLIDAYS)


def holiday_categories(h: Holiday) -> np.ndarray:
    """(C,) bool: the categories this holiday boosts."""
    if not h.categories:
        return np.ones(N_CATEGORIES, dtype=bool)
    return np.isin(np.array(CATEGORY_NAMES), h.categories)


class Calendar:
    """Dates of the simulated days; day 0 is ``start_date``."""

    def __init__(self, start_date: str):
        self.start = dt.date.fromisoformat(start_date)

    def date(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=int(day))

    def weekday(self, day: int) -> int:
        """0 = Monday."""
        return self.date(day).weekday()

    def day_of_year(self, day: int) -> int:
        """0..364 (31 December of a leap year folds onto 364)."""
        return min(self.date(day).timetuple().tm_yday - 1, 364)

    def days_to_holidays(self, day: int) -> np.ndarray:
        """(n_holidays,) days from ``day`` until each holiday's next occurrence (0 on the day)."""
        today = self.date(day)
        out = np.empty(len(HOLIDAYS), dtype=np.int32)
        for k, h in enumerate(HOLIDAYS):
            d = dt.date(today.year, h.month, h.day)
            if d < today:
                d = dt.date(today.year + 1, h.month, h.day)
            out[k] = (d - today).days
        return out

    def season(self, day: int) -> np.ndarray:
        """(C,) seasonal purchase-intent logits: ``A cos(2 pi (doy - peak_c) / 365)``."""
        doy = self.day_of_year(day)
        return (SEASON_AMPLITUDE * np.cos(2 * np.pi * (doy - SEASON_PEAK_DAY) / 365.0)).astype(np.float32)

    def holiday_ramp(self, day: int) -> np.ndarray:
        """(n_holidays,) how close each holiday is, from 0 (outside its lead window) to 1 (the day itself)."""
        d = self.days_to_holidays(day)
        lead = np.array([h.lead_days for h in HOLIDAYS], dtype=np.float32)
        return np.where(d <= lead, 1.0 - d / (lead + 1.0), 0.0).astype(np.float32)


def birthday_distance(birthday: np.ndarray, day_of_year: int) -> np.ndarray:
    """Days from ``day_of_year`` until each birthday (0..364), on a 365-day circle."""
    return ((birthday.astype(np.int32) - day_of_year) % 365).astype(np.int32)

"""The dated USD->KRW rate used by the synthetic source and shipped as a dbt seed.

A smooth deterministic curve, so the generator and the warehouse agree on
every date without a network lookup. Real deployments replace the seed file
(``dbt_project/seeds/fx_rates.csv``) with their treasury's table.
"""

from __future__ import annotations

import datetime as dt
import math

_EPOCH = dt.date(2020, 1, 1)


def usd_krw(day: dt.date) -> float:
    t = (day - _EPOCH).days
    return round(1250.0 + 0.03 * t + 60.0 * math.sin(2 * math.pi * t / 365.25), 2)


def seed_rows(start: dt.date = dt.date(2020, 1, 1), end: dt.date = dt.date(2030, 12, 31)):
    day = start
    while day <= end:
        yield day, "USD", "KRW", usd_krw(day)
        day += dt.timedelta(days=1)

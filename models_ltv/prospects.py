"""Users acquired but not paying yet, who will still make a first purchase.

The purchase model (BG/NBD) starts at a customer's first purchase, so on its own it
misses every first purchase still to come. For a campaign whose users are mostly a few
days old that is most of its future revenue. Two things are learnt from the data:

- the *lag curve* ``G(d)``: of the users who buy within ``window_days`` of their install,
  the share who bought within ``d`` days; pooled over campaigns, from cohorts at least
  ``window_days`` old;
- each campaign's *conversion rate* ``c``: its paying users over its users' exposure
  ``sum G(age)``, shrunk toward the rate of all campaigns with a prior weight of
  ``prior_users`` users, so a young or small campaign borrows from the others.

A non-paying user of age ``a`` then converts before age ``h`` with probability
``c (G(h) - G(a)) / (1 - c G(a))``. First purchases later than ``window_days`` after the
install are not forecast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

WINDOW_DAYS = 28
PRIOR_USERS = 200.0


@dataclass
class Prospects:
    """Per campaign: non-paying users by age, the conversion rate, and the lag curve."""

    groups: list[str]
    ages: list[np.ndarray]  # ages in days of each campaign's non-paying users ...
    counts: list[np.ndarray]  # ... and how many users have each age
    rate: np.ndarray  # conversion rate per campaign
    cdf: np.ndarray  # G(d) for d = 0 .. window (whole days), G(window) = 1

    def converted_by(self, age_days) -> np.ndarray:
        """G at fractional ages (linear between whole days; 1 from the window on)."""
        days = np.arange(len(self.cdf))
        return np.interp(np.asarray(age_days, float), days, self.cdf, right=1.0)

    def expected_new_payers(self, horizon_days: float, basis: str) -> np.ndarray:
        """Expected first purchases still to come, per campaign, within the horizon:
        ``since_acquisition`` (before each user's age ``horizon``) or ``from_as_of``."""
        out = np.zeros(len(self.groups))
        for i, (ages, counts) in enumerate(zip(self.ages, self.counts)):
            if not len(ages):
                continue
            now = self.converted_by(ages + 0.5)  # a user of age a has lived a + 0.5 days on average
            end = self.converted_by(np.full(len(ages), float(horizon_days)) if basis == "since_acquisition"
                                    else ages + 0.5 + horizon_days)
            c = self.rate[i]
            p = np.clip(c * (end - now) / np.maximum(1.0 - c * now, 1e-12), 0.0, 1.0)
            out[i] = float((counts * p).sum())
        return out


def estimate(users: pd.DataFrame, lags: pd.DataFrame, groups: list[str], window_days: int = WINDOW_DAYS,
             prior_users: float = PRIOR_USERS) -> Prospects:
    """``users``: ``group``, ``age_days``, ``users``, ``payers`` (acquired users by age in
    whole days at the as-of date, and how many of them have paid); ``lags``: ``age_days``
    (of the user), ``lag_days`` (install to first purchase, whole days), ``payers``."""
    max_age = int(users["age_days"].max()) if len(users) else 0
    window = max(1, min(window_days, max_age))  # early on, only younger cohorts exist
    old = lags[(lags["age_days"] >= window) & (lags["lag_days"] < window)]
    if old["payers"].sum() > 0:
        by_lag = old.groupby("lag_days")["payers"].sum().reindex(range(window), fill_value=0)
        cdf = np.concatenate([[0.0], np.cumsum(by_lag.to_numpy(float)) / by_lag.sum()])
    else:  # no cohort old enough: assume conversions spread evenly over the window
        cdf = np.linspace(0.0, 1.0, window + 1)
    prospects = Prospects(groups=list(groups), ages=[], counts=[], rate=np.zeros(len(groups)), cdf=cdf)
    exposure, payers = np.zeros(len(groups)), np.zeros(len(groups))
    for i, group in enumerate(groups):
        rows = users[users["group"].astype(str) == str(group)]
        ages = rows["age_days"].to_numpy(float)
        exposure[i] = float((rows["users"].to_numpy(float) * prospects.converted_by(ages + 0.5)).sum())
        payers[i] = float(rows["payers"].sum())
        waiting = rows["users"].to_numpy(float) - rows["payers"].to_numpy(float)
        prospects.ages.append(ages[waiting > 0])
        prospects.counts.append(waiting[waiting > 0])
    overall = payers.sum() / exposure.sum() if exposure.sum() > 0 else 0.0
    prospects.rate = np.clip((payers + prior_users * overall) / (exposure + prior_users), 0.0, 1.0)
    return prospects

"""Campaigns, their spend, and the true parameters users are drawn from.

Parameters are hierarchical on purpose: each channel has a base, and each
campaign deviates from it on a log scale, so a pooled model has something
real to pool toward. Time unit for the purchase process is the day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from growthflow_tools.generator.settings import GeneratorSettings

#: Channel bases: cost per install (KRW), spend currency, funnel rates,
#: BG/NBD (r, alpha per day, a, b) and Gamma-Gamma (p, q, gamma in KRW).
CHANNEL_BASE = {
    "google_ads": dict(cpi=4200, currency="USD", signup=0.48, profile=0.62, checkout=0.40, buy=0.55,
                       r=0.9, alpha=45.0, a=1.0, b=5.0, p=6.0, q=4.0, gamma=8000.0),
    "meta": dict(cpi=3600, currency="USD", signup=0.42, profile=0.55, checkout=0.35, buy=0.50,
                 r=0.8, alpha=55.0, a=1.2, b=4.0, p=6.0, q=4.0, gamma=6500.0),
    "naver": dict(cpi=3100, currency="KRW", signup=0.50, profile=0.65, checkout=0.42, buy=0.58,
                  r=1.0, alpha=40.0, a=0.9, b=5.5, p=6.0, q=4.0, gamma=9000.0),
    "kakao": dict(cpi=2800, currency="KRW", signup=0.46, profile=0.60, checkout=0.38, buy=0.52,
                  r=0.85, alpha=50.0, a=1.0, b=4.5, p=6.0, q=4.0, gamma=7000.0),
    "tiktok": dict(cpi=2300, currency="USD", signup=0.36, profile=0.50, checkout=0.30, buy=0.45,
                   r=0.7, alpha=65.0, a=1.4, b=3.5, p=6.0, q=4.0, gamma=5000.0),
    "referral": dict(cpi=0, currency="KRW", signup=0.60, profile=0.70, checkout=0.45, buy=0.60,
                     r=1.0, alpha=38.0, a=0.8, b=6.0, p=6.0, q=4.0, gamma=9500.0),
    "organic": dict(cpi=0, currency="KRW", signup=0.55, profile=0.65, checkout=0.40, buy=0.55,
                    r=0.95, alpha=42.0, a=0.9, b=5.0, p=6.0, q=4.0, gamma=8500.0),
}

OBJECTIVES = ("installs", "signups", "purchases")


@dataclass
class Campaigns:
    """Column arrays, one entry per acquisition source (paid campaigns, then referral, organic)."""

    campaign_id: list[str | None]
    campaign_name: list[str]
    channel: list[str]
    objective: list[str]
    start_date: list[dt.date]
    end_date: list[dt.date | None]
    cpi: np.ndarray
    daily_budget: np.ndarray
    signup: np.ndarray
    profile: np.ndarray
    checkout: np.ndarray
    buy: np.ndarray
    r: np.ndarray
    alpha: np.ndarray
    a: np.ndarray
    b: np.ndarray
    gg_p: np.ndarray
    gg_q: np.ndarray
    gg_gamma: np.ndarray
    n_paid: int

    def __len__(self) -> int:
        return len(self.channel)

    def active_on(self, day: dt.date) -> np.ndarray:
        """Boolean mask of paid campaigns running on ``day``."""
        mask = np.zeros(len(self), dtype=bool)
        for i in range(self.n_paid):
            end = self.end_date[i]
            mask[i] = self.start_date[i] <= day and (end is None or day <= end)
        return mask


def _logit(p):
    return np.log(p / (1 - p))


def _expit(x):
    return 1 / (1 + np.exp(-x))


def build_campaigns(settings: GeneratorSettings, rng: np.random.Generator) -> Campaigns:
    n = settings.campaigns
    channels = [settings.channels[i % len(settings.channels)] for i in range(n)]
    rows: dict[str, list] = {k: [] for k in (
        "campaign_id", "campaign_name", "channel", "objective", "start_date", "end_date", "cpi", "daily_budget",
        "signup", "profile", "checkout", "buy", "r", "alpha", "a", "b", "gg_p", "gg_q", "gg_gamma")}
    # Paid budget shares follow a skewed (log-normal) distribution: a few big
    # campaigns and a long tail of small ones, as in real accounts.
    shares = rng.lognormal(0.0, 1.0, size=n)
    shares /= shares.sum()
    paid_installs = settings.daily_new_users * (1 - settings.organic_share)
    for i, channel in enumerate(channels):
        base = CHANNEL_BASE[channel]
        first_day = settings.start - dt.timedelta(days=int(rng.integers(0, 30)))
        if i % 3 == 2:  # a third of the campaigns launch inside the window
            first_day = settings.start + dt.timedelta(days=int(rng.integers(0, max(1, settings.days // 2))))
        end_day = None
        if i % 5 == 4:  # some end inside the window
            end_day = first_day + dt.timedelta(days=int(rng.integers(max(7, settings.days // 3), max(8, settings.days))))
        cpi = base["cpi"] * float(rng.lognormal(0, 0.25))
        rows["campaign_id"].append(f"cmp_{i + 1:04d}")
        rows["campaign_name"].append(f"{channel} {OBJECTIVES[i % 3]} {i + 1:04d}")
        rows["channel"].append(channel)
        rows["objective"].append(OBJECTIVES[i % 3])
        rows["start_date"].append(first_day)
        rows["end_date"].append(end_day)
        rows["cpi"].append(round(cpi))
        rows["daily_budget"].append(round(paid_installs * shares[i] * cpi))
        _draw_behaviour(rows, base, rng, spread=1.0)
    for channel, share in (("referral", 0.35), ("organic", 0.65)):
        base = CHANNEL_BASE[channel]
        rows["campaign_id"].append(None)
        rows["campaign_name"].append(channel)
        rows["channel"].append(channel)
        rows["objective"].append("")
        rows["start_date"].append(settings.start - dt.timedelta(days=365))
        rows["end_date"].append(None)
        rows["cpi"].append(0)
        rows["daily_budget"].append(settings.daily_new_users * settings.organic_share * share)  # installs/day
        _draw_behaviour(rows, base, rng, spread=0.0)
    arrays = {k: np.asarray(v, dtype=float) for k, v in rows.items()
              if k not in ("campaign_id", "campaign_name", "channel", "objective", "start_date", "end_date")}
    return Campaigns(
        campaign_id=rows["campaign_id"], campaign_name=rows["campaign_name"], channel=rows["channel"],
        objective=rows["objective"], start_date=rows["start_date"], end_date=rows["end_date"],
        n_paid=n, **arrays,
    )


def _draw_behaviour(rows, base, rng, spread: float) -> None:
    """Campaign-level deviations from the channel base (log or logit scale)."""
    for key in ("signup", "profile", "checkout", "buy"):
        rows[key].append(float(_expit(_logit(base[key]) + spread * rng.normal(0, 0.25))))
    rows["r"].append(base["r"] * float(np.exp(spread * rng.normal(0, 0.15))))
    rows["alpha"].append(base["alpha"] * float(np.exp(spread * rng.normal(0, 0.35))))
    rows["a"].append(base["a"] * float(np.exp(spread * rng.normal(0, 0.25))))
    rows["b"].append(base["b"] * float(np.exp(spread * rng.normal(0, 0.30))))
    rows["gg_p"].append(base["p"])
    rows["gg_q"].append(base["q"])
    rows["gg_gamma"].append(base["gamma"] * float(np.exp(spread * rng.normal(0, 0.25))))

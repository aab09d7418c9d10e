"""Customer summaries simulated from known parameters: for parameter-recovery tests,
backtests and benchmarks of the model, independent of the warehouse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
from pymc_marketing.clv.distributions import BetaGeoNBD


def simulate_group(n: int, r: float, alpha: float, a: float, b: float, p: float, q: float, v: float,
                   max_age: float, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` customers with first purchases spread over ``max_age`` time units before the as-of date."""
    T = rng.uniform(1.0, max_age, size=n)
    draws = pm.draw(BetaGeoNBD.dist(a=np.full(n, a), b=np.full(n, b), r=np.full(n, r), alpha=np.full(n, alpha), T=T),
                    random_seed=rng)
    recency, frequency = draws[:, 0], draws[:, 1]
    nu = rng.gamma(q, 1.0 / v, size=n)
    mean_value = np.where(frequency > 0, rng.gamma(p * np.maximum(frequency, 1), 1.0 / (np.maximum(frequency, 1) * nu)),
                          np.nan)
    return pd.DataFrame({"frequency": frequency, "recency": recency, "T": T, "monetary_value": mean_value})


def simulate_campaigns(sizes: dict[str, int], channel_of: dict[str, str], params: dict[str, dict],
                       max_age: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for group, n in sizes.items():
        frame = simulate_group(n, **params[group], max_age=max_age, rng=rng)
        frame["group"], frame["parent"] = group, channel_of[group]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)

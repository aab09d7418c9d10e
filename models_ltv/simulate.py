"""Customer summaries simulated from known parameters: for parameter-recovery tests,
backtests and benchmarks of the model, independent of the warehouse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
from pymc_marketing.clv.distributions import BetaGeoNBD

PARAMS = ("r", "alpha", "a", "b", "p", "q", "v")

#: The published estimates for CDNOW's 2,357 customers, times in weeks (Fader, Hardie and
#: Lee 2005): a public benchmark's shape for one group, with known truth when simulated.
CDNOW = dict(r=0.243, alpha=4.414, a=0.793, b=2.426, p=6.25, q=3.74, v=15.44)


def simulate_campaigns(sizes: dict[str, int], channel_of: dict[str, str], params: dict[str, dict],
                       max_age: float, seed: int) -> pd.DataFrame:
    """``sizes[g]`` customers of each group with first purchases spread over ``max_age``
    time units before the as-of date; BG/NBD purchases and Gamma-Gamma values drawn with
    ``params[g]`` (r, alpha, a, b, p, q, v). One draw for all groups: one compiled function."""
    rng = np.random.default_rng(seed)
    groups = list(sizes)
    group = np.repeat(np.arange(len(groups)), [sizes[g] for g in groups])
    n = len(group)
    per_customer = {k: np.array([params[g][k] for g in groups], dtype=float)[group] for k in PARAMS}
    T = rng.uniform(1.0, max_age, size=n)
    draws = pm.draw(BetaGeoNBD.dist(a=per_customer["a"], b=per_customer["b"], r=per_customer["r"],
                                    alpha=per_customer["alpha"], T=T), random_seed=rng)
    recency, frequency = draws[:, 0], draws[:, 1]
    nu = rng.gamma(per_customer["q"], 1.0 / per_customer["v"])
    repeats = np.maximum(frequency, 1)
    mean_value = np.where(frequency > 0, rng.gamma(per_customer["p"] * repeats, 1.0 / (repeats * nu)), np.nan)
    names = np.array(groups, dtype=object)[group]
    return pd.DataFrame({"frequency": frequency, "recency": recency, "T": T, "monetary_value": mean_value,
                         "group": names, "parent": [channel_of[g] for g in names]})

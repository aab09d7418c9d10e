"""The hierarchical BG/NBD + Gamma-Gamma model, as a PyMC model on weighted rows.

Purchases (BG/NBD): while alive, a customer buys at rate lambda ~ Gamma(r, alpha);
after each purchase they drop out with probability p ~ Beta(a, b). Spend per
purchase (Gamma-Gamma): each purchase ~ Gamma(p_s, nu), nu ~ Gamma(q, v).

Pooling: for each campaign g in channel k, each of log r, log alpha, log a, log b
and log v is  mu + sigma_channel * z_k + sigma_campaign * z_g  (non-centred), so a
campaign with 50 customers is pulled toward its channel and the population and one
with 50,000 is not. The shape parameters of spend (p_s, q) are shared.

The likelihoods are pymc-marketing's ``BetaGeoNBD`` log-density and the
Gamma-Gamma log-density of mean repeat spend, each row weighted by the number of
identical customers it stands for (a ``pm.Potential``).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc_marketing.clv.distributions import BetaGeoNBD

from models_ltv.summary import Encoded

PURCHASE_PARAMS = ("r", "alpha", "a", "b")


def gamma_gamma_logp(p, q, v, x, mean_value):
    """Log-density of a customer's mean repeat value given x repeat purchases (Fader-Hardie-Lee 2005)."""
    return (pt.gammaln(p * x + q) - pt.gammaln(p * x) - pt.gammaln(q) + q * pt.log(v)
            + (p * x - 1) * pt.log(mean_value) + (p * x) * pt.log(x) - (p * x + q) * pt.log(x * mean_value + v))


def _pooled(name: str, centre: float, spread: float, data: Encoded, two_levels: bool):
    """One parameter per group: log-scale population mean + channel and campaign offsets (non-centred)."""
    mu = pm.Normal(f"{name}_log_mu", centre, spread)
    log_value = mu
    if two_levels:
        sd_parent = pm.HalfNormal(f"{name}_log_sd_channel", 0.5)
        z_parent = pm.Normal(f"{name}_z_channel", 0.0, 1.0, dims="channel")
        log_value = log_value + sd_parent * z_parent[data.group_parent]
    sd_group = pm.HalfNormal(f"{name}_log_sd_campaign", 0.5)
    z_group = pm.Normal(f"{name}_z_campaign", 0.0, 1.0, dims="campaign")
    return pm.Deterministic(name, pt.exp(log_value + sd_group * z_group), dims="campaign")


def build_model(data: Encoded) -> pm.Model:
    """The PyMC model for encoded (weighted) customer summaries."""
    coords = {"campaign": [str(g) for g in data.groups], "channel": [str(p) for p in data.parents]}
    two_levels = len(data.parents) > 1
    # Weakly informative centres in the data's own time unit: the purchase rate scale
    # alpha is of the order of the typical customer age.
    typical_age = float(np.average(data.T, weights=data.weight)) or 1.0
    has_spend = len(data.spend_weight) > 0
    typical_value = float(np.average(data.spend_value, weights=data.spend_weight)) if has_spend else 1.0
    with pm.Model(coords=coords) as model:
        r = _pooled("r", 0.0, 1.5, data, two_levels)
        alpha = _pooled("alpha", np.log(typical_age), 1.5, data, two_levels)
        a = _pooled("a", 0.0, 1.5, data, two_levels)
        b = _pooled("b", 1.0, 1.5, data, two_levels)
        g = data.group_idx
        purchases = BetaGeoNBD.dist(a=a[g], b=b[g], r=r[g], alpha=alpha[g], T=data.T)
        observed = np.stack([data.recency, data.frequency], axis=1)
        pm.Potential("purchases_loglik", (data.weight * pm.logp(purchases, observed)).sum())

        # Spend per repeat purchase, from repeat customers only.
        p_s = pm.Gamma("spend_p", 2.0, 0.5)  # shape of one purchase's value around its customer's mean
        q = pm.Gamma("spend_q", 2.0, 0.5)  # heterogeneity of customers' mean values
        v = _pooled("spend_v", np.log(typical_value * 2.0), 2.0, data, two_levels)
        if has_spend:
            loglik = gamma_gamma_logp(p_s, q, v[data.spend_group_idx], data.spend_frequency, data.spend_value)
            pm.Potential("spend_loglik", (data.spend_weight * loglik).sum())
    return model

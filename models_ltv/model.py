"""The hierarchical BG/NBD + Gamma-Gamma model, as a PyMC model on weighted rows.

Purchases (BG/NBD): while alive, a customer buys at rate lambda ~ Gamma(r, alpha);
after each purchase they drop out with probability p ~ Beta(a, b). Spend per
purchase (Gamma-Gamma): each purchase ~ Gamma(p_s, nu), nu ~ Gamma(q, v).

Parameters the data pin down separately: in the posterior a campaign's r and alpha
move together (their ratio, the mean purchase rate, is what the data see first), and
so do a and b. Each campaign is therefore described by its mean purchase rate r/alpha
and shape r, its mean dropout probability a/(a+b) and concentration a+b, and its spend
scale v; these are what is pooled, on the log scale (logit for the dropout mean).

Pooling: for each campaign g in channel k, each pooled quantity is
mu + sigma_channel * z_k + sigma_campaign * z_g (non-centred), so a campaign with 50
customers is pulled toward its channel and the population and one with 50,000 is not.
A level with a single member is dropped: its spread is not identified (one campaign,
or one campaign per channel, would otherwise leave a funnel for NUTS). The shape
parameters of spend (p_s, q) are shared.

The likelihoods are pymc-marketing's ``BetaGeoNBD`` log-density and the
Gamma-Gamma log-density of mean repeat spend, each row weighted by the number of
identical customers it stands for (a ``pm.Potential``).
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Levels:
    """Which pooling levels the data identify: a level with a single member is dropped."""

    channel: bool  #: offsets per channel: more than one channel
    campaign: bool  #: offsets per campaign inside its channel: more campaigns than channels

    @classmethod
    def of(cls, data: Encoded) -> "Levels":
        campaigns, channels = len(data.groups), len(data.parents)
        return cls(channel=channels > 1, campaign=campaigns > channels)


def _pooled(name: str, centre: float, spread: float, data: Encoded, levels: Levels):
    """One value per campaign on an unconstrained scale: population mean + channel and
    campaign offsets (non-centred)."""
    value = pm.Normal(f"{name}_mu", centre, spread) + pt.zeros(len(data.groups))
    if levels.channel:
        sd_channel = pm.Gamma(f"{name}_sd_channel", 2.0, 4.0)
        z_channel = pm.Normal(f"{name}_z_channel", 0.0, 1.0, dims="channel")
        value = value + sd_channel * z_channel[data.group_parent]
    if levels.campaign:
        sd_campaign = pm.Gamma(f"{name}_sd_campaign", 2.0, 4.0)
        z_campaign = pm.Normal(f"{name}_z_campaign", 0.0, 1.0, dims="campaign")
        value = value + sd_campaign * z_campaign
    return value


def build_model(data: Encoded) -> pm.Model:
    """The PyMC model for encoded (weighted) customer summaries."""
    coords = {"campaign": [str(g) for g in data.groups], "channel": [str(p) for p in data.parents]}
    levels = Levels.of(data)
    # Weakly informative centres in the data's own time unit: the mean purchase rate
    # r/alpha is of the order of one purchase per typical customer age.
    typical_age = float(np.average(data.T, weights=data.weight)) or 1.0
    has_spend = len(data.spend_weight) > 0
    typical_value = float(np.average(data.spend_value, weights=data.spend_weight)) if has_spend else 1.0
    with pm.Model(coords=coords) as model:
        log_rate = _pooled("log_rate", -np.log(typical_age), 1.5, data, levels)
        log_r = _pooled("log_r", 0.0, 1.5, data, levels)
        logit_dropout = _pooled("logit_dropout", -1.0, 1.5, data, levels)
        log_concentration = _pooled("log_concentration", 1.3, 1.5, data, levels)
        r = pm.Deterministic("r", pt.exp(log_r), dims="campaign")
        alpha = pm.Deterministic("alpha", pt.exp(log_r - log_rate), dims="campaign")
        dropout, concentration = pm.math.sigmoid(logit_dropout), pt.exp(log_concentration)
        a = pm.Deterministic("a", dropout * concentration, dims="campaign")
        b = pm.Deterministic("b", (1.0 - dropout) * concentration, dims="campaign")
        g = data.group_idx
        purchases = BetaGeoNBD.dist(a=a[g], b=b[g], r=r[g], alpha=alpha[g], T=data.T)
        observed = np.stack([data.recency, data.frequency], axis=1)
        pm.Potential("purchases_loglik", (data.weight * pm.logp(purchases, observed)).sum())

        # Spend per repeat purchase, from repeat customers only.
        # The mean value of a purchase, p_s * v / (q - 1), is what the data pin down; v
        # alone moves with p_s and q. So campaigns pool their mean value, and v follows.
        p_s = pm.Gamma("spend_p", 2.0, 0.5)  # shape of one purchase's value around its customer's mean
        q = pm.Deterministic("spend_q", 1.0 + pt.exp(pm.Normal("log_spend_q_minus_1", np.log(3.0), 1.0)))
        log_mean_value = _pooled("log_mean_value", np.log(typical_value), 2.0, data, levels)
        v = pm.Deterministic("spend_v", pt.exp(log_mean_value) * (q - 1.0) / p_s, dims="campaign")
        if has_spend:
            loglik = gamma_gamma_logp(p_s, q, v[data.spend_group_idx], data.spend_frequency, data.spend_value)
            pm.Potential("spend_loglik", (data.spend_weight * loglik).sum())
    return model

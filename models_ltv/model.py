"""The hierarchical BG/NBD + Gamma-Gamma model, as PyMC models on weighted rows.

Purchases (BG/NBD): while alive, a customer buys at rate lambda ~ Gamma(r, alpha);
after each purchase they drop out with probability p ~ Beta(a, b). Spend per
purchase (Gamma-Gamma): each purchase ~ Gamma(p_s, nu), nu ~ Gamma(q, v).

Parameters the data pin down separately: in the posterior a campaign's r and alpha
move together (their ratio, the mean purchase rate, is what the data see first), and
so do a and b. Each campaign is therefore described by its mean purchase rate r/alpha
and shape r, its mean dropout probability a/(a+b) and concentration a+b, and its mean
purchase value; these are what is pooled, on the log scale (logit for the dropout mean).

Pooling: for each campaign g in channel k, each pooled quantity is
mu + sigma_channel * z_k + sigma_campaign * z_g. A campaign with few customers is
pulled toward its channel and the population; one with many is not. How a campaign's
term is written depends on how much data it has (``CENTRED_MIN_CUSTOMERS``):

- thin campaigns are non-centred, theta_g = around + sigma * z_g with z_g ~ Normal(0, 1):
  the data say little about z_g, and the prior's funnel between sigma and z is what
  NUTS sees;
- thick campaigns are centred, theta_g ~ Normal(around, sigma): the data pin theta_g,
  and writing it as sigma * z_g would tie z_g to sigma in a narrow curved ridge instead.

Channels stay non-centred (centring them as well gave 3 divergent transitions at a
million customers).

A level with a single member is dropped: its spread is not identified (one campaign,
or one campaign per channel, would otherwise leave a funnel for NUTS). The shape
parameters of spend (p_s, q) are shared.

The purchase and spend likelihoods share no parameter, so their posteriors factorise:
``build_model(data, part=...)`` builds either half, or both. The likelihoods are in
``models_ltv.likelihood``: the per-customer formulas, summed by cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from models_ltv.likelihood import PurchaseStats, SpendStats, purchases_loglik, spend_loglik
from models_ltv.summary import Encoded

PURCHASE_PARAMS = ("r", "alpha", "a", "b")
#: The model's parts: each can be fitted on its own, their posteriors being independent.
PARTS = ("purchases", "spend")
#: Campaigns with at least this many customers are written centred (see above).
CENTRED_MIN_CUSTOMERS = 2500


@dataclass(frozen=True)
class Levels:
    """Which pooling levels the data identify, and which members are written centred."""

    channel: bool  #: offsets per channel: more than one channel
    campaign: bool  #: offsets per campaign inside its channel: more campaigns than channels
    centred_campaigns: np.ndarray  #: per campaign: enough customers to be written centred

    @classmethod
    def of(cls, data: Encoded, centred_min_customers: float = CENTRED_MIN_CUSTOMERS) -> "Levels":
        campaigns, channels = len(data.groups), len(data.parents)
        customers = np.bincount(data.group_idx, weights=data.weight, minlength=campaigns)
        return cls(channel=channels > 1, campaign=campaigns > channels,
                   centred_campaigns=customers >= centred_min_customers)


def _members(name: str, around, spread, centred: np.ndarray):
    """One value per member of a level, drawn around ``around`` (one value per member)
    with ``spread``: non-centred (around + spread * z) for thin members, centred for thick ones."""
    value = around
    thin, thick = np.flatnonzero(~centred), np.flatnonzero(centred)
    if len(thin):
        z = pm.Normal(f"{name}_z", 0.0, 1.0, shape=len(thin))
        value = pt.set_subtensor(value[thin], around[thin] + spread * z)
    if len(thick):
        value = pt.set_subtensor(value[thick], pm.Normal(name, around[thick], spread))
    return value


def _pooled(name: str, centre: float, spread: float, data: Encoded, levels: Levels):
    """One value per campaign on an unconstrained scale: population mean, channel offset
    (non-centred: a handful of channels says little about their spread) and campaign
    offset, centred or not by how much data the campaign has."""
    value = pm.Normal(f"{name}_mu", centre, spread) + pt.zeros(len(data.groups))
    if levels.channel:
        sd_channel = pm.Gamma(f"{name}_sd_channel", 2.0, 4.0)
        z_channel = pm.Normal(f"{name}_z_channel", 0.0, 1.0, dims="channel")
        value = value + sd_channel * z_channel[data.group_parent]
    if levels.campaign:
        sd_campaign = pm.Gamma(f"{name}_sd_campaign", 2.0, 4.0)
        value = _members(f"{name}_campaign", value, sd_campaign, levels.centred_campaigns)
    return value


def build_model(data: Encoded, part: str | None = None,
                centred_min_customers: float = CENTRED_MIN_CUSTOMERS) -> pm.Model:
    """The PyMC model for encoded (weighted) customer summaries: both parts, or one of ``PARTS``."""
    if part not in (None, *PARTS):
        raise ValueError(f"model part {part!r} is not one of {', '.join(PARTS)}")
    coords = {"campaign": [str(g) for g in data.groups], "channel": [str(p) for p in data.parents]}
    levels = Levels.of(data, centred_min_customers)
    with pm.Model(coords=coords) as model:
        if part in (None, "purchases"):
            _purchases(data, levels)
        if part in (None, "spend"):
            _spend(data, levels)
    return model


def _purchases(data: Encoded, levels: Levels) -> None:
    # Weakly informative centres in the data's own time unit: the mean purchase rate
    # r/alpha is of the order of one purchase per typical customer age.
    typical_age = float(np.average(data.T, weights=data.weight)) or 1.0
    log_rate = _pooled("log_rate", -np.log(typical_age), 1.5, data, levels)
    log_r = _pooled("log_r", 0.0, 1.5, data, levels)
    logit_dropout = _pooled("logit_dropout", -1.0, 1.5, data, levels)
    log_concentration = _pooled("log_concentration", 1.3, 1.5, data, levels)
    r = pm.Deterministic("r", pt.exp(log_r), dims="campaign")
    alpha = pm.Deterministic("alpha", pt.exp(log_r - log_rate), dims="campaign")
    dropout, concentration = pm.math.sigmoid(logit_dropout), pt.exp(log_concentration)
    a = pm.Deterministic("a", dropout * concentration, dims="campaign")
    b = pm.Deterministic("b", (1.0 - dropout) * concentration, dims="campaign")
    pm.Potential("purchases_loglik", purchases_loglik(r, alpha, a, b, PurchaseStats.of(data)))


def _spend(data: Encoded, levels: Levels) -> None:
    # Spend per repeat purchase, from repeat customers only.
    # The mean value of a purchase, p_s * v / (q - 1), is what the data pin down; v
    # alone moves with p_s and q. So campaigns pool their mean value, and v follows.
    has_spend = len(data.spend_weight) > 0
    typical_value = float(np.average(data.spend_value, weights=data.spend_weight)) if has_spend else 1.0
    p_s = pm.Gamma("spend_p", 2.0, 0.5)  # shape of one purchase's value around its customer's mean
    q = pm.Deterministic("spend_q", 1.0 + pt.exp(pm.Normal("log_spend_q_minus_1", np.log(3.0), 1.0)))
    log_mean_value = _pooled("log_mean_value", np.log(typical_value), 2.0, data, levels)
    v = pm.Deterministic("spend_v", pt.exp(log_mean_value) * (q - 1.0) / p_s, dims="campaign")
    if has_spend:
        pm.Potential("spend_loglik", spend_loglik(p_s, q, v, SpendStats.of(data)))

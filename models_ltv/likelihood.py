"""The BG/NBD and Gamma-Gamma log-likelihoods, summed over weighted rows, with every
term that depends on the data only through a count or a sum computed once per cell.

The per-customer formulas are the usual ones (Fader, Hardie and Lee 2005; the same as
pymc-marketing's ``BetaGeoNBD`` and ``GammaGammaModel``, which the tests compare with).
What changes is the bookkeeping. A customer's BG/NBD log-likelihood is

    lnG(r+x) - lnG(r) + r ln(alpha) + lnB(a, b+x) - lnB(a, b)
        + ln[ (alpha+T)^-(r+x) + [x>0] a/(b+x-1) (alpha+t_x)^-(r+x) ]

The first line depends on the customer only through (campaign, x), so it is evaluated
once per (campaign, x) cell and multiplied by the cell's customer count: about 3,000
log-gamma calls at a million customers instead of one per row. Customers with x = 0
reduce to -r ln(alpha+T), summed per (campaign, T). Only repeat customers need a row
each, and a row costs two logarithms and a log-sum-exp.

The Gamma-Gamma log-density of a repeat customer's mean value z with x purchases is

    lnG(px+q) - lnG(px) - lnG(q) + q ln v + (px-1) ln z + px ln x - (px+q) ln(xz + v)

Everything but the last term is a per-x cell term or an exact sufficient statistic
(the weighted sums of ln z and x ln z); the last term costs one logarithm per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytensor.tensor as pt

from models_ltv.summary import Encoded


@dataclass(frozen=True)
class PurchaseStats:
    """The purchase rows of an ``Encoded`` summary, regrouped for ``purchases_loglik``."""

    group_weight: np.ndarray  #: customers per campaign
    cell_group: np.ndarray  #: (campaign, x) cells with x > 0
    cell_x: np.ndarray
    cell_weight: np.ndarray
    once_group: np.ndarray  #: (campaign, T) cells of customers with x = 0
    once_T: np.ndarray
    once_weight: np.ndarray
    repeat_cell: np.ndarray  #: rows of customers with x > 0: their cell, t_x, T, weight
    repeat_recency: np.ndarray
    repeat_T: np.ndarray
    repeat_weight: np.ndarray

    @classmethod
    def of(cls, data: Encoded) -> "PurchaseStats":
        rows = pd.DataFrame({"group": data.group_idx, "x": data.frequency, "t": data.recency, "T": data.T,
                             "weight": data.weight})
        group_weight = np.bincount(rows["group"], weights=rows["weight"], minlength=len(data.groups))
        once = rows[rows["x"] == 0].groupby(["group", "T"], sort=True)["weight"].sum().reset_index()
        repeat = rows[rows["x"] > 0]
        cells = repeat.groupby(["group", "x"], sort=True)["weight"].sum().reset_index()
        cell_of = pd.MultiIndex.from_frame(cells[["group", "x"]])
        return cls(
            group_weight=group_weight,
            cell_group=cells["group"].to_numpy("int64"), cell_x=cells["x"].to_numpy(float),
            cell_weight=cells["weight"].to_numpy(float),
            once_group=once["group"].to_numpy("int64"), once_T=once["T"].to_numpy(float),
            once_weight=once["weight"].to_numpy(float),
            repeat_cell=cell_of.get_indexer(pd.MultiIndex.from_frame(repeat[["group", "x"]])).astype("int64"),
            repeat_recency=repeat["t"].to_numpy(float), repeat_T=repeat["T"].to_numpy(float),
            repeat_weight=repeat["weight"].to_numpy(float),
        )


def purchases_loglik(r, alpha, a, b, stats: PurchaseStats):
    """Summed BG/NBD log-likelihood; r, alpha, a, b hold one value per campaign."""
    g, x = stats.cell_group, stats.cell_x
    r_x, b_x = r[g] + x, b[g] + x
    per_cell = (pt.gammaln(r_x) - pt.gammaln(r[g]) + pt.gammaln(b_x) - pt.gammaln(b[g])
                + pt.gammaln(a[g] + b[g]) - pt.gammaln(a[g] + b_x))
    total = (stats.cell_weight * per_cell).sum() + (stats.group_weight * r * pt.log(alpha)).sum()
    once = stats.once_group
    total -= (stats.once_weight * r[once] * pt.log(alpha[once] + stats.once_T)).sum()
    # Repeat customers: ln[(alpha+T)^-(r+x) + a/(b+x-1) (alpha+t_x)^-(r+x)].
    log_odds = pt.log(a[g]) - pt.log(b_x - 1.0)  # per cell: the dropout-after-last-purchase term
    cell, alpha_row, r_x_row = stats.repeat_cell, alpha[g][stats.repeat_cell], r_x[stats.repeat_cell]
    alive = -r_x_row * pt.log(alpha_row + stats.repeat_T)
    dropped = log_odds[cell] - r_x_row * pt.log(alpha_row + stats.repeat_recency)
    return total + (stats.repeat_weight * pt.logaddexp(alive, dropped)).sum()


@dataclass(frozen=True)
class SpendStats:
    """The spend rows of an ``Encoded`` summary, regrouped for ``spend_loglik``."""

    group_weight: np.ndarray  #: repeat customers per campaign
    x_values: np.ndarray  #: distinct repeat counts and their customers
    x_weight: np.ndarray
    sum_log_value: float  #: sum over customers of ln z
    sum_x_log_value: float  #: sum over customers of x ln z
    row_group: np.ndarray  #: rows: campaign, x, total spend x z, weight
    row_x: np.ndarray
    row_total: np.ndarray
    row_weight: np.ndarray

    @classmethod
    def of(cls, data: Encoded) -> "SpendStats":
        x, z, w = data.spend_frequency, data.spend_value, data.spend_weight
        x_values, x_index = np.unique(x, return_inverse=True)
        return cls(
            group_weight=np.bincount(data.spend_group_idx, weights=w, minlength=len(data.groups)),
            x_values=x_values, x_weight=np.bincount(x_index, weights=w, minlength=len(x_values)),
            sum_log_value=float((w * np.log(z)).sum()), sum_x_log_value=float((w * x * np.log(z)).sum()),
            row_group=data.spend_group_idx, row_x=x, row_total=x * z, row_weight=w,
        )


def spend_loglik(p, q, v, stats: SpendStats):
    """Summed Gamma-Gamma log-likelihood of mean repeat values; p, q shared, v per campaign."""
    px = p * stats.x_values
    per_x = pt.gammaln(px + q) - pt.gammaln(px) + px * np.log(stats.x_values)
    total = ((stats.x_weight * per_x).sum() - stats.x_weight.sum() * pt.gammaln(q)
             + q * (stats.group_weight * pt.log(v)).sum() + p * stats.sum_x_log_value - stats.sum_log_value)
    return total - (stats.row_weight * (p * stats.row_x + q) * pt.log(stats.row_total + v[stats.row_group])).sum()

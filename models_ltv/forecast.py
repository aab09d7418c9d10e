"""Campaign LTV forecasts: predictive intervals simulated from the posterior.

For each posterior draw and each paying customer, the customer's future is drawn
from the model given their history: alive or not (BG/NBD), their purchase rate
and dropout probability (conditional on their history), the purchases in the
window (Poisson arrivals stopped at the first dropout), and the value of each
(Gamma-Gamma, conditional on their mean spend). Summing over customers and
taking quantiles over draws gives *predictive* intervals of campaign revenue,
not the spread of an expectation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models_ltv.fit import Fit
from models_ltv.prospects import Prospects

HORIZONS_DAYS = (30, 90, 180, 365)
QUANTILES = (0.1, 0.5, 0.9)
PAYBACK_GRID_DAYS = tuple(range(7, 366, 7)) + (365,)


@dataclass
class ForecastInput:
    """What a forecast needs besides the posterior.

    ``customers``: one row per paying customer (or identical group of them, ``weight``)
    with ``group``, ``frequency``, ``recency``, ``T``, ``monetary_value`` and ``age``
    (time since acquisition), times in the model's unit.
    ``groups``: ``group``, ``users`` (acquired, paying or not), ``spend``.
    ``observed``: cumulative observed revenue per ``group`` by ``day`` since acquisition
    (whole days elapsed, 0..365), already net of cancellations and counting first purchases.
    ``unit_days``: days per model time unit (1 or 7).
    ``prospects``: first purchases still to come; each new payer is worth, draw by draw,
    what the campaign's current payers are worth by the same horizon.
    """

    customers: pd.DataFrame
    groups: pd.DataFrame
    observed: pd.DataFrame
    unit_days: float = 1.0
    #: Users not paying yet who will still buy (``models_ltv.prospects``); None: not counted.
    prospects: Prospects | None = None

    def observed_by(self, day: int) -> pd.Series:
        """Revenue of purchases made less than ``day`` days after each customer's acquisition."""
        upto = self.observed[self.observed["day"] < day]
        latest = upto.sort_values("day").groupby("group")["revenue"].last()
        return latest.reindex(self.groups["group"]).fillna(0.0)


def _draw_index(total: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(total, size=min(draws, total), replace=False))


class Simulator:
    """Future purchases and revenue of every paying customer, for a set of posterior draws."""

    def __init__(self, fit: Fit, inputs: ForecastInput, draws: int, seed: int):
        rng = np.random.default_rng(seed)
        self.rng = rng
        groups = [str(g) for g in fit.idata.posterior["campaign"].to_numpy()]
        c = inputs.customers
        self.weight = c["weight"].to_numpy(int)
        expand = np.repeat(np.arange(len(c)), self.weight)  # one entry per customer
        self.group = pd.Categorical(c["group"].astype(str), categories=groups).codes[expand]
        if (self.group < 0).any():
            raise ValueError("forecast customers include a campaign the model was not fitted on")
        self.x = c["frequency"].to_numpy(float)[expand]
        self.t_x = c["recency"].to_numpy(float)[expand]
        self.T = c["T"].to_numpy(float)[expand]
        self.z = np.nan_to_num(c["monetary_value"].to_numpy(float)[expand])
        self.age = c["age"].to_numpy(float)[expand]
        total = fit.posterior("r").shape[0]
        pick = _draw_index(total, draws, rng)
        self.params = {name: fit.posterior(name)[pick] for name in ("r", "alpha", "a", "b", "spend_v")}
        self.spend_p = fit.posterior("spend_p")[pick].reshape(-1)
        self.spend_q = fit.posterior("spend_q")[pick].reshape(-1)
        self.n_groups = len(groups)
        self.unit_days = inputs.unit_days

    @property
    def draws(self) -> int:
        return len(self.spend_p)

    def future(self, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per draw and campaign: (purchases, revenue) in each customer's future ``window`` (model units)."""
        purchases = np.zeros((self.draws, self.n_groups))
        revenue = np.zeros((self.draws, self.n_groups))
        rng, g, x = self.rng, self.group, self.x
        for d in range(self.draws):
            r, alpha, a, b, v = (self.params[k][d][g] for k in ("r", "alpha", "a", "b", "spend_v"))
            odds_dead = np.where(x > 0, a / (b + x - 1) * ((alpha + self.T) / (alpha + self.t_x)) ** (r + x), 0.0)
            alive = rng.random(len(x)) < 1.0 / (1.0 + odds_dead)
            rate = rng.gamma(r + x, 1.0 / (alpha + self.T))
            dropout = np.clip(rng.beta(a, b + x), 1e-12, 1.0)  # a Beta draw can underflow to 0
            arrivals = rng.poisson(rate * window)
            until_dropout = rng.geometric(dropout)
            count = np.where(alive, np.minimum(arrivals, until_dropout), 0)
            p_s, q = self.spend_p[d], self.spend_q[d]
            nu = rng.gamma(p_s * x + q, 1.0 / (v + x * self.z))
            value = np.where(count > 0, rng.gamma(np.maximum(count * p_s, 1e-12), 1.0 / nu), 0.0)
            purchases[d] = np.bincount(g, weights=count, minlength=self.n_groups)
            revenue[d] = np.bincount(g, weights=value, minlength=self.n_groups)
        return purchases, revenue

    def since_acquisition(self, days: float):
        """Futures up to ``days`` after each customer's acquisition (nothing for those older)."""
        return self.future(np.maximum(0.0, days / self.unit_days - self.age))

    def from_as_of(self, days: float):
        return self.future(np.full(len(self.x), days / self.unit_days))


def _quantiles(samples: np.ndarray) -> np.ndarray:
    return np.quantile(samples, QUANTILES, axis=0)


def forecast(fit: Fit, inputs: ForecastInput, horizons=HORIZONS_DAYS, draws: int = 200,
             seed: int = 0) -> pd.DataFrame:
    """One row per campaign, horizon and basis (``since_acquisition`` or ``from_as_of``)."""
    sim = Simulator(fit, inputs, draws, seed)
    groups = inputs.groups.set_index(inputs.groups["group"].astype(str))
    names = [str(g) for g in fit.idata.posterior["campaign"].to_numpy()]
    users = groups["users"].reindex(names).to_numpy(float)
    spend = groups["spend"].reindex(names).fillna(0.0).to_numpy(float)
    payers = np.bincount(sim.group, minlength=len(names)).astype(float)
    newcomers = _Newcomers(inputs.prospects, names, payers, np.random.default_rng(seed + 2))
    # Since acquisition first: what a payer is worth by each horizon also prices the newcomers.
    since = {}
    for horizon in horizons:
        purchases, future = sim.since_acquisition(horizon)
        observed = inputs.observed_by(horizon).reindex(names).fillna(0.0).to_numpy(float)
        since[horizon] = (purchases, observed + future)
    rows = []
    for basis in ("since_acquisition", "from_as_of"):
        for horizon in horizons:
            if basis == "since_acquisition":
                purchases, total = since[horizon]
                observed = inputs.observed_by(horizon).reindex(names).fillna(0.0).to_numpy(float)
            else:
                purchases, total = sim.from_as_of(horizon)
                observed = np.zeros(len(names))
            extra_revenue, extra_purchases = newcomers.draw(horizon, basis, *since[horizon])
            total, purchases = total + extra_revenue, purchases + extra_purchases
            q_total = _quantiles(total)
            for i, name in enumerate(names):
                per_user = q_total[:, i] / users[i] if users[i] else np.full(3, np.nan)
                roas = q_total[:, i] / spend[i] if spend[i] else np.full(3, np.nan)
                rows.append({
                    "campaign": name, "basis": basis, "horizon_days": int(horizon), "users": int(users[i]),
                    "expected_purchases": float(purchases[:, i].mean()),
                    "revenue_observed": float(observed[i]),
                    "revenue_p10": q_total[0, i], "revenue_p50": q_total[1, i], "revenue_p90": q_total[2, i],
                    "revenue_per_user_p10": per_user[0], "revenue_per_user_p50": per_user[1],
                    "revenue_per_user_p90": per_user[2], "spend": spend[i],
                    "roas_p10": roas[0], "roas_p50": roas[1], "roas_p90": roas[2],
                })
    out = pd.DataFrame(rows)
    # The payback curve needs many horizons: fewer draws keep it cheap (a median, not a tail).
    payback = payback_days(Simulator(fit, inputs, min(draws, 40), seed + 1), inputs, names, spend, newcomers)
    out["payback_day"] = out["campaign"].map(payback)
    return out


class _Newcomers:
    """Revenue of first purchases still to come: a Poisson number of new payers per draw,
    each worth what the campaign's current payers are worth by the horizon in that draw."""

    def __init__(self, prospects: Prospects | None, names: list[str], payers: np.ndarray, rng):
        self.prospects, self.payers, self.rng = prospects, payers, rng
        if prospects is not None and list(prospects.groups) != names:
            raise ValueError("prospects are not in the model's campaign order")

    def expected(self, horizon: float, basis: str) -> np.ndarray:
        if self.prospects is None:
            return np.zeros(len(self.payers))
        return self.prospects.expected_new_payers(horizon, basis)

    #: A campaign's value per payer is shrunk toward all campaigns' with this many payers'
    #: weight: a campaign with one payer so far does not price its newcomers on that one.
    PRIOR_PAYERS = 20.0

    def _per_payer(self, values: np.ndarray) -> np.ndarray:
        overall = values.sum(axis=-1, keepdims=True) / max(self.payers.sum(), 1.0)
        return (values + self.PRIOR_PAYERS * overall) / (self.payers + self.PRIOR_PAYERS)

    def draw(self, horizon, basis, purchases_since, revenue_since):
        expected = self.expected(horizon, basis)
        if not expected.any():
            return 0.0, 0.0
        count = self.rng.poisson(np.broadcast_to(expected, revenue_since.shape))
        # A new payer makes their first purchase, then buys like the payers before them.
        return count * self._per_payer(revenue_since), count * (1.0 + self._per_payer(purchases_since))

    def mean_revenue(self, horizon, revenue_since) -> np.ndarray:
        return self.expected(horizon, "since_acquisition") * self._per_payer(revenue_since)


def payback_days(sim: Simulator, inputs: ForecastInput, names: list[str], spend: np.ndarray,
                 newcomers: _Newcomers | None = None) -> dict[str, float]:
    """First day since acquisition on which the median predicted revenue covers the spend (NaN: not within 365)."""
    result = {name: np.nan for name in names}
    for day in PAYBACK_GRID_DAYS:
        _, future = sim.since_acquisition(day)
        observed = inputs.observed_by(day).reindex(names).fillna(0.0).to_numpy(float)
        revenue = observed + future
        if newcomers is not None:
            revenue = revenue + newcomers.mean_revenue(day, revenue)
        median = np.median(revenue, axis=0)
        for i, name in enumerate(names):
            if np.isnan(result[name]) and spend[i] > 0 and median[i] >= spend[i]:
                result[name] = float(day)
    return result

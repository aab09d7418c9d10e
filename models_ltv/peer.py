"""The peer the backtest compares against: pymc-marketing's stock ``BetaGeoModel`` and
``GammaGammaModel`` fitted per campaign, with no pooling.

It is what an analyst would write in a notebook: one BG/NBD and one Gamma-Gamma fit
per campaign on one row per customer, then expected purchases times expected spend.
It gives point forecasts (posterior means), not intervals.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from models_ltv.forecast import HORIZONS_DAYS, ForecastInput


def _expand(customers: pd.DataFrame) -> pd.DataFrame:
    """Weighted rows back to one row per customer, with a ``customer_id``."""
    rows = customers.loc[customers.index.repeat(customers["weight"].astype(int))].reset_index(drop=True)
    return rows.assign(customer_id=np.arange(len(rows)))


def fit_campaign(rows: pd.DataFrame, method: str, seed: int, draws: int):
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    sampler = {"draws": draws, "tune": draws, "chains": 2, "cores": 1, "nuts_sampler": "nutpie"}
    kwargs = {"method": method, "progressbar": False, "random_seed": seed}
    purchases = BetaGeoModel(sampler_config=sampler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        purchases.fit(rows[["customer_id", "frequency", "recency", "T"]], **kwargs)
        repeaters = rows[rows["frequency"] > 0]
        spend = None
        if len(repeaters) >= 2:
            spend = GammaGammaModel(sampler_config=sampler)
            spend.fit(repeaters[["customer_id", "frequency", "monetary_value"]], **kwargs)
    return purchases, spend


def _expected_spend(spend_model, rows: pd.DataFrame) -> np.ndarray:
    """Posterior-mean expected value per purchase; the campaign's mean where the fit has none."""
    fallback = float(rows["monetary_value"].mean()) if rows["monetary_value"].notna().any() else 0.0
    if spend_model is None:
        return np.full(len(rows), fallback)
    data = rows.assign(monetary_value=rows["monetary_value"].fillna(0.0))
    values = spend_model.expected_customer_spend(data).mean(("chain", "draw")).to_numpy()
    # With q <= 1 the population mean (for customers without repeats) is undefined.
    return np.where(np.isfinite(values) & (values > 0), values, fallback)


def peer_forecast(inputs: ForecastInput, horizons=HORIZONS_DAYS, method: str = "mcmc", seed: int = 0,
                  draws: int = 500, progress=print) -> pd.DataFrame:
    """Per campaign and horizon since acquisition: predicted revenue (observed so far plus
    expected future), from separate stock fits per campaign."""
    customers = _expand(inputs.customers)
    groups = inputs.groups.set_index(inputs.groups["group"].astype(str))
    rows = []
    for name, campaign in customers.groupby(customers["group"].astype(str), sort=True):
        campaign = campaign.assign(customer_id=np.arange(len(campaign)))
        try:
            purchases, spend = fit_campaign(campaign, method, seed, draws)
        except Exception as exc:  # a stock fit can fail on a tiny campaign: no forecast, said so
            progress(f"peer fit of {name} failed ({type(exc).__name__}); no peer forecast for it")
            continue
        value = _expected_spend(spend, campaign)
        for horizon in horizons:
            window = np.maximum(0.0, horizon / inputs.unit_days - campaign["age"].to_numpy(float))
            expected = purchases.expected_purchases(campaign[["customer_id", "frequency", "recency", "T"]],
                                                    future_t=window).mean(("chain", "draw")).to_numpy()
            future = float(np.sum(np.nan_to_num(expected) * value))
            observed = float(inputs.observed_by(horizon).get(name, 0.0))
            users = float(groups["users"].get(name, np.nan))
            rows.append({"campaign": name, "horizon_days": int(horizon), "users": users,
                         "revenue": observed + future, "revenue_per_user": (observed + future) / users})
    return pd.DataFrame(rows)

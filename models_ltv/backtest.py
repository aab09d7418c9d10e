"""Backtest scores: forecasts made at past as-of dates against the revenue realised later.

Pure functions on frames, so the same scoring serves the generated data (whose ground
truth knows every future purchase) and any data set with a known outcome.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Campaigns at least this large are "large" in the summary (the rest borrow strength).
LARGE_CAMPAIGN_USERS = 500


def score(forecasts: pd.DataFrame, realised: pd.DataFrame, peer: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per as-of date, campaign and horizon.

    ``forecasts``: ``as_of_date``, ``campaign``, ``horizon_days``, ``users`` and
    ``revenue_p10/p50/p90`` (since acquisition); ``realised``: ``as_of_date``,
    ``campaign``, ``horizon_days``, ``revenue`` (what the same users really spent within
    the horizon); ``peer``: optional ``as_of_date``, ``campaign``, ``horizon_days``,
    ``revenue`` of the peer model.
    """
    keys = ["as_of_date", "campaign", "horizon_days"]
    table = forecasts[keys + ["users", "revenue_p10", "revenue_p50", "revenue_p90"]].merge(
        realised[keys + ["revenue"]].rename(columns={"revenue": "actual"}), on=keys, how="inner")
    if peer is not None and len(peer):
        table = table.merge(peer[keys + ["revenue"]].rename(columns={"revenue": "peer"}), on=keys, how="left")
    else:
        table["peer"] = np.nan
    table = table[table["actual"] > 0].copy()
    table["error"] = (table["revenue_p50"] - table["actual"]) / table["actual"]  # signed: bias
    table["abs_error"] = table["error"].abs()
    table["peer_abs_error"] = ((table["peer"] - table["actual"]) / table["actual"]).abs()
    table["covered_80"] = (table["revenue_p10"] <= table["actual"]) & (table["actual"] <= table["revenue_p90"])
    table["large"] = table["users"] >= LARGE_CAMPAIGN_USERS
    # Revenue per user is revenue over the same users, so its relative error is the same.
    table["actual_per_user"] = table["actual"] / table["users"]
    table["predicted_per_user"] = table["revenue_p50"] / table["users"]
    return table.sort_values(keys).reset_index(drop=True)


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per horizon and campaign size: the figures the targets are stated in."""
    rows = []
    for (horizon, large), part in table.groupby(["horizon_days", "large"], sort=True):
        weighted = float((part["revenue_p50"] - part["actual"]).abs().sum() / part["actual"].sum())
        rows.append({
            "horizon_days": int(horizon), "campaigns": "users >= 500" if large else "users < 500",
            "forecasts": len(part), "median_abs_error": float(part["abs_error"].median()),
            "bias": float(part["error"].median()), "revenue_weighted_error": weighted,
            "coverage_80": float(part["covered_80"].mean()),
            "peer_median_abs_error": float(part["peer_abs_error"].median()) if part["peer"].notna().any() else np.nan,
        })
    return pd.DataFrame(rows)


def format_summary(summary: pd.DataFrame) -> str:
    lines = [f"{'horizon':>8} {'campaigns':<13} {'n':>4} {'median |err|':>13} {'bias':>8} "
             f"{'rev-weighted':>13} {'80% covered':>12} {'peer |err|':>11}"]
    for row in summary.itertuples(index=False):
        peer = f"{row.peer_median_abs_error:>11.1%}" if not np.isnan(row.peer_median_abs_error) else f"{'-':>11}"
        lines.append(f"{row.horizon_days:>7}d {row.campaigns:<13} {row.forecasts:>4} {row.median_abs_error:>13.1%} "
                     f"{row.bias:>+8.1%} {row.revenue_weighted_error:>13.1%} {row.coverage_80:>12.0%} {peer}")
    return "\n".join(lines)

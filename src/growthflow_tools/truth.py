"""What the synthetic source's ground truth says users really spent: the yardstick of
the LTV backtest.

The generator simulates purchases for ``horizon_days`` (400) after its window, so
the revenue realised 90 or 180 days after acquisition is known for every user. Money
is netted and converted exactly as the warehouse does: a cancel belongs to its
charge, USD converts at the rate of the charge's Seoul date.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from growthflow.errors import GrowthflowError
from growthflow.fx import usd_krw

SEOUL = "Asia/Seoul"


def _read(truth: Path, name: str, columns: list[str]) -> pd.DataFrame:
    path = truth / name
    if not path.exists():
        raise GrowthflowError(f"no ground truth at {path}: generate data with `bin/growthflow generate` "
                              "(or pass --truth the folder it wrote)")
    return pd.read_csv(path, usecols=columns, dtype=str, keep_default_na=False)


def load_truth(truth: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(users: user key, campaign, install time and Seoul date; charges: user, time, net KRW).

    Charges carry ``cancels``, a list of (time, KRW) so a cutoff can count only the
    cancels booked by then.
    """
    users = _read(truth, "users.csv.gz", ["anonymous_id", "user_id", "campaign_id", "install_at"])
    users["installed_at"] = pd.to_datetime(users["install_at"], utc=True)
    users["install_date"] = users["installed_at"].dt.tz_convert(SEOUL).dt.date
    pays = _read(truth, "purchases.csv.gz", ["payment_id", "type", "original_payment_id", "user_id", "occurred_at",
                                              "amount", "currency"])
    pays["at"] = pd.to_datetime(pays["occurred_at"], utc=True)
    charges = pays[pays["type"] == "charge"].copy()
    charges["charge_date"] = charges["at"].dt.tz_convert(SEOUL).dt.date
    rate = {day: usd_krw(day) for day in charges["charge_date"].unique()}
    charges["rate"] = np.where(charges["currency"] == "KRW", 1.0, charges["charge_date"].map(rate).astype(float))
    charges["krw"] = (charges["amount"].astype(float) * charges["rate"]).round(2)
    cancels = pays[pays["type"] == "cancel"].merge(
        charges[["payment_id", "rate"]].rename(columns={"payment_id": "original_payment_id"}), on="original_payment_id")
    cancels["krw"] = (cancels["amount"].astype(float) * cancels["rate"]).round(2)
    return users, charges[["payment_id", "user_id", "at", "krw"]], cancels[["original_payment_id", "at", "krw"]]


def realised_revenue(truth: Path, as_of_dates: list[dt.date], horizons: tuple[int, ...],
                     until: pd.Timestamp | None = None) -> pd.DataFrame:
    """Per as-of date, campaign and horizon: users acquired by the as-of date (Seoul) and
    the net revenue of their purchases made less than ``horizon`` days after their install.

    ``until``: count only charges and cancels before this instant (to compare with what
    the warehouse had seen by then); default: everything the truth knows.
    """
    users, charges, cancels = load_truth(truth)
    if until is not None:
        charges, cancels = charges[charges["at"] < until], cancels[cancels["at"] < until]
    cancelled = cancels.groupby("original_payment_id")["krw"].sum()
    charges = charges.assign(net=charges["krw"] - charges["payment_id"].map(cancelled).fillna(0.0))
    paid = users[users["campaign_id"] != ""]
    purchases = charges.merge(paid[paid["user_id"] != ""][["user_id", "campaign_id", "installed_at", "install_date"]],
                              on="user_id")
    elapsed_days = (purchases["at"] - purchases["installed_at"]).dt.total_seconds() / 86400.0
    rows = []
    for as_of in as_of_dates:
        acquired = paid[paid["install_date"] <= as_of].groupby("campaign_id").size()
        mine = purchases[purchases["install_date"] <= as_of]
        for horizon in horizons:
            revenue = mine[elapsed_days.loc[mine.index] < horizon].groupby("campaign_id")["net"].sum()
            for campaign, count in acquired.items():
                rows.append({"as_of_date": as_of, "campaign": campaign, "horizon_days": int(horizon),
                             "users": int(count), "revenue": float(revenue.get(campaign, 0.0))})
    return pd.DataFrame(rows)

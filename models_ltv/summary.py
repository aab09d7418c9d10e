"""Per-customer summaries in, weighted rows out.

The model accepts any frame with one row per customer (or per group of identical
customers, with a ``weight``):

=================  ==========================================================
``frequency``      repeat purchases after the first (x)
``recency``        time from the first to the last purchase (t_x; 0 when x = 0)
``T``              time from the first purchase to the as-of date
``monetary_value`` mean value of the repeat purchases (needed when x > 0)
``group``          optional: the campaign (any label); one group when absent
``parent``         optional: the group's parent (the channel), for two-level pooling
``weight``         optional: how many identical customers the row stands for
=================  ==========================================================

Times are in any unit (days, weeks) as long as all three agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

REQUIRED = ("frequency", "recency", "T")


class SummaryError(ValueError):
    """The summary frame cannot be modelled; the message says which column and why."""


def validate(frame: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise SummaryError(f"customer summary lacks column(s) {', '.join(missing)}")
    df = frame.copy()
    if "group" not in df:
        df["group"] = "all"
    if "parent" not in df:
        df["parent"] = "all"
    if "weight" not in df:
        df["weight"] = 1
    if "monetary_value" not in df:
        df["monetary_value"] = np.nan
    for column in ("frequency", "recency", "T", "weight"):
        if df[column].isna().any() or (df[column] < 0).any():
            raise SummaryError(f"column {column!r} must be non-negative with no missing values")
    if "age" in df.columns and (df["age"].isna() | (df["age"] < df["T"] - 1e-9)).any():
        raise SummaryError("column 'age' (time since acquisition) must be known and at least T for every customer")
    if (df["recency"] > df["T"] + 1e-9).any():
        raise SummaryError("recency exceeds T for some customers: the last purchase is after the as-of date")
    if ((df["frequency"] == 0) & (df["recency"] > 0)).any():
        raise SummaryError("customers with no repeat purchase must have recency 0")
    repeaters = df["frequency"] > 0
    if (repeaters & ~(df["monetary_value"] > 0)).any():
        raise SummaryError("repeat customers need a positive monetary_value (mean repeat value, net of cancels)")
    if df.groupby("group", observed=True)["parent"].nunique().max() > 1:
        raise SummaryError("each group must belong to exactly one parent")
    return df


def collapse(frame: pd.DataFrame, value_decimals: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Identical customers inside a group become one row with their count as ``weight``.

    Returns two frames: purchase rows keyed by (group, frequency, recency, T) for the
    BG/NBD part, and spend rows of repeat customers keyed by (group, frequency,
    monetary_value rounded to ``value_decimals``) for the Gamma-Gamma part. Keeping them
    apart is what makes collapsing work: spend differs between customers whose
    purchase histories are identical.
    """
    df = validate(frame)
    purchases = (df.groupby(["group", "parent", "frequency", "recency", "T"], observed=True, sort=True)["weight"]
                 .sum().reset_index())
    repeaters = df[df["frequency"] > 0].assign(monetary_value=lambda d: d["monetary_value"].round(value_decimals))
    spend = (repeaters.groupby(["group", "parent", "frequency", "monetary_value"], observed=True, sort=True)["weight"]
             .sum().reset_index())
    return purchases, spend


def to_time_unit(frame: pd.DataFrame, unit: float) -> pd.DataFrame:
    """Express recency and T in units of ``unit`` (e.g. 7 for weeks from days), on a half-unit grid.

    Whole units collapse far more customers into one row; the half-unit midpoint
    (instead of flooring) keeps large fits unbiased.
    """
    df = frame.copy()
    T = np.floor(df["T"] / unit) + 0.5
    recency = np.where(df["frequency"] > 0, np.minimum(np.floor(df["recency"] / unit) + 0.5, T), 0.0)
    return df.assign(T=T, recency=recency)


@dataclass(frozen=True)
class Encoded:
    """Arrays the PyMC model reads, with group and parent labels in a fixed order."""

    groups: list
    parents: list
    group_parent: np.ndarray  # parent index of each group
    # purchase rows (BG/NBD)
    group_idx: np.ndarray
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    weight: np.ndarray
    # spend rows (Gamma-Gamma), repeat customers only
    spend_group_idx: np.ndarray
    spend_frequency: np.ndarray
    spend_value: np.ndarray
    spend_weight: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.weight) + len(self.spend_weight)

    @property
    def customers(self) -> float:
        return float(self.weight.sum())


def encode(frame: pd.DataFrame, value_decimals: int = 0, collapse_rows: bool = True) -> Encoded:
    """Validate, optionally collapse, and index a customer summary frame."""
    df = validate(frame)
    if collapse_rows:
        purchases, spend = collapse(df, value_decimals)
    else:
        purchases, spend = df, df[df["frequency"] > 0]
    groups = sorted(df["group"].unique().tolist(), key=str)
    parent_of = df.drop_duplicates("group").set_index("group")["parent"]
    parents = sorted(parent_of.unique().tolist(), key=str)

    def codes(values):
        return pd.Categorical(values, categories=groups).codes.astype("int64")

    return Encoded(
        groups=groups, parents=parents,
        group_parent=np.array([parents.index(parent_of[g]) for g in groups]),
        group_idx=codes(purchases["group"]), frequency=purchases["frequency"].to_numpy(float),
        recency=purchases["recency"].to_numpy(float), T=purchases["T"].to_numpy(float),
        weight=purchases["weight"].to_numpy(float),
        spend_group_idx=codes(spend["group"]), spend_frequency=spend["frequency"].to_numpy(float),
        spend_value=spend["monetary_value"].to_numpy(float), spend_weight=spend["weight"].to_numpy(float),
    )

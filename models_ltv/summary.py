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


def collapse(frame: pd.DataFrame, value_decimals: int = 0) -> pd.DataFrame:
    """Identical customers inside a group become one row with their count as ``weight``.

    Monetary values are rounded to ``value_decimals`` first (spend per purchase is
    modelled per repeat customer; rounding to a currency unit loses nothing).
    """
    df = validate(frame)
    df["monetary_value"] = df["monetary_value"].round(value_decimals)
    keys = ["group", "parent", "frequency", "recency", "T", "monetary_value"]
    return (df.groupby(keys, dropna=False, observed=True, sort=True)["weight"].sum()
              .reset_index())


@dataclass(frozen=True)
class Encoded:
    """Arrays the PyMC model reads, with group and parent labels in a fixed order."""

    groups: list
    parents: list
    group_parent: np.ndarray  # parent index of each group
    group_idx: np.ndarray  # group index of each row
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    monetary_value: np.ndarray
    weight: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.weight)

    @property
    def customers(self) -> float:
        return float(self.weight.sum())


def encode(frame: pd.DataFrame) -> Encoded:
    df = validate(frame)
    groups = sorted(df["group"].unique().tolist(), key=str)
    parent_of = df.drop_duplicates("group").set_index("group")["parent"]
    parents = sorted(parent_of.unique().tolist(), key=str)
    return Encoded(
        groups=groups, parents=parents,
        group_parent=np.array([parents.index(parent_of[g]) for g in groups]),
        group_idx=pd.Categorical(df["group"], categories=groups).codes.astype("int64"),
        frequency=df["frequency"].to_numpy(float), recency=df["recency"].to_numpy(float),
        T=df["T"].to_numpy(float), monetary_value=df["monetary_value"].to_numpy(float),
        weight=df["weight"].to_numpy(float),
    )

"""Model inputs computed in SQL from the marts, as of a date (nothing later is read).

What a purchase is (a charge net of its cancels, attributed to the campaign of the
account's first install) is defined once, in dbt: ``marts.fct_purchases``, documented
and unit-tested there. This module only reads it as of a date: the version of each
charge in effect at the end of that Seoul day. Identical customers are collapsed in SQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pandas as pd
import psycopg

from growthflow.schedule import BUSINESS_TZ

_BASE = """
with
cutoff as (
    select ((%(as_of)s::date + 1)::timestamp at time zone %(tz)s) as at
),
known as (
    select purchases.*
    from marts.fct_purchases as purchases, cutoff
    where purchases.valid_from < cutoff.at and (purchases.valid_to is null or purchases.valid_to >= cutoff.at)
        and purchases.charged_at < cutoff.at and purchases.install_date <= %(as_of)s
),
users as (
    select distinct user_id, acquisition_campaign_id as campaign_id, installed_at from known
),
purchases as (
    select known.user_id, known.charged_at, known.net_krw,
           row_number() over (partition by known.user_id order by known.charged_at, known.charge_id) as n
    from known
    where known.is_purchase
)
"""

CUSTOMERS = _BASE + """,
customers as (
    select users.campaign_id,
           count(*) - 1 as frequency,
           extract(epoch from max(purchases.charged_at) - min(purchases.charged_at)) / 86400.0 as recency_days,
           extract(epoch from min(cutoff.at) - min(purchases.charged_at)) / 86400.0 as t_days,
           -- A user whose install was never seen (a late or rejected install event) is
           -- as old as their first purchase: never younger than it, never unknown.
           extract(epoch from min(cutoff.at) - coalesce(least(min(users.installed_at), min(purchases.charged_at)),
                                                        min(purchases.charged_at))) / 86400.0 as age_days,
           avg(purchases.net_krw) filter (where purchases.n > 1) as mean_repeat_krw
    from purchases
    join users on users.user_id = purchases.user_id
    cross join cutoff
    group by users.user_id, users.campaign_id
),
on_grid as (
    -- Whole time units on a half-unit grid: identical customers collapse into one row.
    select campaign_id, frequency,
           case when frequency > 0 then least(floor(recency_days / %(unit)s) + 0.5, floor(t_days / %(unit)s) + 0.5)
                else 0 end as recency,
           floor(t_days / %(unit)s) + 0.5 as t,
           floor(age_days / %(unit)s) + 0.5 as age,
           round(mean_repeat_krw, -2) as monetary_value
    from customers
)
select campaign_id, frequency, recency, t as "T", age, monetary_value, count(*) as weight
from on_grid
group by 1, 2, 3, 4, 5, 6
order by 1, 2, 3, 4, 5, 6
"""

GROUPS = """
select campaigns.campaign_id, campaigns.channel,
       (select count(*) from marts.dim_users as users
        where users.acquisition_campaign_id = campaigns.campaign_id and users.install_date <= %(as_of)s) as users,
       coalesce((select sum(spend.spend_krw) from marts.fct_ad_spend as spend
                 where spend.campaign_id = campaigns.campaign_id and spend.report_date <= %(as_of)s), 0) as spend
from marts.dim_campaigns as campaigns
order by 1
"""

OBSERVED = _BASE + """,
by_day as (
    select users.campaign_id,
           least(floor(extract(epoch from purchases.charged_at - users.installed_at) / 86400.0), 365)::int as day,
           sum(purchases.net_krw) as revenue
    from purchases join users on users.user_id = purchases.user_id
    group by 1, 2
)
select campaign_id, day, sum(revenue) over (partition by campaign_id order by day) as revenue
from by_day
order by 1, 2
"""


PROSPECTS = _BASE + """,
acquired as (
    select acquisition_campaign_id as campaign_id, user_id, install_date,
           coalesce(installed_at, signed_up_at) as acquired_at
    from marts.dim_users
    where acquisition_campaign_id is not null and install_date <= %(as_of)s
),
first_purchases as (
    select user_id, min(charged_at) as first_at from purchases group by 1
),
aged as (
    select acquired.campaign_id, %(as_of)s::date - acquired.install_date as age_days,
           floor(extract(epoch from first_purchases.first_at - acquired.acquired_at) / 86400.0)::int as lag_days,
           first_purchases.user_id is not null as paid
    from acquired
    left join first_purchases on first_purchases.user_id = acquired.user_id
)
select campaign_id, age_days, greatest(lag_days, 0) as lag_days, count(*) as users, count(*) filter (where paid) as payers
from aged
group by 1, 2, 3
order by 1, 2, 3
"""


def _frame(conn: psycopg.Connection, sql: str, params: dict) -> pd.DataFrame:
    cur = conn.execute(sql, params)
    return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def read_inputs(conninfo: str, as_of: dt.date, unit_days: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(customers on the time grid, campaigns with users and spend, cumulative observed revenue by day)."""
    params = {"as_of": as_of, "unit": float(unit_days), "tz": BUSINESS_TZ}
    with psycopg.connect(conninfo) as conn:
        customers = _frame(conn, CUSTOMERS, params)
        groups = _frame(conn, GROUPS, params)
        observed = _frame(conn, OBSERVED, params)
    for frame in (customers, groups, observed):
        for column in frame.columns:
            if frame[column].dtype == object and column not in ("campaign_id", "channel"):
                frame[column] = frame[column].astype(float)
    channel = groups.set_index("campaign_id")["channel"]
    customers = customers.assign(group=customers["campaign_id"], parent=customers["campaign_id"].map(channel))
    groups = groups.rename(columns={"campaign_id": "group"})
    observed = observed.rename(columns={"campaign_id": "group"})
    return customers, groups, observed


def read_prospects(conninfo: str, as_of: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(acquired users and payers per campaign and age in days; payers by age and days from
    install to first purchase): what ``models_ltv.prospects.estimate`` learns from."""
    with psycopg.connect(conninfo) as conn:
        rows = _frame(conn, PROSPECTS, {"as_of": as_of, "tz": BUSINESS_TZ})
    for column in ("age_days", "users", "payers"):
        rows[column] = rows[column].astype(float)
    users = (rows.groupby(["campaign_id", "age_days"], as_index=False)[["users", "payers"]].sum()
             .rename(columns={"campaign_id": "group"}))
    lags = rows[rows["payers"] > 0].groupby(["age_days", "lag_days"], as_index=False)["payers"].sum()
    return users, lags


def snapshot_id(*frames: pd.DataFrame) -> str:
    """A fingerprint of the model's input rows: same id, same data."""
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def latest_as_of(conninfo: str) -> dt.date:
    """The newest delivery date loaded: the as-of date of a night's forecast by default."""
    from growthflow.ingest.tasks import newest_loaded_delivery

    newest = newest_loaded_delivery(conninfo)
    if newest is None:
        from growthflow.errors import GrowthflowError

        raise GrowthflowError("nothing is loaded yet: run ingest and the warehouse build before the LTV job")
    return newest

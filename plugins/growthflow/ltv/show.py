"""The forecast table a marketer reads: per campaign, ROAS and payback with intervals."""

from __future__ import annotations

import datetime as dt

import psycopg

QUERY = """
select campaign_id, users, spend_krw, revenue_p10_krw, revenue_p50_krw, revenue_p90_krw,
       roas_p10, roas_p50, roas_p90, payback_day
from ltv.campaign_forecasts
where as_of_date = %s and basis = 'since_acquisition' and horizon_days = %s
order by roas_p50 desc nulls last
"""


def forecast_table(conninfo: str, as_of: dt.date | None = None, horizon: int = 365) -> str:
    with psycopg.connect(conninfo) as conn:
        if as_of is None:
            as_of = conn.execute("select max(as_of_date) from ltv.campaign_forecasts").fetchone()[0]
            if as_of is None:
                return "no LTV forecasts yet: run `bin/growthflow ltv run` (or the forecast_ltv DAG)"
        rows = conn.execute(QUERY, (as_of, horizon)).fetchall()
    if not rows:
        return f"no forecasts for {as_of} at {horizon} days"
    lines = [f"LTV forecast as of {as_of}: revenue by {horizon} days after acquisition (KRW, 10/50/90% predictive)",
             f"{'campaign':<10} {'users':>7} {'spend':>13} {'revenue p50 [p10, p90]':>38} "
             f"{'ROAS p50 [p10, p90]':>22} {'payback':>8}"]
    for campaign, users, spend, r10, r50, r90, o10, o50, o90, payback in rows:
        roas = f"{o50:.2f} [{o10:.2f}, {o90:.2f}]" if o50 is not None else "-"
        back = f"day {payback}" if payback is not None else "> 365"
        lines.append(f"{campaign:<10} {users:>7,} {spend:>13,.0f} {r50:>14,.0f} [{r10:>10,.0f}, {r90:>10,.0f}] "
                     f"{roas:>22} {back:>8}")
    return "\n".join(lines)

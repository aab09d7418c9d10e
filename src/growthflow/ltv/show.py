"""What a marketer reads: the published forecasts as a table, a CSV or Excel file, and a
fan chart. Reads ``ltv.campaign_forecasts``; never refits."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import psycopg

from growthflow.errors import GrowthflowError

QUERY = """
select as_of_date, campaign_id, basis, horizon_days, users, expected_purchases, revenue_observed_krw,
       revenue_p10_krw, revenue_p50_krw, revenue_p90_krw,
       revenue_per_user_p10_krw, revenue_per_user_p50_krw, revenue_per_user_p90_krw,
       spend_krw, roas_p10, roas_p50, roas_p90, payback_day, model_version, run_id
from ltv.campaign_forecasts
where as_of_date = %(as_of)s and (%(campaign)s::text is null or campaign_id = %(campaign)s)
order by campaign_id, basis, horizon_days
"""


def read_forecasts(conninfo: str, as_of: dt.date | None = None, campaign: str | None = None) -> pd.DataFrame:
    """All published rows of one as-of date (default: the newest), optionally one campaign."""
    with psycopg.connect(conninfo) as conn:
        if as_of is None:
            as_of = conn.execute("select max(as_of_date) from ltv.campaign_forecasts").fetchone()[0]
            if as_of is None:
                raise GrowthflowError("no LTV forecasts yet: run `bin/growthflow ltv run` (or the forecast_ltv DAG)")
        cur = conn.execute(QUERY, {"as_of": as_of, "campaign": campaign})
        frame = pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])
    if frame.empty:
        what = f"campaign {campaign!r} " if campaign else ""
        raise GrowthflowError(f"no forecasts for {what}as of {as_of}; `bin/growthflow ltv show` lists what there is")
    return frame


def format_table(frame: pd.DataFrame, horizon: int = 365) -> str:
    rows = frame[(frame["basis"] == "since_acquisition") & (frame["horizon_days"] == horizon)]
    rows = rows.sort_values("roas_p50", ascending=False, na_position="last")
    as_of = frame["as_of_date"].iloc[0]
    lines = [f"LTV forecast as of {as_of}: revenue by {horizon} days after acquisition (KRW, 10/50/90% predictive)",
             f"{'campaign':<10} {'users':>7} {'spend':>13} {'revenue p50 [p10, p90]':>38} "
             f"{'ROAS p50 [p10, p90]':>22} {'payback':>8}"]
    for row in rows.itertuples(index=False):
        roas = f"{row.roas_p50:.2f} [{row.roas_p10:.2f}, {row.roas_p90:.2f}]" if pd.notna(row.roas_p50) else "-"
        back = f"day {int(row.payback_day)}" if pd.notna(row.payback_day) else "> 365"
        lines.append(f"{row.campaign_id:<10} {row.users:>7,} {row.spend_krw:>13,.0f} {row.revenue_p50_krw:>14,.0f} "
                     f"[{row.revenue_p10_krw:>10,.0f}, {row.revenue_p90_krw:>10,.0f}] {roas:>22} {back:>8}")
    return "\n".join(lines)


def forecast_table(conninfo: str, as_of: dt.date | None = None, horizon: int = 365,
                   campaign: str | None = None) -> str:
    return format_table(read_forecasts(conninfo, as_of, campaign), horizon)


def export(frame: pd.DataFrame, path: Path) -> Path:
    """CSV or Excel (by the file's suffix), every basis and horizon."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix.lower() == ".xlsx":
        frame.to_excel(path, index=False, sheet_name=f"ltv {frame['as_of_date'].iloc[0]}")
    else:
        raise GrowthflowError(f"cannot export to {path.name}: use a .csv or .xlsx file name")
    return path


def fan_chart(frame: pd.DataFrame, path: Path, columns: int = 4) -> Path:
    """Cumulative revenue per user since acquisition (median and 10-90% band) against
    spend per user, one panel per campaign; payback is where the median crosses spend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = frame[frame["basis"] == "since_acquisition"].sort_values(["campaign_id", "horizon_days"])
    campaigns = list(rows["campaign_id"].unique())
    cols = min(columns, len(campaigns))
    lines = -(-len(campaigns) // cols)
    fig, axes = plt.subplots(lines, cols, figsize=(4.2 * cols, 3.2 * lines), squeeze=False, sharex=True)
    for ax, campaign in zip(axes.flat, campaigns):
        part = rows[rows["campaign_id"] == campaign]
        days = [0, *part["horizon_days"]]
        zero = [0.0]
        ax.fill_between(days, zero + list(part["revenue_per_user_p10_krw"]),
                        zero + list(part["revenue_per_user_p90_krw"]), alpha=0.25, label="10-90%")
        ax.plot(days, zero + list(part["revenue_per_user_p50_krw"]), marker="o", label="median")
        users = part["users"].iloc[0]
        if users and part["spend_krw"].iloc[0] > 0:
            ax.axhline(part["spend_krw"].iloc[0] / users, color="firebrick", linestyle="--", label="spend per user")
        payback = part["payback_day"].iloc[0]
        if pd.notna(payback):
            ax.axvline(payback, color="grey", linestyle=":", label=f"payback day {int(payback)}")
        ax.set_title(f"{campaign} ({users:,} users)", fontsize=10)
        ax.set_xlabel("days after acquisition")
        ax.set_ylabel("KRW per user")
        ax.legend(fontsize=7, loc="upper left")
    for ax in list(axes.flat)[len(campaigns):]:
        ax.set_visible(False)
    fig.suptitle(f"Cumulative revenue per user, forecast as of {frame['as_of_date'].iloc[0]}")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def ranking(frame: pd.DataFrame, horizon: int = 365, top: int = 3) -> str:
    """The best and worst campaigns by predicted ROAS (median) at ``horizon`` days after
    acquisition, with their 10-90% intervals: the two ends a budget discussion starts from."""
    rows = frame[(frame["basis"] == "since_acquisition") & (frame["horizon_days"] == horizon)]
    rows = rows.dropna(subset=["roas_p50"]).sort_values("roas_p50", ascending=False)
    if rows.empty:
        return "no campaign with spend has a forecast yet"
    as_of = frame["as_of_date"].iloc[0]

    def line(row) -> str:
        verdict = ("pays back" if row.roas_p10 >= 1 else "does not pay back" if row.roas_p90 < 1 else "uncertain")
        return (f"  {row.campaign_id:<10} ROAS {row.roas_p50:.2f} [{row.roas_p10:.2f}, {row.roas_p90:.2f}]"
                f"  {row.users:>7,} users  {verdict}")

    out = [f"campaigns by predicted ROAS {horizon} days after acquisition (as of {as_of}; median [10%, 90%]):",
           "  top:"]
    out += [line(r) for r in rows.head(top).itertuples(index=False)]
    out.append("  bottom:")
    out += [line(r) for r in rows.tail(min(top, max(0, len(rows) - top))).itertuples(index=False)]
    return "\n".join(out)


def newest_forecast_date(conninfo: str) -> dt.date | None:
    """The as-of date of the newest published forecast (None before the first)."""
    with psycopg.connect(conninfo) as conn:
        return conn.execute("select max(as_of_date) from ltv.campaign_forecasts").fetchone()[0]

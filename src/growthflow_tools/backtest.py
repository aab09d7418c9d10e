"""Rolling-origin backtest of the LTV model against the generator's ground truth.

For each past as-of date: read the summaries the nightly job would have read (only
data up to that date), fit, forecast revenue 90 and 180 days after acquisition per
campaign, fit the no-pooling peer on the same rows, and score both against what the
same users really spent (``growthflow_tools.truth``). Nothing is published.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pandas as pd

from growthflow.config import load_settings
from growthflow.errors import GrowthflowError
from growthflow.ltv.reader import latest_as_of, read_inputs, read_prospects
from growthflow_tools.truth import realised_revenue

BACKTEST_HORIZONS = (90, 180)
PEER_METHODS = ("mcmc", "map", "none")


def rolling_origins(newest: dt.date, origins: int, every_days: int) -> list[dt.date]:
    """``origins`` as-of dates ``every_days`` apart, the last one ``newest``."""
    return sorted(newest - dt.timedelta(days=every_days * k) for k in range(origins))


def run_backtest(conninfo: str, truth: Path, as_of_dates: list[dt.date] | None = None, *, origins: int = 4,
                 every_days: int = 14, fit_settings=None, unit_days: int = 7, forecast_draws: int = 200,
                 peer_method: str = "mcmc", progress=print) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per as-of date, campaign and horizon: forecast, peer and actual; the summary by horizon and size)."""
    from models_ltv.backtest import score, summarise
    from models_ltv.fit import FitSettings, fit
    from models_ltv.forecast import ForecastInput, forecast
    from models_ltv.peer import peer_forecast
    from models_ltv.prospects import estimate
    from models_ltv.summary import encode

    if peer_method not in PEER_METHODS:
        raise GrowthflowError(f"peer method {peer_method!r}: use one of {', '.join(PEER_METHODS)}")
    fit_settings = fit_settings or FitSettings()
    as_of_dates = as_of_dates or rolling_origins(latest_as_of(conninfo), origins, every_days)
    forecasts, peers = [], []
    for number, as_of in enumerate(as_of_dates, 1):
        started = time.perf_counter()
        customers, groups, observed = read_inputs(conninfo, as_of, unit_days)
        if customers.empty:
            progress(f"[{number}/{len(as_of_dates)}] {as_of}: no paying customers yet, skipped")
            continue
        data = encode(customers)
        waiting, lags = read_prospects(conninfo, as_of)
        inputs = ForecastInput(customers=customers, groups=groups, observed=observed, unit_days=unit_days,
                               prospects=estimate(waiting, lags, [str(g) for g in data.groups]))
        result = fit(data, fit_settings, progress=lambda _: None)
        if not result.passed:
            progress(f"[{number}/{len(as_of_dates)}] {as_of}: fit failed its diagnostics "
                     f"({'; '.join(result.diagnostics['problems'])}); scored anyway, flagged")
        ours = forecast(result, inputs, horizons=BACKTEST_HORIZONS, draws=forecast_draws, seed=fit_settings.seed)
        ours = ours[ours["basis"] == "since_acquisition"].assign(as_of_date=as_of, fit_passed=result.passed)
        forecasts.append(ours)
        if peer_method != "none":
            peer = peer_forecast(inputs, BACKTEST_HORIZONS, method=peer_method, seed=fit_settings.seed,
                                 progress=progress)
            peers.append(peer.assign(as_of_date=as_of))
        progress(f"[{number}/{len(as_of_dates)}] {as_of}: {int(customers['weight'].sum()):,} paying customers, "
                 f"{len(groups)} campaigns; fit {result.seconds:.0f}s, all in {time.perf_counter() - started:.0f}s")
    if not forecasts:
        raise GrowthflowError("no as-of date had paying customers: load and build more days first")
    forecasts = pd.concat(forecasts, ignore_index=True)
    dates = sorted(forecasts["as_of_date"].unique())
    realised = realised_revenue(truth, dates, BACKTEST_HORIZONS)
    table = score(forecasts, realised, pd.concat(peers, ignore_index=True) if peers else None)
    return table, summarise(table)


def write_report(table: pd.DataFrame, summary: pd.DataFrame, folder: Path | None = None) -> Path:
    """The per-campaign table and the summary as CSV, and a predicted-vs-actual plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = folder or load_settings().artifacts_dir / "ltv" / "backtest"
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "backtest_campaigns.csv", index=False)
    summary.to_csv(folder / "backtest_summary.csv", index=False)
    horizons = sorted(table["horizon_days"].unique())
    fig, axes = plt.subplots(1, len(horizons), figsize=(5.5 * len(horizons), 5), squeeze=False)
    for ax, horizon in zip(axes[0], horizons):
        part = table[table["horizon_days"] == horizon]
        low = part["revenue_p50"] - part["revenue_p10"]
        high = part["revenue_p90"] - part["revenue_p50"]
        ax.errorbar(part["actual_per_user"], part["predicted_per_user"],
                    yerr=[low / part["users"], high / part["users"]], fmt="o", alpha=0.7, label="growthflow (10-90%)")
        if part["peer"].notna().any():
            ax.plot(part["actual_per_user"], part["peer"] / part["users"], "x", alpha=0.7, label="peer (no pooling)")
        top = float(max(part["actual_per_user"].max(), part["predicted_per_user"].max()) * 1.1)
        ax.plot([0, top], [0, top], color="grey", linestyle="--", label="perfect")
        ax.set_xlabel(f"realised revenue per user by day {horizon} (KRW)")
        ax.set_ylabel("forecast (KRW)")
        ax.set_title(f"{horizon} days after acquisition")
        ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(folder / "backtest.png", dpi=110)
    plt.close(fig)
    return folder

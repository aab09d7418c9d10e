"""The nightly LTV job: summaries in (SQL), fit (PyMC), gate on diagnostics, forecasts out.

Settings (``growthflow.config``) come from the environment so a rerun is the same run:
``GROWTHFLOW_LTV_METHOD`` (``nuts``, or ``map`` for sizes NUTS does not fit the nightly
window), ``GROWTHFLOW_LTV_SEED``, ``GROWTHFLOW_LTV_DRAWS``, ``GROWTHFLOW_LTV_TUNE``,
``GROWTHFLOW_LTV_TARGET_ACCEPT``, ``GROWTHFLOW_LTV_UNIT_DAYS`` (7: weeks).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import time
from pathlib import Path

from growthflow.config import load_settings
from growthflow.errors import GrowthflowError
from growthflow.ltv.reader import read_inputs, read_prospects, snapshot_id
from growthflow.ltv.writer import publish, record_run

MODEL_VERSION = "hbgnbd-gg-3"
LIBRARIES = ("pymc", "pymc-marketing", "pytensor", "nutpie", "arviz", "numpy")


class ForecastRejected(GrowthflowError):
    """The fit failed its diagnostics: nothing was published."""


def fit_settings_from_env():
    from models_ltv.fit import FitSettings

    settings = load_settings()
    return FitSettings(method=settings.ltv_method, seed=settings.ltv_seed, draws=settings.ltv_draws,
                       tune=settings.ltv_tune, target_accept=settings.ltv_target_accept)


def run_nightly(conninfo: str, as_of: dt.date, run_id: str, fit_settings=None, unit_days: int | None = None,
                forecast_draws: int = 200, progress=print) -> dict:
    from models_ltv.fit import fit
    from models_ltv.forecast import ForecastInput, forecast
    from models_ltv.prospects import estimate
    from models_ltv.summary import encode

    fit_settings = fit_settings or fit_settings_from_env()
    unit_days = unit_days or load_settings().ltv_unit_days
    started = time.perf_counter()
    customers, groups, observed = read_inputs(conninfo, as_of, unit_days)
    waiting, lags = read_prospects(conninfo, as_of)
    if customers.empty:
        raise GrowthflowError(f"no paying customers as of {as_of}; build the warehouse (marts) first")
    progress(f"as of {as_of}: {int(customers['weight'].sum()):,} paying customers in {len(customers):,} rows, "
             f"{customers['group'].nunique()} campaigns (read in {time.perf_counter() - started:.1f}s)")
    run = {
        "run_id": run_id, "as_of_date": as_of, "model_version": MODEL_VERSION, "status": "failed", "reason": None,
        "settings": {**dataclasses.asdict(fit_settings), "unit_days": unit_days, "forecast_draws": forecast_draws},
        "data_snapshot": snapshot_id(customers, groups, observed, waiting, lags), "customers": int(customers["weight"].sum()),
        "input_rows": len(customers), "campaigns": int(customers["group"].nunique()), "diagnostics": {},
        "library_versions": {name: importlib.metadata.version(name) for name in LIBRARIES},
        "fit_seconds": None, "posterior_path": None,
    }
    data = encode(customers)
    result = fit(data, fit_settings, progress=progress)
    run.update(diagnostics=result.diagnostics, fit_seconds=result.seconds,
               posterior_path=str(save_posterior(result, as_of, run_id)))
    if not result.passed:
        run.update(status="rejected", reason="; ".join(result.diagnostics["problems"]))
        record_run(conninfo, run)
        raise ForecastRejected(f"LTV fit for {as_of} failed its diagnostics ({run['reason']}); nothing published. "
                               "Divergences: raise GROWTHFLOW_LTV_TARGET_ACCEPT (e.g. 0.99); low ESS or high R-hat: raise "
                               "GROWTHFLOW_LTV_DRAWS/TUNE; or use GROWTHFLOW_LTV_METHOD=map")
    inputs = ForecastInput(customers=customers, groups=groups, observed=observed, unit_days=unit_days,
                           prospects=estimate(waiting, lags, [str(g) for g in data.groups]))
    forecasts = forecast(result, inputs, draws=forecast_draws, seed=fit_settings.seed)
    run.update(status="published")
    rows = publish(conninfo, run, forecasts)
    plot = plot_roas(forecasts, as_of, run_id)
    progress(f"published {rows} forecast rows for {as_of} in {time.perf_counter() - started:.1f}s; plot: {plot}")
    return {"as_of_date": as_of.isoformat(), "rows": rows, "run_id": run_id, "plot": str(plot),
            "posterior": run["posterior_path"], "fit_seconds": round(result.seconds, 1)}


def artifacts_dir(as_of: dt.date) -> Path:
    path = load_settings().artifacts_dir / "ltv" / as_of.isoformat()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _safe(run_id: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run_id)


def save_posterior(result, as_of: dt.date, run_id: str, keep: int = 200) -> Path:
    """The campaign-level posterior, thinned to ``keep`` draws per chain, as NetCDF."""
    posterior = result.idata.posterior
    step = max(1, posterior.sizes["draw"] // keep)
    path = artifacts_dir(as_of) / f"posterior_{_safe(run_id)}.nc"
    posterior.isel(draw=slice(None, None, step)).to_netcdf(path, engine="h5netcdf")
    return path


def plot_roas(forecasts, as_of: dt.date, run_id: str) -> Path:
    """Predicted 365-day ROAS per campaign with its 10-90% interval, against break-even."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = forecasts[(forecasts["basis"] == "since_acquisition") & (forecasts["horizon_days"] == 365)]
    rows = rows.dropna(subset=["roas_p50"]).sort_values("roas_p50")
    fig, ax = plt.subplots(figsize=(8, 0.4 * max(len(rows), 3) + 1.2))
    y = range(len(rows))
    ax.errorbar(rows["roas_p50"], y, xerr=[rows["roas_p50"] - rows["roas_p10"], rows["roas_p90"] - rows["roas_p50"]],
                fmt="o", capsize=3)
    ax.axvline(1.0, color="grey", linestyle="--", label="break-even")
    ax.set_yticks(list(y), rows["campaign"])
    ax.set_xlabel("predicted ROAS 365 days after acquisition (median, 10-90%)")
    ax.set_title(f"Campaign ROAS forecast as of {as_of}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    path = artifacts_dir(as_of) / f"roas_{_safe(run_id)}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

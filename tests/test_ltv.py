"""The LTV model: likelihood pieces against pymc-marketing, weighted rows, parameter
recovery, seeded reproducibility across a cold and a warm compile cache, and the
nightly job on a real warehouse (publish, replace, reject)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import psycopg
import pymc as pm
import pytensor.tensor as pt
import pytest
from pymc_marketing.clv import GammaGammaModel
from pymc_marketing.clv.distributions import BetaGeoNBD

from growthflow.landing import delivered_dates
from growthflow.ltv.job import ForecastRejected, run_nightly
from growthflow_tools.backtest import run_backtest, write_report
from growthflow.ltv.reader import read_inputs
from growthflow.ltv.show import export, fan_chart, forecast_table, read_forecasts
from growthflow_tools.truth import realised_revenue
from models_ltv.backtest import score, summarise
from models_ltv.fit import FitSettings, fit
from models_ltv.likelihood import PurchaseStats, SpendStats, purchases_loglik, spend_loglik
from models_ltv.model import PURCHASE_PARAMS, build_model
from models_ltv.prospects import estimate
from models_ltv.simulate import CDNOW, simulate_campaigns
from models_ltv.summary import SummaryError, encode, to_time_unit

from support import dbt, load_dates

SIZES = {"tiny": 40, "small": 300, "mid": 800, "large": 2000, "solo": 1200}
CHANNEL = {"tiny": "meta", "small": "meta", "mid": "naver", "large": "naver", "solo": "kakao"}
TRUE = {g: dict(r=0.6 + 0.15 * i, alpha=4.0, a=0.9, b=3.0, p=6.0, q=4.0, v=20000.0) for i, g in enumerate(SIZES)}


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    """Five campaigns with known parameters, 26 weeks of first purchases, times in weeks."""
    return simulate_campaigns(SIZES, CHANNEL, TRUE, max_age=26.0, seed=3)


def _compiled_potential(model):
    (loglik,) = model.replace_rvs_by_values([model.potentials[0].sum()])
    return model.compile_fn(loglik, inputs=model.value_vars, on_unused_input="ignore")


def test_gamma_gamma_loglik_equals_pymc_marketing():
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"customer_id": range(50), "frequency": rng.integers(1, 9, 50),
                         "monetary_value": rng.gamma(3.0, 5000.0, 50), "recency": 1.0, "T": 2.0})
    reference = GammaGammaModel()
    reference.build_model(data)
    point = {"p_log__": np.log(4.5), "q_log__": np.log(3.2), "v_log__": np.log(18000.0)}
    theirs = _compiled_potential(reference.model)(point)
    ours = spend_loglik(4.5, 3.2, pt.as_tensor([18000.0]), SpendStats.of(encode(data, collapse_rows=False))).eval()
    assert ours == pytest.approx(float(theirs), rel=1e-9)


def test_bg_nbd_loglik_summed_by_cells_equals_pymc_marketing_per_customer(simulated):
    weekly = to_time_unit(simulated, 1.0)
    data = encode(weekly)
    rng = np.random.default_rng(1)
    params = {k: rng.uniform(low, high, len(data.groups))
              for k, (low, high) in {"r": (0.4, 1.5), "alpha": (2.0, 6.0), "a": (0.5, 1.5), "b": (2.0, 5.0)}.items()}
    ours = purchases_loglik(*(pt.as_tensor(params[k]) for k in PURCHASE_PARAMS), PurchaseStats.of(data)).eval()
    group = pd.Categorical(weekly["group"], categories=data.groups).codes
    per_customer = BetaGeoNBD.dist(**{k: params[k][group] for k in PURCHASE_PARAMS}, T=weekly["T"].to_numpy())
    theirs = pm.logp(per_customer, weekly[["recency", "frequency"]].to_numpy()).sum().eval()
    assert ours == pytest.approx(float(theirs), rel=1e-9)


def test_weighted_rows_give_the_same_likelihood_as_one_row_per_customer(simulated):
    weekly = to_time_unit(simulated, 1.0).assign(monetary_value=lambda d: d["monetary_value"].round(-2))
    collapsed, expanded = encode(weekly), encode(weekly, collapse_rows=False)
    assert len(collapsed.weight) < 0.6 * len(expanded.weight)  # purchase histories collapse; spend values barely
    assert collapsed.customers == expanded.customers == len(simulated)
    values = []
    for data in (collapsed, expanded):
        model = build_model(data)
        point = model.initial_point(random_seed=1)
        values.append(float(model.compile_logp()(point)))
    assert values[0] == pytest.approx(values[1], rel=1e-9)


@pytest.mark.parametrize("change, message", [
    ({"recency": 99.0}, "recency exceeds T"),
    ({"frequency": -1}, "non-negative"),
    ({"monetary_value": 0.0}, "positive monetary_value"),
    ({"age": 0.0}, "'age' .* at least T"),  # acquired after the first purchase, or unknown
])
def test_summaries_that_cannot_be_modelled_are_refused_with_the_reason(simulated, change, message):
    bad = simulated.head(20).copy()
    bad.loc[bad["frequency"] > 0, list(change)] = list(change.values())
    with pytest.raises(SummaryError, match=message):
        encode(bad)


def test_a_single_group_without_a_channel_fits(simulated):
    one = simulated[simulated["group"] == "large"].drop(columns=["group", "parent"])
    result = fit(encode(to_time_unit(one, 1.0)), FitSettings(method="map", draws=50), progress=lambda _: None)
    assert result.posterior("r").shape == (50, 1)
    for name in ("r", "alpha", "a", "b"):
        assert result.posterior(name)[0, 0] == pytest.approx(TRUE["large"][name], rel=0.25), name


def test_one_group_of_a_few_thousand_customers_passes_the_nightly_gate():
    # No hierarchy to identify: the model drops both pooling levels, so the nightly
    # settings must pass the gate with no divergent transition (no funnel left).
    frame = simulate_campaigns({"all": 2357}, {"all": "all"}, {"all": CDNOW}, max_age=39.0, seed=2)
    data = encode(to_time_unit(frame.drop(columns=["group", "parent"]), 1.0))
    result = fit(data, FitSettings(), progress=lambda _: None)
    assert result.passed, result.diagnostics
    assert result.diagnostics["divergences"] == 0
    # The sampler finds this likelihood's posterior: its medians sit at the posterior
    # mode of the same data (a and b are wide on their own, so compare the mean
    # purchase rate and the mean dropout probability, which 2,357 customers pin down).
    mode = fit(data, FitSettings(method="map", draws=1), progress=lambda _: None)
    for name, of in (("r/alpha", lambda f: f.posterior("r") / f.posterior("alpha")),
                     ("a/(a+b)", lambda f: f.posterior("a") / (f.posterior("a") + f.posterior("b")))):
        assert np.median(of(result)) == pytest.approx(float(of(mode)[0, 0]), rel=0.1), name
    # ... and the truth is inside the mean purchase rate's 95% interval.
    low, high = np.quantile(result.posterior("r")[:, 0] / result.posterior("alpha")[:, 0], [0.025, 0.975])
    assert low <= CDNOW["r"] / CDNOW["alpha"] <= high, (low, high)


@pytest.fixture(scope="module")
def nuts_fit(simulated):
    # Short chains keep the suite quick; the thresholds scale with them (the nightly
    # defaults are 4 chains x 1000 draws and bulk ESS >= 400). Three channels make a
    # funnel in the channel-level spread; short chains need a smaller step through it
    # (at the default 0.95 this fit has 1 divergent transition, and the gate refuses it).
    settings = FitSettings(draws=300, tune=300, chains=2, min_ess_bulk=100, max_rhat=1.02, target_accept=0.99)
    return fit(encode(to_time_unit(simulated, 1.0)), settings, progress=lambda _: None)


def test_nuts_fit_converges_and_recovers_known_parameters(nuts_fit):
    assert nuts_fit.passed, nuts_fit.diagnostics
    covered, total = 0, 0
    for name in ("r", "alpha", "a", "b"):
        draws = nuts_fit.posterior(name)
        low, high = np.quantile(draws, [0.05, 0.95], axis=0)
        truth = np.array([TRUE[g][name] for g in sorted(SIZES)])
        covered += int(((low <= truth) & (truth <= high)).sum())
        total += len(truth)
    assert covered / total >= 0.8, f"90% intervals covered {covered} of {total} true values"
    spend_v = nuts_fit.posterior("spend_v").mean(axis=0)
    assert np.allclose(spend_v, TRUE["mid"]["v"], rtol=0.35)


def test_partial_pooling_pulls_a_tiny_campaign_toward_its_channel(nuts_fit):
    groups = sorted(SIZES)
    width = {g: np.subtract(*np.quantile(nuts_fit.posterior("r")[:, i], [0.95, 0.05])) for i, g in enumerate(groups)}
    assert width["tiny"] > width["large"]  # it is uncertain ...
    assert width["tiny"] < 3.0  # ... but borrows strength instead of being unbounded


_SEEDED_FIT = """
import json, sys
import numpy as np
from models_ltv.simulate import simulate_campaigns
from models_ltv.summary import encode, to_time_unit
from models_ltv.fit import fit, FitSettings
sizes = {"a": 300, "b": 800}
params = {g: dict(r=0.8, alpha=4.0, a=0.9, b=3.0, p=6.0, q=4.0, v=20000.0) for g in sizes}
frame = simulate_campaigns(sizes, {"a": "x", "b": "y"}, params, max_age=20.0, seed=5)
result = fit(encode(to_time_unit(frame, 1.0)), FitSettings(draws=100, tune=100, chains=2, seed=42),
             progress=lambda _: None)
print(json.dumps({k: result.posterior(k).tolist() for k in ("r", "alpha", "a", "b", "spend_v")}))
"""


def test_same_data_settings_and_seed_give_identical_numbers_cold_and_warm_cache(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"}
    env["PYTENSOR_FLAGS"] = f"base_compiledir={tmp_path / 'pytensor'}"  # an empty, cold compile cache

    def run():
        out = subprocess.run([sys.executable, "-c", _SEEDED_FIT], env=env, capture_output=True, text=True,
                             timeout=900)
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    cold, warm = run(), run()
    assert cold == warm


def test_backtest_scores_are_the_hand_computed_figures():
    keys = {"as_of_date": dt.date(2026, 5, 1), "horizon_days": 180}
    forecasts = pd.DataFrame([
        {**keys, "campaign": "big", "users": 900, "revenue_p10": 80.0, "revenue_p50": 110.0, "revenue_p90": 130.0},
        {**keys, "campaign": "big2", "users": 600, "revenue_p10": 150.0, "revenue_p50": 180.0, "revenue_p90": 190.0},
        {**keys, "campaign": "small", "users": 40, "revenue_p10": 5.0, "revenue_p50": 8.0, "revenue_p90": 9.0},
        {**keys, "campaign": "nothing", "users": 10, "revenue_p10": 0.0, "revenue_p50": 1.0, "revenue_p90": 2.0},
    ])
    realised = pd.DataFrame([{**keys, "campaign": c, "revenue": r}
                             for c, r in (("big", 100.0), ("big2", 200.0), ("small", 10.0), ("nothing", 0.0))])
    peer = pd.DataFrame([{**keys, "campaign": c, "revenue": r} for c, r in (("big", 70.0), ("small", 16.0))])
    table = score(forecasts, realised, peer)
    assert list(table["campaign"]) == ["big", "big2", "small"]  # no realised revenue: no relative error
    assert table["error"].tolist() == pytest.approx([0.10, -0.10, -0.20])
    assert table["covered_80"].tolist() == [True, False, False]  # small: 10 is above its p90 of 9
    summary = summarise(table).set_index("campaigns")
    assert summary.loc["users >= 500", "median_abs_error"] == pytest.approx(0.10)
    assert summary.loc["users >= 500", "revenue_weighted_error"] == pytest.approx(30.0 / 300.0)
    assert summary.loc["users >= 500", "coverage_80"] == pytest.approx(0.5)
    assert summary.loc["users >= 500", "peer_median_abs_error"] == pytest.approx(0.30)  # big2 has no peer row
    assert summary.loc["users < 500", "bias"] == pytest.approx(-0.20)
    assert summary.loc["users < 500", "peer_median_abs_error"] == pytest.approx(0.60)


def test_prospects_expect_the_first_purchases_still_to_come():
    # Of users who buy within 2 days, 60% buy on day 0 and 40% on day 1: G = [0, 0.6, 1].
    lags = pd.DataFrame({"age_days": [5.0, 5.0], "lag_days": [0, 1], "payers": [60.0, 40.0]})
    # One campaign converting 10%: the 5-day-old cohort is complete; the newest has lived
    # half a day on average (G = 0.3), so 30 of its 100 eventual payers have bought.
    users = pd.DataFrame({"group": ["a", "a"], "age_days": [5.0, 0.0], "users": [1000.0, 1000.0],
                          "payers": [100.0, 30.0]})
    prospects = estimate(users, lags, ["a"], window_days=2)
    assert prospects.cdf.tolist() == pytest.approx([0.0, 0.6, 1.0])
    assert prospects.rate[0] == pytest.approx(0.1)
    assert prospects.expected_new_payers(90, "since_acquisition")[0] == pytest.approx(70.0)
    assert prospects.expected_new_payers(1, "from_as_of")[0] == pytest.approx(50.0)  # G(1.5) = 0.8


@pytest.fixture(scope="module")
def warehouse_with_marts(database_factory, clean_dataset, tmp_path_factory):
    landing, _ = clean_dataset
    url = database_factory()
    dates = delivered_dates(landing, "events")
    load_dates(url, landing, dates)
    dbt(url, tmp_path_factory.mktemp("ltv-dbt"), "build")
    return url, dates[-1]


def test_ground_truth_revenue_and_users_match_what_the_warehouse_saw(warehouse_with_marts, clean_dataset):
    """The backtest's yardstick and the model's input agree on the past, to the cent."""
    url, as_of = warehouse_with_marts
    _, truth = clean_dataset
    _, groups, observed = read_inputs(url, as_of, 7)
    cutoff = pd.Timestamp(as_of + dt.timedelta(days=1)).tz_localize("Asia/Seoul")
    realised = realised_revenue(truth, [as_of], (400,), until=cutoff).set_index("campaign")
    seen = observed.groupby("group")["revenue"].max()
    assert len(seen) > 3
    assert realised["revenue"].reindex(seen.index).to_numpy() == pytest.approx(seen.to_numpy(), abs=0.05)
    assert realised["users"].to_dict() == groups.set_index("group")["users"].loc[realised.index].to_dict()


def test_backtest_runs_on_small_data_and_scores_against_later_revenue(warehouse_with_marts, clean_dataset,
                                                                      tmp_path):
    url, as_of = warehouse_with_marts
    _, truth = clean_dataset
    quick = FitSettings(method="map", draws=40, chains=1)
    table, summary = run_backtest(url, truth, [as_of], fit_settings=quick, forecast_draws=40, peer_method="map",
                                  progress=lambda _: None)
    assert set(table["horizon_days"]) == {90, 180}
    by_horizon = table.pivot(index="campaign", columns="horizon_days", values="actual")
    assert (by_horizon[180] >= by_horizon[90]).all() and (by_horizon[180] > by_horizon[90]).any()
    assert table["peer"].notna().any()
    assert (table["revenue_p10"] <= table["revenue_p50"]).all() and (table["revenue_p50"] <= table["revenue_p90"]).all()
    assert summary["forecasts"].sum() == len(table)
    folder = write_report(table, summary, tmp_path / "backtest")
    assert pd.read_csv(folder / "backtest_campaigns.csv").shape[0] == len(table)
    assert (folder / "backtest.png").read_bytes()[:4] == b"\x89PNG"


def _forecasts(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("select campaign_id, basis, horizon_days, revenue_p10_krw, revenue_p50_krw,"
                            " revenue_p90_krw, run_id from ltv.campaign_forecasts order by 1, 2, 3").fetchall()


def test_nightly_job_publishes_replaces_and_keeps_forecasts_when_a_fit_is_rejected(warehouse_with_marts, tmp_path):
    url, as_of = warehouse_with_marts
    quick = FitSettings(method="map", draws=100, chains=1)
    first = run_nightly(url, as_of, "night-1", quick, unit_days=7, forecast_draws=60, progress=lambda _: None)
    published = _forecasts(url)
    assert first["rows"] == len(published) > 0
    for _, basis, horizon, p10, p50, p90, run_id in published:
        assert p10 <= p50 <= p90 and run_id == "night-1"
    # A rerun of the same night replaces its rows; same seed, same data: same numbers.
    run_nightly(url, as_of, "night-1-rerun", quick, unit_days=7, forecast_draws=60, progress=lambda _: None)
    rerun = _forecasts(url)
    assert [r[:6] for r in rerun] == [r[:6] for r in published] and {r[6] for r in rerun} == {"night-1-rerun"}
    # A fit that fails its diagnostics publishes nothing and says why.
    strict = dataclasses.replace(FitSettings(draws=20, tune=20, chains=2), min_ess_bulk=10_000)
    with pytest.raises(ForecastRejected, match="bulk ESS"):
        run_nightly(url, as_of, "night-2", strict, unit_days=7, progress=lambda _: None)
    assert _forecasts(url) == rerun
    with psycopg.connect(url) as conn:
        runs = dict(conn.execute("select run_id, status from ltv.model_runs").fetchall())
        snapshot = conn.execute("select count(distinct data_snapshot) from ltv.model_runs").fetchone()[0]
    assert runs == {"night-1": "published", "night-1-rerun": "published", "night-2": "rejected"}
    assert snapshot == 1
    assert "ROAS p50" in forecast_table(url, as_of)
    # What a marketer takes away: the same rows in CSV and Excel, and a fan chart.
    frame = read_forecasts(url, as_of)
    assert len(frame) == len(rerun)
    csv_rows = pd.read_csv(export(frame, tmp_path / "ltv.csv"))
    xlsx_rows = pd.read_excel(export(frame, tmp_path / "ltv.xlsx"))
    assert len(csv_rows) == len(xlsx_rows) == len(frame)
    assert xlsx_rows["revenue_p50_krw"].to_numpy() == pytest.approx(frame["revenue_p50_krw"].to_numpy())
    assert fan_chart(frame, tmp_path / "fan.png").read_bytes()[:4] == b"\x89PNG"

"""Rolling-origin backtest of the LTV model at scale: campaigns of tens of thousands of
customers, generated purchase by purchase, so every future purchase is known.

Each customer of campaign g gets a purchase rate lambda ~ Gamma(r_g, alpha_g), a dropout
probability p ~ Beta(a_g, b_g) and a spend scale nu ~ Gamma(q, v_g); their first
purchase is at acquisition (spread over ``--weeks``), repeats arrive as a Poisson process
and after each repeat they drop out with probability p; each purchase's value is
Gamma(p_s, nu). At each as-of date the model sees the summaries of everything before it
(on the nightly job's half-week grid) and forecasts the revenue the same customers make
in the next 180 days, which is then compared with what they really made.

The nightly NUTS fit and the MAP fallback run on the same rows. Printed per fit: the
fit's seconds and diagnostics, then the scores in the backtest's usual table (median
|error|, bias, 80% interval coverage).

    .venv/bin/python bench/ltv_backtest_scale.py [--customers 300000 --campaigns 12 --as-of 20 23 26]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

HORIZON_DAYS = 180


def simulate_purchases(campaigns: int, customers: int, weeks: float, end: float, seed: int):
    """(customers frame, purchases frame, true parameters): every purchase until ``end`` weeks."""
    rng = np.random.default_rng(seed)
    names = [f"c{i:02d}" for i in range(campaigns)]

    def around(centre, spread):
        return np.exp(rng.normal(np.log(centre), spread, campaigns))

    truth = pd.DataFrame({"r": around(0.8, 0.3), "alpha": around(4.0, 0.3), "a": around(0.9, 0.3),
                          "b": around(3.0, 0.3), "v": around(20000.0, 0.2)}, index=names)
    p_s, q = 6.0, 4.0
    group = rng.integers(0, campaigns, customers)
    acquired = rng.uniform(0.0, weeks, customers)
    lam = rng.gamma(truth["r"].to_numpy()[group], 1.0 / truth["alpha"].to_numpy()[group])
    drop = rng.beta(truth["a"].to_numpy()[group], truth["b"].to_numpy()[group])
    nu = rng.gamma(q, 1.0 / truth["v"].to_numpy()[group])
    who, when = [np.arange(customers)], [acquired]
    active, clock = np.arange(customers), acquired.copy()
    while len(active):
        clock = clock + rng.exponential(1.0 / lam[active])
        bought = clock < end
        active, clock = active[bought], clock[bought]
        who.append(active)
        when.append(clock)
        stays = rng.random(len(active)) >= drop[active]
        active, clock = active[stays], clock[stays]
    who, when = np.concatenate(who), np.concatenate(when)
    purchases = pd.DataFrame({"customer": who, "week": when, "value": rng.gamma(p_s, 1.0 / nu[who])})
    people = pd.DataFrame({"customer": np.arange(customers), "group": np.array(names)[group],
                           "parent": [f"ch{g % 4}" for g in group], "acquired": acquired})
    return people, purchases.sort_values(["customer", "week"], kind="stable"), truth


def summaries_at(people: pd.DataFrame, purchases: pd.DataFrame, as_of: float) -> pd.DataFrame:
    """One row per customer acquired before ``as_of``: frequency, recency, T, mean repeat value, age."""
    seen = purchases[purchases["week"] <= as_of].merge(people[["customer", "acquired"]], on="customer")
    repeats = seen[seen["week"] > seen["acquired"]]
    stats = repeats.groupby("customer").agg(frequency=("week", "size"), last=("week", "max"),
                                            monetary_value=("value", "mean"))
    frame = people[people["acquired"] <= as_of].set_index("customer").join(stats)
    frame["frequency"] = frame["frequency"].fillna(0).astype(int)
    frame["T"] = as_of - frame["acquired"]
    frame["recency"] = np.where(frame["frequency"] > 0, frame["last"] - frame["acquired"], 0.0)
    frame["age"] = frame["T"]
    return frame.reset_index()[["customer", "group", "parent", "frequency", "recency", "T", "monetary_value", "age"]]


def realised(people: pd.DataFrame, purchases: pd.DataFrame, as_of: float, horizon_weeks: float) -> pd.Series:
    later = purchases[(purchases["week"] > as_of) & (purchases["week"] <= as_of + horizon_weeks)]
    later = later.merge(people[people["acquired"] <= as_of][["customer", "group"]], on="customer")
    return later.groupby("group")["value"].sum()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=300_000)
    parser.add_argument("--campaigns", type=int, default=12)
    parser.add_argument("--weeks", type=float, default=26.0, help="acquisition window in weeks")
    parser.add_argument("--as-of", type=float, nargs="+", default=[20.0, 23.0, 26.0], help="as-of dates, in weeks")
    parser.add_argument("--methods", nargs="+", default=["nuts", "map"])
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    from models_ltv.backtest import format_summary, score, summarise
    from models_ltv.fit import FitSettings, fit
    from models_ltv.forecast import ForecastInput, Simulator
    from models_ltv.summary import encode, to_time_unit

    horizon_weeks = HORIZON_DAYS / 7.0
    started = time.perf_counter()
    people, purchases, _ = simulate_purchases(args.campaigns, args.customers, args.weeks,
                                              max(args.as_of) + horizon_weeks, args.seed)
    print(f"simulated {len(people):,} customers and {len(purchases):,} purchases in "
          f"{time.perf_counter() - started:.0f}s", flush=True)
    forecasts = {method: [] for method in args.methods}
    actual = []
    for as_of in args.as_of:
        frame = to_time_unit(summaries_at(people, purchases, as_of), 1.0)
        frame = frame.assign(weight=1, age=np.maximum(frame["age"], frame["T"]))  # T moved to its grid point
        date = f"week {as_of:g}"
        truth = realised(people, purchases, as_of, horizon_weeks)
        users = frame.groupby("group").size()
        actual.append(pd.DataFrame({"as_of_date": date, "campaign": truth.index, "horizon_days": HORIZON_DAYS,
                                    "revenue": truth.to_numpy()}))
        data = encode(frame)
        for method in args.methods:
            result = fit(data, FitSettings(method=method, seed=args.seed), progress=lambda _: None)
            diagnostics = {k: result.diagnostics[k] for k in ("max_rhat", "min_ess_bulk", "divergences",
                                                              "mean_tree_depth", "problems") if k in result.diagnostics}
            print(f"{date}: {method} fit on {len(frame):,} customers ({data.rows:,} rows) in {result.seconds:.0f}s "
                  f"{diagnostics}", flush=True)
            sim = Simulator(result, ForecastInput(customers=frame, groups=pd.DataFrame(), observed=pd.DataFrame(),
                                                  unit_days=7.0), draws=200, seed=args.seed)
            names = [str(g) for g in result.idata.posterior["campaign"].to_numpy()]
            _, revenue = sim.from_as_of(HORIZON_DAYS)
            p10, p50, p90 = np.quantile(revenue, [0.1, 0.5, 0.9], axis=0)
            forecasts[method].append(pd.DataFrame({
                "as_of_date": date, "campaign": names, "horizon_days": HORIZON_DAYS,
                "users": users.reindex(names).to_numpy(), "revenue_p10": p10, "revenue_p50": p50,
                "revenue_p90": p90}))
    realised_all = pd.concat(actual)
    for method, parts in forecasts.items():
        table = score(pd.concat(parts), realised_all)
        print(f"\n{method}: {len(table)} forecasts (campaign x as-of date), 180 days from the as-of date")
        print(format_summary(summarise(table)))
    print(f"\ntotal {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

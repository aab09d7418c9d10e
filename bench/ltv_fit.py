"""LTV model cost: fit time and peak memory at 100k and 1M customers over 100 campaigns.

Customers are simulated from known per-campaign parameters (models_ltv.simulate), times
in weeks, as the nightly job uses. Side by side, each in its own process (so its peak
memory is its own):

- weighted: this model on collapsed, weighted rows (the nightly job's path);
- per-customer: the same model on one row per customer;
- peer: pymc-marketing's stock BetaGeoModel + GammaGammaModel per campaign, no pooling.

For each: seconds, peak RSS, rows, diagnostics, and accuracy against the true
parameters (median relative error of the campaign-level r, alpha, a, b; and for NUTS
the share of true values inside the 90% intervals). Weighted and per-customer NUTS
fits of the same data are compared draw for draw: the largest difference of posterior
means in units of their Monte Carlo standard error.

    .venv/bin/python bench/ltv_fit.py [--users 100000 1000000] [--campaigns 100]
        [--nuts-draws 500] [--big-nuts-draws 300] [--skip per-customer-nuts@1000000 ...]

At sizes above --nuts-limit the per-customer NUTS fit is not run (its cost is
estimated from the gradient time ratio instead, and printed as such).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import table  # noqa: E402

CHILD = r'''
import json, sys, time, warnings, resource
warnings.filterwarnings("ignore")
import numpy as np
sys.path.insert(0, {bench!r})
from ltv_fit import world
from models_ltv.summary import encode, to_time_unit
cfg = json.loads({cfg!r})
frame, truth = world(cfg["users"], cfg["campaigns"], cfg["seed"])
weekly = to_time_unit(frame, 1.0).assign(monetary_value=lambda d: d["monetary_value"].round(-2))
out = {{}}
started = time.perf_counter()
if cfg["kind"] == "peer":
    from models_ltv.peer import _fit_campaign
    estimates = {{}}
    for name, rows in weekly.groupby("group", sort=True):
        rows = rows.assign(customer_id=np.arange(len(rows)))
        purchases, _ = _fit_campaign(rows, cfg["method"], cfg["seed"], cfg["draws"])
        post = purchases.fit_result
        estimates[name] = {{k: float(post[k].mean()) for k in ("r", "alpha", "a", "b")}}
    out["rows"] = len(weekly)
    out["means"] = estimates
else:
    from models_ltv.fit import FitSettings, fit
    data = encode(weekly, collapse_rows=cfg["kind"] == "weighted")
    settings = FitSettings(method=cfg["method"], draws=cfg["draws"], tune=cfg["draws"], chains=4, seed=cfg["seed"])
    result = fit(data, settings, progress=lambda line: print(line, file=sys.stderr, flush=True))
    out["rows"] = data.rows
    out["diagnostics"] = {{k: v for k, v in result.diagnostics.items() if k != "note"}}
    groups = [str(g) for g in data.groups]
    out["means"] = {{g: {{k: float(result.posterior(k)[:, i].mean()) for k in ("r", "alpha", "a", "b")}}
                    for i, g in enumerate(groups)}}
    if cfg["method"] == "nuts":
        import arviz as az
        mcse = az.mcse(result.idata, var_names=["r", "alpha", "a", "b"], method="mean")
        out["mcse"] = {{g: {{k: float(mcse[k].values[i]) for k in ("r", "alpha", "a", "b")}}
                       for i, g in enumerate(groups)}}
        inside = total = 0
        for i, g in enumerate(groups):
            for k in ("r", "alpha", "a", "b"):
                low, high = np.quantile(result.posterior(k)[:, i], [0.05, 0.95])
                inside += int(low <= truth[g][k] <= high); total += 1
        out["coverage_90"] = inside / total
out["seconds"] = time.perf_counter() - started
out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
errors = [abs(out["means"][g][k] / truth[g][k] - 1) for g in out["means"] for k in ("r", "alpha", "a", "b")]
out["median_rel_error"] = float(np.median(errors))
print("RESULT " + json.dumps(out))
'''


def world(users: int, campaigns: int, seed: int):
    """Campaigns of uneven size (log-normal shares) in five channels, parameters drawn
    around a population centre; returns (customer summaries, true parameters)."""
    import numpy as np

    from models_ltv.simulate import simulate_campaigns

    rng = np.random.default_rng(seed)
    share = rng.lognormal(0.0, 1.0, campaigns)
    sizes = np.maximum(30, (share / share.sum() * users).astype(int))
    names = [f"c{i:03d}" for i in range(campaigns)]
    channel = {name: f"ch{i % 5}" for i, name in enumerate(names)}

    def around(centre, spread):
        return float(np.exp(rng.normal(np.log(centre), spread)))

    truth = {name: dict(r=around(0.8, 0.3), alpha=around(4.0, 0.3), a=around(0.9, 0.3), b=around(3.0, 0.3),
                        p=6.0, q=4.0, v=around(20000.0, 0.2)) for name in names}
    frame = simulate_campaigns(dict(zip(names, sizes.tolist())), channel, truth, max_age=26.0, seed=seed)
    return frame, truth


def run(cfg: dict) -> dict:
    code = CHILD.format(bench=str(Path(__file__).parent), cfg=json.dumps(cfg))
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1][:200], "wall": time.perf_counter() - started}
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return {**json.loads(line[7:]), "wall": time.perf_counter() - started}


def mcse_distance(one: dict, other: dict) -> float:
    """Largest |difference of posterior means| / combined Monte Carlo standard error."""
    worst = 0.0
    for g in one["means"]:
        for k in one["means"][g]:
            se = (one["mcse"][g][k] ** 2 + other["mcse"][g][k] ** 2) ** 0.5
            worst = max(worst, abs(one["means"][g][k] - other["means"][g][k]) / se)
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--campaigns", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--nuts-draws", type=int, default=500, help="draws and tuning steps per chain (4 chains)")
    parser.add_argument("--big-nuts-draws", type=int, default=300, help="the same above --nuts-limit users")
    parser.add_argument("--nuts-limit", type=int, default=200_000,
                        help="above this many users, per-customer NUTS is estimated, not run")
    parser.add_argument("--skip", nargs="*", default=[], help="configurations to skip, as kind-method@users")
    args = parser.parse_args()

    rows, results = [], {}
    header = ("users", "configuration", "method", "rows", "seconds", "peak MiB", "R-hat", "ESS", "div",
              "param err", "90% cover")
    for users in args.users:
        draws = args.nuts_draws if users <= args.nuts_limit else args.big_nuts_draws
        plan = [("weighted", "nuts"), ("weighted", "map"), ("per-customer", "map"), ("peer", "map")]
        if users <= args.nuts_limit:
            plan.insert(1, ("per-customer", "nuts"))
        for kind, method in plan:
            key = f"{kind}-{method}@{users}"
            if key in args.skip:
                continue
            print(f"... {key}", flush=True)
            cfg = {"users": users, "campaigns": args.campaigns, "seed": args.seed, "kind": kind, "method": method,
                   "draws": draws}
            res = results[key] = run(cfg)
            if "error" in res:
                rows.append((f"{users:,}", kind, method, "-", f"{res['wall']:.0f}", "-", "-", "-", "-", "failed",
                             res["error"][:40]))
            else:
                diag = res.get("diagnostics", {})
                rows.append((f"{users:,}", kind, f"{method} {draws}" if method == "nuts" else method,
                             f"{res['rows']:,}", f"{res['seconds']:.0f}", f"{res['peak_mib']:.0f}",
                             f"{diag['max_rhat']:.3f}" if "max_rhat" in diag else "-",
                             f"{diag['min_ess_bulk']:.0f}" if "min_ess_bulk" in diag else "-",
                             str(diag.get("divergences", "-")), f"{res['median_rel_error']:.1%}",
                             f"{res['coverage_90']:.0%}" if "coverage_90" in res else "-"))
            print(table(rows[-1:], header), flush=True)
    print()
    print(table(rows, header))
    for users in args.users:
        w, p = results.get(f"weighted-nuts@{users}"), results.get(f"per-customer-nuts@{users}")
        wm, pm_ = results.get(f"weighted-map@{users}"), results.get(f"per-customer-map@{users}")
        if w and p and "error" not in w and "error" not in p:
            print(f"{users:,} users, NUTS: weighted {p['seconds'] / w['seconds']:.2f}x faster than per-customer; "
                  f"largest difference of posterior means {mcse_distance(w, p):.1f} Monte Carlo SEs")
        if wm and pm_ and "error" not in wm and "error" not in pm_:
            print(f"{users:,} users, MAP: weighted {pm_['seconds'] / wm['seconds']:.2f}x faster than per-customer")
    return 0


if __name__ == "__main__":
    sys.exit(main())

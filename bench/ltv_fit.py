"""LTV model cost and accuracy at 100k and 1M customers over 100 campaigns, the current
model beside the previous one.

Customers are simulated from known per-campaign parameters (models_ltv.simulate), times
in weeks, as the nightly job uses. Each configuration runs in its own process (so its
peak memory is its own) under a wall-clock budget; a run that has not finished by then
is stopped and reported with how far it got:

- ``nuts``: this model as the nightly job fits it (purchase and spend parts sampled
  apart, cell-summed likelihoods, thick campaigns centred);
- ``joint``: the same model with one sampler for both parts;
- ``previous``: the model at commit ``--previous`` (hbgnbd-gg-2: one sampler, every
  campaign non-centred, pymc-marketing's per-row BG/NBD log-density);
- ``map``: the posterior-mode fallback; ``peer``: pymc-marketing's stock BetaGeoModel +
  GammaGammaModel per campaign (MAP), no pooling.

Columns: seconds, peak RSS, weighted rows, the cost of one log-density + gradient
evaluation (one thread), tree depth (mean and max over draws), gradient evaluations
(warm-up included) and the warm-up's share of them, R-hat, bulk ESS, bulk ESS per
second, divergences, the median relative error of the campaigns' r, alpha, a, b and, for
NUTS, the share of those true values inside their 90% intervals.

    .venv/bin/python bench/ltv_fit.py [--plan nuts@1000000 previous@100000:500 nuts@2357/1 ...] [--budget-minutes 30]

The default plan takes about 2 hours on 2 cores (the previous model runs into the
30-minute budget at 100k and 1M).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from growthflow_tools.bench import table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("nuts", "joint", "previous", "map", "peer")

CHILD = r'''
import importlib.util, json, subprocess, sys, time, warnings, resource
warnings.filterwarnings("ignore")
import numpy as np
sys.path.insert(0, {bench!r})
from ltv_fit import gradient_ms, world
from models_ltv.summary import encode, to_time_unit
cfg = json.loads({cfg!r})
frame, truth = world(cfg["users"], cfg["campaigns"], cfg["seed"])
weekly = to_time_unit(frame, 1.0)
say = lambda line: print(line, file=sys.stderr, flush=True)
out = {{}}
started = time.perf_counter()
if cfg["kind"] == "peer":
    from models_ltv.peer import fit_campaign
    estimates = {{}}
    for name, rows in weekly.groupby("group", sort=True):
        rows = rows.assign(customer_id=np.arange(len(rows)))
        purchases, _ = fit_campaign(rows, "map", cfg["seed"], cfg["draws"])
        post = purchases.fit_result
        estimates[name] = {{k: float(post[k].mean()) for k in ("r", "alpha", "a", "b")}}
    out["rows"] = len(weekly)
    out["means"] = estimates
else:
    from models_ltv.fit import CAMPAIGN_PARAMS, SHARED_PARAMS, Fit, FitSettings, fit, sample_model
    data = encode(weekly)
    settings = FitSettings(method="map" if cfg["kind"] == "map" else "nuts", draws=cfg["draws"], tune=cfg["draws"],
                           chains=4, seed=cfg["seed"], separate_parts=cfg["kind"] != "joint")
    if cfg["kind"] == "previous":
        source = subprocess.run(["git", "show", cfg["previous"] + ":models_ltv/model.py"], cwd={root!r},
                                capture_output=True, text=True, check=True).stdout
        module = importlib.util.module_from_spec(importlib.util.spec_from_loader("previous_model", loader=None))
        sys.modules["previous_model"] = module  # its dataclasses look themselves up there
        exec(compile(source, "previous_model.py", "exec"), module.__dict__)
        build = module.build_model
        out["grad_ms"] = gradient_ms(build(data))
        started = time.perf_counter()
        # As that commit fitted it: one sampler, its draws and target accept.
        idata, found = sample_model(build(data), CAMPAIGN_PARAMS + SHARED_PARAMS, settings, say)
        result = Fit(idata, settings, found["seconds"], found)
    else:
        from models_ltv.model import build_model
        if cfg["kind"] != "map":
            out["grad_ms"] = gradient_ms(build_model(data))
            started = time.perf_counter()
        result = fit(data, settings, progress=say)
    out["rows"] = data.rows
    out["diagnostics"] = {{k: v for k, v in result.diagnostics.items() if k not in ("note", "parts")}}
    groups = [str(g) for g in data.groups]
    out["means"] = {{g: {{k: float(result.posterior(k)[:, i].mean()) for k in ("r", "alpha", "a", "b")}}
                    for i, g in enumerate(groups)}}
    if settings.method == "nuts":
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

    from models_ltv.simulate import CDNOW, simulate_campaigns

    if campaigns == 1:  # one campaign: CDNOW's published estimates over 39 weeks
        frame = simulate_campaigns({"c000": users}, {"c000": "ch0"}, {"c000": CDNOW}, max_age=39.0, seed=seed)
        return frame, {"c000": CDNOW}

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
    return frame.assign(monetary_value=frame["monetary_value"].round(-2)), truth  # prices in hundreds of KRW


def gradient_ms(model, evaluations: int = 50) -> float:
    """Milliseconds for one log-density + gradient evaluation on one thread (numba, as nutpie compiles)."""
    import pytensor
    import pytensor.tensor as pt

    logp = model.logp()
    function = pytensor.function(model.value_vars, [logp, *pt.grad(logp, model.value_vars)], mode="NUMBA")
    point = model.initial_point()
    args = [point[v.name] for v in model.value_vars]
    function(*args)
    started = time.perf_counter()
    for _ in range(evaluations):
        function(*args)
    return (time.perf_counter() - started) / evaluations * 1000


PROGRESS = re.compile(r"sampling[^:]*: ([\d,]+)/([\d,]+) draws .*?, ([\d,]+) leapfrog steps, (\d+) divergent, (\d+)s")


def run(cfg: dict, budget_seconds: float) -> dict:
    """One configuration in a child process; stopped at the budget with its last progress line."""
    code = CHILD.format(bench=str(Path(__file__).parent), root=str(ROOT), cfg=json.dumps(cfg))
    started = time.perf_counter()
    log = Path(f"/tmp/ltv_fit_{cfg['kind']}_{cfg['users']}.log")
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            stdout, _ = proc.communicate(timeout=budget_seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            progress = PROGRESS.findall(log.read_text())
            if not progress:
                return {"error": f"stopped at the budget before sampling started (log: {log})",
                        "wall": time.perf_counter() - started}
            done, total, steps, divergent, seconds = (int(v.replace(",", "")) for v in progress[-1])
            return {"unfinished": True, "wall": time.perf_counter() - started, "draws_done": done,
                    "draws_total": total, "steps": steps, "divergences": divergent, "sampling_seconds": seconds}
    if proc.returncode != 0:
        lines = log.read_text().strip().splitlines() or ["(no output)"]
        return {"error": lines[-1][:200], "wall": time.perf_counter() - started}
    line = next(ln for ln in stdout.splitlines() if ln.startswith("RESULT "))
    return {**json.loads(line[7:]), "wall": time.perf_counter() - started}


DEFAULT_PLAN = (
    "nuts@2357/1", "previous@2357/1",
    "nuts@100000", "joint@100000", "previous@100000",
    "nuts@1000000", "previous@1000000", "map@1000000",
)

HEADER = ("users", "configuration", "rows", "seconds", "peak MiB", "grad ms", "depth", "max depth", "grad evals",
          "warm-up", "R-hat", "ESS", "ESS/s", "div", "param err", "90% cover")


def parse(item: str, campaigns: int) -> dict:
    """``kind@users[/campaigns][:draws]``, e.g. ``nuts@1000000``, ``previous@100000:500`` or ``nuts@2357/1``."""
    kind, _, rest = item.partition("@")
    size, _, draws = rest.partition(":")
    users, _, groups = size.partition("/")
    if kind not in KINDS or not users.isdigit() or not (groups or "1").isdigit() or not (draws or "1").isdigit():
        raise SystemExit(f"cannot read plan item {item!r}: use kind@users[/campaigns][:draws per chain] with kind "
                         f"one of {', '.join(KINDS)}, e.g. nuts@1000000")
    return {"kind": kind, "users": int(users), "campaigns": int(groups or campaigns), "draws": int(draws or 500)}


def row(cfg: dict, res: dict) -> tuple:
    users = f"{cfg['users']:,}" + (f" in {cfg['campaigns']}" if cfg["campaigns"] != 100 else "")
    label = cfg["kind"] + (f" {cfg['draws']}" if cfg["kind"] not in ("map", "peer") else "")
    if "error" in res:
        return (users, label, "-", f"{res['wall']:.0f}", *["-"] * 10, "failed", res["error"][:40])
    if res.get("unfinished"):
        share = res["draws_done"] / res["draws_total"]
        return (users, label, "-", f">{res['wall']:.0f}", "-", "-", "-", "-", f"{res['steps']:,}", "-", "-", "-", "-",
                str(res["divergences"]),
                f"unfinished: {res['draws_done']:,}/{res['draws_total']:,} draws",
                f"{res['steps'] / max(res['draws_done'], 1):.0f} steps/draw, {share:.0%}")
    diag = res.get("diagnostics", {})

    def fmt(key, pattern):
        return pattern.format(diag[key]) if key in diag else "-"

    return (users, label, f"{res['rows']:,}", f"{res['seconds']:.0f}", f"{res['peak_mib']:.0f}",
            f"{res['grad_ms']:.1f}" if "grad_ms" in res else "-", fmt("mean_tree_depth", "{:.1f}"),
            fmt("max_tree_depth", "{}"), fmt("gradient_evaluations", "{:,}"), fmt("warmup_gradient_share", "{:.0%}"),
            fmt("max_rhat", "{:.3f}"), fmt("min_ess_bulk", "{:.0f}"), fmt("ess_bulk_per_second", "{:.1f}"),
            str(diag.get("divergences", "-")), f"{res['median_rel_error']:.1%}",
            f"{res['coverage_90']:.0%}" if "coverage_90" in res else "-")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", nargs="+", default=list(DEFAULT_PLAN),
                        help=f"configurations, as kind@users[/campaigns][:draws per chain, 4 chains, default 500]; kinds: "
                             f"{', '.join(KINDS)}")
    parser.add_argument("--campaigns", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--budget-minutes", type=float, default=30.0,
                        help="stop a configuration after this long and report how far it got (default 30)")
    parser.add_argument("--previous", default="464f04c", help="commit whose models_ltv/model.py is 'previous'")
    args = parser.parse_args()

    rows = []
    for item in args.plan:
        cfg = {**parse(item, args.campaigns), "seed": args.seed, "previous": args.previous}
        print(f"... {item}", flush=True)
        rows.append(row(cfg, run(cfg, args.budget_minutes * 60)))
        print(table(rows[-1:], HEADER), flush=True)
    print()
    print(table(rows, HEADER))
    return 0


if __name__ == "__main__":
    sys.exit(main())

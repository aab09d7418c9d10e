"""Fitting: NUTS (nutpie) with a fixed seed, or a documented approximation, and the
diagnostics gate that decides whether a run may publish."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import arviz as az
import numpy as np
import nutpie
import pymc as pm
import xarray as xr

from models_ltv.model import PARTS, build_model
from models_ltv.summary import Encoded

METHODS = ("nuts", "map")


@dataclass(frozen=True)
class FitSettings:
    method: str = "nuts"  # "map": the posterior mode only, for sizes NUTS does not fit the nightly window
    draws: int = 500
    tune: int = 500
    chains: int = 4
    #: Chains run in parallel threads; each chain has its own seed, so the draws do not
    #: depend on how many run at once.
    cores: int = 2
    seed: int = 20261122
    target_accept: float = 0.98
    #: Sample the purchase and spend parts apart: their posteriors are independent, and
    #: two smaller samplers each adapt to their own geometry (``False``: one joint sampler).
    separate_parts: bool = True
    max_rhat: float = 1.01
    min_ess_bulk: float = 400.0
    max_divergences: int = 0

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"fit method {self.method!r} is not one of {', '.join(METHODS)}")


@dataclass
class Fit:
    idata: az.InferenceData
    settings: FitSettings
    seconds: float
    diagnostics: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.diagnostics.get("problems")

    def posterior(self, name: str) -> np.ndarray:
        """Draws of a campaign-level parameter, shape (draws, campaigns)."""
        values = self.idata.posterior[name]
        return values.stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()


CAMPAIGN_PARAMS = ("r", "alpha", "a", "b", "spend_v")
SHARED_PARAMS = ("spend_p", "spend_q")
PART_PARAMS = {"purchases": ("r", "alpha", "a", "b"), "spend": ("spend_v", "spend_p", "spend_q")}


def diagnose(idata: az.InferenceData, settings: FitSettings, names=CAMPAIGN_PARAMS + SHARED_PARAMS) -> dict:
    names = list(names)
    if settings.method == "map":
        return {"method": "map", "problems": [],
                "note": "posterior mode only: no MCMC diagnostics, parameter uncertainty not in the intervals"}
    summary = az.summary(idata, var_names=names, kind="diagnostics")
    divergences = int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
    out = {"method": "nuts", "max_rhat": float(summary["r_hat"].max()), "min_ess_bulk": float(summary["ess_bulk"].min()),
           "divergences": divergences, "problems": []}
    if out["max_rhat"] > settings.max_rhat:
        out["problems"].append(f"R-hat {out['max_rhat']:.3f} > {settings.max_rhat}")
    if out["min_ess_bulk"] < settings.min_ess_bulk:
        out["problems"].append(f"bulk ESS {out['min_ess_bulk']:.0f} < {settings.min_ess_bulk:.0f}")
    if divergences > settings.max_divergences:
        out["problems"].append(f"{divergences} divergent transitions > {settings.max_divergences}")
    return out


def _map_point(model: pm.Model, settings: FitSettings) -> az.InferenceData:
    """The posterior mode, repeated as ``draws`` identical draws.

    The fallback for sizes NUTS does not fit in the nightly window. It ignores
    parameter uncertainty: forecast intervals then carry only the customer-level
    randomness of the simulation and are narrower than NUTS's. (A Laplace
    approximation at the mode of this non-centred hierarchy is ill-posed: the
    pooling scales are flat at the mode and the Gaussian blows up.)
    """
    with model:
        # The default evaluation budget stops short of the mode on this model.
        mode = pm.find_MAP(method="BFGS", maxeval=100_000, seed=settings.seed, progressbar=False)
    names = list(CAMPAIGN_PARAMS + SHARED_PARAMS)
    posterior = {name: np.broadcast_to(np.asarray(mode[name]), (1, settings.draws, *np.shape(mode[name]))).copy()
                 for name in names}
    dims = {name: ["campaign"] for name in CAMPAIGN_PARAMS}
    return az.from_dict({"posterior": posterior}, coords={"campaign": list(model.coords["campaign"])}, dims=dims)


class SamplingProgress:
    """nutpie's progress callback as plain log lines (a task log has no terminal for a bar),
    at most one every ``every_seconds``."""

    def __init__(self, settings: FitSettings, say, every_seconds: float = 30.0, label: str = ""):
        self.total = settings.chains * (settings.draws + settings.tune)
        self.say, self.every, self.started, self.last = say, every_seconds, time.perf_counter(), 0.0
        self.label = f" {label}" if label else ""

    def __call__(self, chains) -> None:
        now = time.perf_counter() - self.started
        done = sum(chain.finished_draws for chain in chains)
        if now - self.last < self.every and done < self.total:
            return
        self.last = now
        divergences = sum(len(chain.divergent_draws) for chain in chains)
        steps = sum(chain.total_num_steps for chain in chains)
        eta = f", about {now / done * (self.total - done):.0f}s to go" if 0 < done < self.total else ""
        self.say(f"sampling{self.label}: {done:,}/{self.total:,} draws (tuning included), {steps:,} leapfrog steps, "
                 f"{divergences} divergent, {now:.0f}s{eta}")


def sample_model(model: pm.Model, names, settings: FitSettings, progress, label: str = "") -> tuple[az.InferenceData, dict]:
    """NUTS (nutpie) on one PyMC model: its draws of ``names``, and its diagnostics and cost."""
    started = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model, var_names=list(names))
    idata = nutpie.sample(compiled, draws=settings.draws, tune=settings.tune, chains=settings.chains,
                          cores=min(settings.cores, settings.chains), seed=settings.seed,
                          target_accept=settings.target_accept, progress_bar=False,
                          progress_callback=SamplingProgress(settings, progress, label=label), progress_rate=1000)
    seconds = time.perf_counter() - started
    diagnostics = diagnose(idata, settings, names)
    warmup, sampling = (int(idata[group]["n_steps"].sum()) for group in ("warmup_sample_stats", "sample_stats"))
    # What the sampler paid for its draws: the figures to watch as data grow.
    diagnostics.update(seconds=round(seconds, 1),
                       ess_bulk_per_second=round(diagnostics["min_ess_bulk"] / seconds, 2),
                       mean_tree_depth=round(float(idata.sample_stats["depth"].mean()), 2),
                       max_tree_depth=int(idata.sample_stats["depth"].max()),
                       gradient_evaluations=warmup + sampling,
                       warmup_gradient_share=round(warmup / max(warmup + sampling, 1), 3))
    return idata, diagnostics


def _nuts(data: Encoded, settings: FitSettings, progress) -> tuple[az.InferenceData, dict]:
    """NUTS on the whole model, or on each part with the parts' draws put side by side:
    the parts share no parameter, so draw i of one and draw i of the other is a draw of
    the joint posterior."""
    parts = PARTS if settings.separate_parts else (None,)
    posteriors, diagnostics = [], {"method": "nuts", "max_rhat": 0.0, "min_ess_bulk": np.inf, "divergences": 0,
                                   "problems": [], "parts": {}}
    for part in parts:
        names = PART_PARAMS[part] if part else CAMPAIGN_PARAMS + SHARED_PARAMS
        idata, found = sample_model(build_model(data, part), names, settings, progress,
                                    label=f"the {part} part" if part else "")
        diagnostics["parts"][part or "joint"] = {k: v for k, v in found.items() if k not in ("method", "problems")}
        diagnostics["max_rhat"] = max(diagnostics["max_rhat"], found["max_rhat"])
        diagnostics["min_ess_bulk"] = min(diagnostics["min_ess_bulk"], found["min_ess_bulk"])
        diagnostics["divergences"] += found["divergences"]
        diagnostics["problems"] += [f"{part}: {problem}" if part else problem for problem in found["problems"]]
        posteriors.append(idata.posterior.to_dataset()[list(names)])
        if part:
            progress(f"sampled the {part} part in {found['seconds']:.1f}s: {diagnostics['parts'][part]}")
    merged = xr.merge(posteriors, join="exact")
    return az.from_dict({"posterior": {name: merged[name].to_numpy() for name in merged.data_vars}},
                        coords={"campaign": list(merged["campaign"].to_numpy())},
                        dims={name: ["campaign"] for name in CAMPAIGN_PARAMS}), diagnostics


def fit(data: Encoded, settings: FitSettings = FitSettings(), progress=print) -> Fit:
    how = ("the purchase and spend parts apart" if settings.separate_parts else "jointly") \
        if settings.method == "nuts" else "the posterior mode"
    progress(f"fitting {settings.method} ({how}): {data.rows:,} weighted rows for {data.customers:,.0f} customers, "
             f"{len(data.groups)} campaigns in {len(data.parents)} channels")
    started = time.perf_counter()
    if settings.method == "nuts":
        idata, diagnostics = _nuts(data, settings, progress)
    else:
        idata = _map_point(build_model(data), settings)
        diagnostics = diagnose(idata, settings)
    seconds = time.perf_counter() - started
    if settings.method == "nuts":
        parts = diagnostics["parts"].values()
        evaluations = sum(p["gradient_evaluations"] for p in parts)
        diagnostics.update(ess_bulk_per_second=round(diagnostics["min_ess_bulk"] / seconds, 2),
                           mean_tree_depth=max(p["mean_tree_depth"] for p in parts),
                           max_tree_depth=max(p["max_tree_depth"] for p in parts),
                           gradient_evaluations=evaluations,
                           warmup_gradient_share=round(sum(p["gradient_evaluations"] * p["warmup_gradient_share"]
                                                           for p in parts) / max(evaluations, 1), 3))
    progress(f"fitted in {seconds:.1f}s; diagnostics: {diagnostics}")
    return Fit(idata, settings, seconds, diagnostics)

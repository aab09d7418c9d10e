"""Fitting: NUTS (nutpie) with a fixed seed, or a documented approximation, and the
diagnostics gate that decides whether a run may publish."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import arviz as az
import numpy as np
import nutpie
import pymc as pm

from models_ltv.model import build_model
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


def diagnose(idata: az.InferenceData, settings: FitSettings) -> dict:
    names = list(CAMPAIGN_PARAMS + SHARED_PARAMS)
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

    def __init__(self, settings: FitSettings, say, every_seconds: float = 30.0):
        self.total = settings.chains * (settings.draws + settings.tune)
        self.say, self.every, self.started, self.last = say, every_seconds, time.perf_counter(), 0.0

    def __call__(self, chains) -> None:
        now = time.perf_counter() - self.started
        done = sum(chain.finished_draws for chain in chains)
        if now - self.last < self.every and done < self.total:
            return
        self.last = now
        divergences = sum(len(chain.divergent_draws) for chain in chains)
        eta = f", about {now / done * (self.total - done):.0f}s to go" if 0 < done < self.total else ""
        self.say(f"sampling: {done:,}/{self.total:,} draws (tuning included), {divergences} divergent, "
                 f"{now:.0f}s{eta}")


def fit(data: Encoded, settings: FitSettings = FitSettings(), progress=print) -> Fit:
    model = build_model(data)
    progress(f"fitting {settings.method}: {data.rows:,} weighted rows for {data.customers:,.0f} customers, "
             f"{len(data.groups)} campaigns in {len(data.parents)} channels")
    started = time.perf_counter()
    if settings.method == "nuts":
        compiled = nutpie.compile_pymc_model(model, var_names=list(CAMPAIGN_PARAMS + SHARED_PARAMS))
        idata = nutpie.sample(compiled, draws=settings.draws, tune=settings.tune, chains=settings.chains,
                              cores=min(settings.cores, settings.chains), seed=settings.seed,
                              target_accept=settings.target_accept, progress_bar=False,
                              progress_callback=SamplingProgress(settings, progress), progress_rate=1000)
    else:
        idata = _map_point(model, settings)
    seconds = time.perf_counter() - started
    diagnostics = diagnose(idata, settings)
    if settings.method == "nuts":
        # What the sampler paid for those draws: the cost figures to watch as data grow.
        diagnostics["ess_bulk_per_second"] = round(diagnostics["min_ess_bulk"] / seconds, 2)
        diagnostics["mean_tree_depth"] = round(float(idata.sample_stats["depth"].mean()), 2)
        diagnostics["gradient_evaluations"] = int(idata.sample_stats["n_steps"].sum()
                                                  + idata.warmup_sample_stats["n_steps"].sum())
    progress(f"fitted in {seconds:.1f}s; diagnostics: {diagnostics}")
    return Fit(idata, settings, seconds, diagnostics)

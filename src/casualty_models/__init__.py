"""casualty_models: Bayesian estimation of the deaths nobody has counted yet.

Public API (imported lazily so that the command line starts fast):

- containers: :class:`CaptureTable`, :class:`ConfirmedCounts`
- priors: :class:`BetaPrior`
- models: :class:`UnderReporting`, :class:`TwoList`
- results: :class:`Results`, :func:`load_results`
- many fits: :func:`sensitivity` (-> :class:`SensitivityResult`), :func:`coverage_study`
- data: :mod:`casualty_models.datasets`
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    CasualtyModelsError,
    CasualtyModelsWarning,
    ConvergenceWarning,
    DataValidationError,
    IdentifiabilityWarning,
    MultimodalityWarning,
    PriorError,
    SparseDataWarning,
)

# name -> module that defines it; extended by later model families
_LAZY = {
    "CaptureTable": "containers",
    "ConfirmedCounts": "containers",
    "BetaPrior": "priors",
    "NormalPrior": "priors",
    "HalfNormalPrior": "priors",
    "GammaPrior": "priors",
    "Results": "results",
    "load_results": "results",
    "UnderReporting": "models.underreporting",
    "TwoList": "models.two_list",
    "DecomposableBMA": "models.bma",
    "LogLinear": "models.loglinear",
    "LogLinearMLE": "results_mle",
    "all_models": "models.loglinear",
    "model_range": "models.loglinear",
    "posterior_predictive_check": "models.loglinear",
    "datasets": "datasets",
    "ReportingTriangle": "containers",
    "Nowcast": "models.nowcast",
    "LatentClass": "models.latent_class",
    "sensitivity": "sensitivity",
    "SensitivityResult": "sensitivity",
    "load_sensitivity": "sensitivity",
    "coverage_study": "parallel",
    "DeathTable": "containers",
    "classic_excess": "models.excess",
    "ExcessBayes": "models.excess_bayes",
    "RegistryMultiplier": "models.registry",
    "Fusion": "models.fusion",
    "FusionSources": "models.fusion_data",
}

__all__ = [
    "CasualtyModelsError",
    "CasualtyModelsWarning",
    "ConvergenceWarning",
    "DataValidationError",
    "IdentifiabilityWarning",
    "MultimodalityWarning",
    "PriorError",
    "SparseDataWarning",
    "__version__",
    *_LAZY,
]

if TYPE_CHECKING:  # pragma: no cover
    from . import datasets
    from .containers import CaptureTable, ConfirmedCounts, ReportingTriangle
    from .containers.deaths import DeathTable
    from .models.bma import DecomposableBMA
    from .models.excess import classic_excess
    from .models.excess_bayes import ExcessBayes
    from .models.fusion import Fusion
    from .models.fusion_data import FusionSources
    from .models.latent_class import LatentClass
    from .models.loglinear import (
        LogLinear,
        all_models,
        model_range,
        posterior_predictive_check,
    )
    from .models.nowcast import Nowcast
    from .models.registry import RegistryMultiplier
    from .models.two_list import TwoList
    from .models.underreporting import UnderReporting
    from .parallel import coverage_study
    from .priors import BetaPrior, GammaPrior, HalfNormalPrior, NormalPrior
    from .results import Results, load_results
    from .results_mle import LogLinearMLE
    from .sensitivity import SensitivityResult, load_sensitivity, sensitivity


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        mod = importlib.import_module(f".{_LAZY[name]}", __name__)
        # the module `sensitivity` is callable (it calls sensitivity.sensitivity), so the
        # name means the same whether or not the submodule was imported first
        value = mod if name in ("datasets", "sensitivity") else getattr(mod, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'casualty_models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

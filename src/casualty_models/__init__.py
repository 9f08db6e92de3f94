"""casualty_models: Bayesian estimation of the deaths nobody has counted yet.

Public API (imported lazily so that the command line starts fast):

- containers: :class:`CaptureTable`, :class:`ConfirmedCounts`
- priors: :class:`BetaPrior`
- models: :class:`UnderReporting`, :class:`TwoList`
- results: :class:`Results`, :func:`load_results`
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
    "Results": "results",
    "load_results": "results",
    "UnderReporting": "models.underreporting",
    "TwoList": "models.two_list",
    "DecomposableBMA": "models.bma",
    "LogLinear": "models.loglinear",
    "LogLinearMLE": "models.loglinear",
    "all_models": "models.loglinear",
    "model_range": "models.loglinear",
    "posterior_predictive_check": "models.loglinear",
    "datasets": "datasets",
    "ReportingTriangle": "triangle",
    "Nowcast": "models.nowcast",
    "LatentClass": "models.latent_class",
    "Fusion": "models.fusion",
    "FusionSources": "models.fusion_data",
}

__all__ = [
    "CasualtyModelsError",
    "CasualtyModelsWarning",
    "ConvergenceWarning",
    "DataValidationError",
    "IdentifiabilityWarning",
    "PriorError",
    "SparseDataWarning",
    "__version__",
    *_LAZY,
]

if TYPE_CHECKING:  # pragma: no cover
    from . import datasets
    from .containers import CaptureTable, ConfirmedCounts
    from .models.bma import DecomposableBMA
    from .models.fusion import Fusion
    from .models.fusion_data import FusionSources
    from .models.latent_class import LatentClass
    from .models.loglinear import (
        LogLinear,
        LogLinearMLE,
        all_models,
        model_range,
        posterior_predictive_check,
    )
    from .models.nowcast import Nowcast
    from .models.two_list import TwoList
    from .models.underreporting import UnderReporting
    from .priors import BetaPrior, HalfNormalPrior, NormalPrior
    from .results import Results, load_results
    from .triangle import ReportingTriangle


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        mod = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = mod if name == "datasets" else getattr(mod, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'casualty_models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

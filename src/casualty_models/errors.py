"""Exceptions and warnings raised by casualty_models.

Every exception names the offending value, what was expected and how to fix
it.  Statistical trouble is reported with typed warnings so that callers can
filter or escalate them (``warnings.simplefilter("error", ConvergenceWarning)``).
"""

from __future__ import annotations

import inspect
import os
import warnings

__all__ = [
    "CasualtyModelsError",
    "CasualtyModelsWarning",
    "ConfigurationError",
    "ConvergenceWarning",
    "DataValidationError",
    "IdentifiabilityWarning",
    "PriorError",
    "SparseDataWarning",
    "warn",
]


class CasualtyModelsError(ValueError):
    """Base class of the library's errors (a ``ValueError``)."""


class DataValidationError(CasualtyModelsError):
    """Input data are malformed: wrong type, shape, value or label."""


class ConfigurationError(DataValidationError):
    """A model, sampler or command-line setting is impossible.

    For example an unknown choice, an integer out of range, a probability
    outside (0, 1) or a negative seed.
    Raised by :mod:`casualty_models.validation`.  It derives from
    :class:`DataValidationError` so that code written when such settings were
    checked alongside the data keeps catching them.
    """


class PriorError(CasualtyModelsError):
    """A prior specification is impossible or inconsistent."""


class CasualtyModelsWarning(UserWarning):
    """Base class of the library's warnings."""


class ConvergenceWarning(CasualtyModelsWarning):
    """MCMC chains have not converged (r-hat too high, ESS too low, divergences).

    Estimates from such a fit may be wrong; run longer chains or change the
    model before reporting the numbers.
    """


class IdentifiabilityWarning(CasualtyModelsWarning):
    """The data cannot determine the quantity asked for.

    Examples: two lists that never overlap, an interaction whose margin is
    empty.  The posterior then reflects the prior, not the data.
    """


class SparseDataWarning(CasualtyModelsWarning):
    """Some cells or strata have too few records for a stable estimate."""


_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def find_stack_level() -> int:
    """Return the stack level of the first frame outside this package.

    Used so that warnings point at the caller's line, not at library code.
    """
    frame = inspect.currentframe()
    level = 0
    while frame is not None:
        fname = inspect.getfile(frame)
        if not os.path.abspath(fname).startswith(_PKG_DIR):
            return level
        frame = frame.f_back
        level += 1
    return level


def warn(message: str, category: type[Warning]) -> None:
    """Emit ``message`` as ``category`` pointed at the caller's line."""
    warnings.warn(message, category, stacklevel=find_stack_level())

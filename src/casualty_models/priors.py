r"""Priors that can be printed, recorded with a result and rebuilt from it.

The central object is :class:`BetaPrior`, the prior on a probability such as
a list's coverage or a capture probability.  Experts rarely speak in Beta
parameters; they say "the list holds 45-65% of the deaths, I'm 90% sure".
:meth:`BetaPrior.from_interval` turns such a statement into the Beta
distribution whose central ``mass`` interval is exactly ``[low, high]``:

.. math::

    F_{a,b}(\text{low}) = \frac{1-\text{mass}}{2}, \qquad
    F_{a,b}(\text{high}) = \frac{1+\text{mass}}{2},

solved for :math:`(a, b)` on the log scale with SciPy's root finder.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from .errors import PriorError

__all__ = ["BetaPrior", "HalfNormalPrior", "NormalPrior", "prior_from_dict"]


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise PriorError(
            f"{name}={value!r} is not allowed: expected a finite number > 0. "
            f"Fix: pass a positive {name}."
        )
    return value


def prior_record(prior: Any = None, *, text: str | None = None, **fields: Any) -> dict[str, Any]:
    """One entry of a model's ``priors()`` record (the same shape for every model class).

    Every model class's ``priors()`` returns ``{parameter: record}``; each
    record is a JSON-ready dict with ``"distribution"`` (a name) and
    ``"text"`` (one line for people), plus the prior's parameters when it is
    a prior object (its ``to_dict()``) and any ``fields`` given.

    Examples
    --------
    >>> prior_record(NormalPrior(0.0, 5.0))
    {'distribution': 'Normal', 'mu': 0.0, 'sigma': 5.0, 'text': 'Normal(mu=0, sigma=5)'}
    >>> prior_record(text="p(N) proportional to 1/N", distribution="1/N")
    {'distribution': '1/N', 'text': 'p(N) proportional to 1/N'}
    """
    out: dict[str, Any] = dict(prior.to_dict()) if prior is not None else {}
    out.update(fields)
    out["text"] = text if text is not None else str(prior)
    if "distribution" not in out:
        raise PriorError("internal: a prior record needs a distribution name.")
    return out


def inverse_n_prior(scope: str = "") -> dict[str, Any]:
    """The record of the reference prior p(N) proportional to 1/N (``scope``: e.g. " per period")."""
    return prior_record(text=f"p(N) proportional to 1/N{scope}", distribution="1/N")


@dataclass(frozen=True)
class BetaPrior:
    r"""Beta prior on a probability, :math:`p \sim \mathrm{Beta}(\alpha, \beta)`.

    Parameters
    ----------
    alpha, beta : float
        Positive shape parameters.
    source : str, optional
        How the prior was obtained (for example the expert interval it was
        fitted to); printed and recorded with results.

    Examples
    --------
    >>> prior = BetaPrior.from_interval(0.45, 0.65, mass=0.9)
    >>> [round(float(q), 3) for q in prior.ppf([0.05, 0.95])]
    [0.45, 0.65]
    """

    alpha: float
    beta: float
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        _check_positive("alpha", self.alpha)
        _check_positive("beta", self.beta)

    # ------------------------------------------------------------------ build
    @classmethod
    def uniform(cls) -> BetaPrior:
        """The uniform prior Beta(1, 1)."""
        return cls(1.0, 1.0, source="uniform")

    @classmethod
    def from_interval(cls, low: float, high: float, mass: float = 0.9) -> BetaPrior:
        """Beta prior whose central ``mass`` interval is ``[low, high]``.

        Parameters
        ----------
        low, high : float
            Interval limits, ``0 < low < high < 1``.
        mass : float, default 0.9
            Prior probability that the value lies in ``[low, high]``, split
            equally between the two tails.

        Raises
        ------
        PriorError
            If the interval is impossible (outside (0, 1), reversed, empty) or
            ``mass`` is not in (0, 1).
        """
        low, high, mass = float(low), float(high), float(mass)
        for name, v in (("low", low), ("high", high)):
            if not math.isfinite(v) or not 0.0 < v < 1.0:
                raise PriorError(
                    f"coverage interval {name}={v!r} is impossible: a probability "
                    "interval needs 0 < low < high < 1. Fix: give coverage as a "
                    "fraction, e.g. 0.45 0.65 rather than 45 65."
                )
        if not low < high:
            raise PriorError(
                f"coverage interval [{low}, {high}] is empty or reversed: expected "
                "low < high. Fix: give the lower limit first."
            )
        if not math.isfinite(mass) or not 0.0 < mass < 1.0:
            raise PriorError(
                f"mass={mass!r} is impossible: expected the probability that the "
                "interval holds, strictly between 0 and 1 (e.g. 0.9)."
            )
        q_lo, q_hi = (1 - mass) / 2, (1 + mass) / 2

        def equations(log_ab: np.ndarray) -> np.ndarray:
            a, b = np.exp(log_ab)
            return np.array(
                [special.betainc(a, b, low) - q_lo, special.betainc(a, b, high) - q_hi]
            )

        # Start from the moment match of a normal with the same interval.
        mid = 0.5 * (low + high)
        sd = (high - low) / (2 * stats.norm.ppf(q_hi))
        k = max(mid * (1 - mid) / sd**2 - 1, 1e-3)
        sol = optimize.root(equations, np.log([mid * k, (1 - mid) * k]), method="hybr")
        a, b = np.exp(sol.x)
        if not sol.success or np.max(np.abs(equations(sol.x))) > 1e-8:
            raise PriorError(
                f"no Beta distribution puts {mass:.0%} of its mass in [{low}, {high}] "
                "with equal tails. Fix: widen the interval or lower the mass."
            )
        return cls(
            float(a),
            float(b),
            source=f"central {mass:.0%} interval [{low:g}, {high:g}]",
        )

    # ----------------------------------------------------------------- query
    @property
    def mean(self) -> float:
        """Prior mean ``alpha / (alpha + beta)``."""
        return self.alpha / (self.alpha + self.beta)

    def ppf(self, q: Any) -> np.ndarray:
        """Quantile function."""
        return np.asarray(stats.beta.ppf(q, self.alpha, self.beta))

    def interval(self, mass: float = 0.9) -> tuple[float, float]:
        """Central ``mass`` interval."""
        lo, hi = stats.beta.interval(mass, self.alpha, self.beta)
        return float(lo), float(hi)

    def rvs(self, size: Any, rng: np.random.Generator) -> np.ndarray:
        """Draw ``size`` values with the generator ``rng``."""
        return rng.beta(self.alpha, self.beta, size=size)

    def logit_normal_approx(self) -> tuple[float, float]:
        """Mean and sd of a normal on the logit scale with the same central 90%."""
        lo, hi = self.ppf([0.05, 0.95])
        llo, lhi = special.logit(lo), special.logit(hi)
        return float(0.5 * (llo + lhi)), float((lhi - llo) / (2 * stats.norm.ppf(0.95)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description (``prior_from_dict`` inverts it)."""
        return {"distribution": "Beta", **asdict(self)}

    def __str__(self) -> str:
        lo, hi = self.interval(0.9)
        src = f"; from {self.source}" if self.source else ""
        return (
            f"Beta(alpha={self.alpha:.4g}, beta={self.beta:.4g}): mean {self.mean:.3f}, "
            f"central 90% [{lo:.3f}, {hi:.3f}]{src}"
        )


@dataclass(frozen=True)
class NormalPrior:
    """Normal prior ``Normal(mu, sigma)``."""

    mu: float = 0.0
    sigma: float = 1.0

    def __post_init__(self) -> None:
        if not math.isfinite(float(self.mu)):
            raise PriorError(f"mu={self.mu!r} is not finite. Fix: pass a finite mean.")
        _check_positive("sigma", self.sigma)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description."""
        return {"distribution": "Normal", **asdict(self)}

    def __str__(self) -> str:
        return f"Normal(mu={self.mu:.4g}, sigma={self.sigma:.4g})"


@dataclass(frozen=True)
class HalfNormalPrior:
    """Half-normal prior ``HalfNormal(sigma)`` on a positive scale."""

    sigma: float = 1.0

    def __post_init__(self) -> None:
        _check_positive("sigma", self.sigma)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description."""
        return {"distribution": "HalfNormal", **asdict(self)}

    def __str__(self) -> str:
        return f"HalfNormal(sigma={self.sigma:.4g})"


_PRIORS: dict[str, type] = {
    "Beta": BetaPrior,
    "Normal": NormalPrior,
    "HalfNormal": HalfNormalPrior,
}


def prior_from_dict(d: dict[str, Any] | str) -> Any:
    """Rebuild a prior from :meth:`to_dict` output (or its JSON string)."""
    if isinstance(d, str):
        d = json.loads(d)
    assert isinstance(d, dict)
    d = dict(d)
    name = d.pop("distribution", None)
    if name not in _PRIORS:
        raise PriorError(
            f"unknown prior distribution {name!r}: expected one of {sorted(_PRIORS)}."
        )
    return _PRIORS[name](**d)

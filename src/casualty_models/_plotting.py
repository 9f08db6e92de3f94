"""Plotting helpers shared by the result objects.

Words for variables, count axes with thousands separators, legends outside the data,
interval bars and comparison brackets.

Matplotlib is imported inside the functions so that importing a result stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DataValidationError

if TYPE_CHECKING:
    from .results import Results

_DARK, _LIGHT, _MEDIAN, _RANGE = "#3b6aa0", "#c6d4e6", "#15314f", "#b2182b"
#: Colour-blind-safe line colours (Okabe-Ito) for several posteriors on one axis.
_LINES = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
_VAR_TEXT = {"N_total": "total {unit}", "N": "{unit}", "N_unobserved_total": "{unit} not recorded",
             "N_unobserved": "{unit} not recorded", "eventual": "eventually reported {unit}",
             "N_cumulative": "cumulative {unit}"}


def _var_label(var: str, unit: str, sel: Mapping[str, Any] | None = None) -> str:
    """Words for a posterior variable: ``"total deaths"``, never ``"N_total"``."""
    text = _VAR_TEXT.get(var, var.replace("_", " ")).format(unit=unit)
    if sel:
        text += " (" + ", ".join(f"{k} {v}" for k, v in sel.items()) + ")"
    return text


def _figure(ax: Any) -> tuple[Any, Any, bool]:
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 4.6), layout="constrained")
        return fig, ax, True
    return ax.figure, ax, False


def _histogram(x: np.ndarray, marks: Sequence[float]) -> tuple[np.ndarray, np.ndarray, float]:
    """Bins over the bulk of the draws (to the 99.9% quantile, and any marked value).

    Returns the edges, bar heights scaled to a tallest bar of 1 (a density's
    scale is not a number to read) and the share of draws beyond the last edge.
    """
    x = np.asarray(x, dtype=float)
    top = max([float(np.quantile(x, 0.999)), *marks])
    bottom = min([float(x.min()), *marks])
    n_unique = int(np.unique(x[x <= top]).size)
    edges = np.histogram_bin_edges(x, bins=min(80, max(10, n_unique)), range=(bottom, top))
    counts, edges = np.histogram(x, bins=edges)
    beyond = float(np.mean(x > top))
    return edges, counts / max(int(counts.max()), 1), beyond


def _count(v: float) -> str:
    """A count with thousands separators; infinity in words."""
    return f"{v:,.0f}" if np.isfinite(v) else "unbounded"


def _beyond_note(beyond: float) -> str:
    """Axis-label note on the draws cut off the right of the axis (never silently)."""
    return f" ({beyond:.1%} of draws lie beyond the axis)" if beyond else ""


def _patch(color: str, label: str) -> Any:
    from matplotlib.patches import Patch

    return Patch(facecolor=color, edgecolor="none", label=label)


def _bracket(ax: Any, a: float, b: float, y: float, color: str, label: str) -> Any:
    """A range drawn as a horizontal bracket at height ``y`` (data units) above the bars."""
    (line,) = ax.plot([a, b], [y, y], color=color, lw=2, marker="|", markersize=12,
                      markeredgewidth=2, solid_capstyle="butt", label=label)
    return line


def _thousands(axis: Any) -> None:
    """Integer ticks with thousands separators on a count axis (``ax.xaxis``)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins=7, integer=True))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


def _count_axis(ax: Any, label: str) -> None:
    """Counts on x with thousands separators; no density ticks on y."""
    _thousands(ax.xaxis)
    ax.set_xlabel(label)
    ax.set_ylabel("posterior probability (relative)")
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def _legend(fig: Any, ax: Any, handles: Sequence[Any], own: bool) -> None:
    """Legend outside the data: below our own figure, right of a caller's axes."""
    if own:
        fig.legend(handles=list(handles), loc="outside lower center", ncol=2, frameon=False,
                   fontsize=9)
    else:
        ax.legend(handles=list(handles), loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  frameon=False, fontsize=8)


def plot_posteriors(
    results: Mapping[str, Results],
    var: str = "N_total",
    *,
    unit: str = "deaths",
    observed: float | None = None,
    ax: Any = None,
    title: str | None = None,
) -> Any:
    """Several posteriors of the same quantity on one axis, e.g. one per assumption.

    Each is an outline (no fill, so nothing overlaps into an unreadable
    colour) on a common scale, labelled with its median and 95% interval.

    Parameters
    ----------
    results : mapping of label to Results
        E.g. ``{"shared": r1, "partial": r2, "independent": r3}``.
    var : str, default "N_total"
    unit : str, default "deaths"
    observed : float, optional
        An observed count to mark (dashed line).
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not results:
        raise DataValidationError("plot_posteriors needs at least one result.")
    fig, ax, own = _figure(ax)
    draws = {k: r.draws(var).reshape(r.draws(var).shape[0], -1).sum(axis=1)
             for k, r in results.items()}
    pooled = np.concatenate(list(draws.values()))
    marks = [] if observed is None else [float(observed)]
    edges, _, beyond = _histogram(pooled, marks)
    dens = {k: np.histogram(x, bins=edges)[0] / x.size for k, x in draws.items()}
    top = max(float(d.max()) for d in dens.values()) or 1.0
    handles = []
    for i, (k, x) in enumerate(draws.items()):
        lo, med, hi = np.quantile(x, [0.025, 0.5, 0.975])
        color = _LINES[i % len(_LINES)]
        handles.append(ax.stairs(dens[k] / top, edges, color=color, lw=2,
                                 label=f"{k}: median {med:,.0f}, 95% {lo:,.0f} to {hi:,.0f}"))
    if observed is not None:
        handles.append(ax.axvline(observed, color="black", ls="--", lw=1.5,
                                  label=f"observed {observed:,.0f}"))
    ax.set_ylim(0, 1.08)
    _count_axis(ax, _var_label(var, unit) + _beyond_note(beyond))
    ax.set_title(title or f"Posterior of {_var_label(var, unit)}")
    if own:
        fig.legend(handles=handles, loc="outside lower center", ncol=1, frameon=False,
                   fontsize=9)
    else:
        _legend(fig, ax, handles, own)
    return fig


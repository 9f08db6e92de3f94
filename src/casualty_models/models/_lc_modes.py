r"""Modes of the posterior of N, per chain: the multimodality diagnostic of the latent-class model.

Plain array code, no labels.  The draws of :math:`\log N` of all chains are
pooled and smoothed by a Gaussian kernel density estimate on a grid;
neighbouring peaks are merged while the valley between them is higher than
``valley_ratio`` times the lower peak (a shoulder, not a separate mode), and
modes holding less than ``min_weight`` of the draws are merged into their
neighbour.  Each draw is then assigned to the mode whose interval holds it,
and the share of each chain's draws in each mode is reported.  Chains that
have explored the same posterior put similar shares in each mode; a chain
stuck in one mode puts (nearly) all of its draws there, whatever the pooled
r-hat says.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["chain_mode_spread", "find_modes"]


def _kde(x: np.ndarray, grid: np.ndarray, h: float) -> np.ndarray:
    # binned KDE: histogram on the grid, convolved with the Gaussian kernel
    step = grid[1] - grid[0]
    hist, _ = np.histogram(x, bins=grid.size, range=(grid[0] - step / 2, grid[-1] + step / 2))
    half = int(np.ceil(4 * h / step))
    u = np.arange(-half, half + 1) * step
    kern = np.exp(-0.5 * (u / h) ** 2)
    return np.convolve(hist.astype(float), kern / kern.sum(), mode="same")


def find_modes(n_draws: np.ndarray, *, min_weight: float = 0.02, valley_ratio: float = 0.5,
               grid_size: int = 512) -> list[dict[str, Any]]:
    """Modes of the pooled draws of N and the share of each chain's draws in each.

    Parameters
    ----------
    n_draws : array (chain, draw)
        Draws of N (positive).
    min_weight : float
        Modes with a smaller share of the pooled draws are merged into a neighbour.
    valley_ratio : float
        Two peaks are separate modes only if the density between them falls
        below this fraction of the lower peak.

    Returns
    -------
    list of dict
        One per mode, ordered by N: ``lower``, ``upper`` (bounds of N assigned
        to the mode; the outer ones are 0 and inf), ``location`` (N at the
        peak), ``median`` (of the draws in the mode), ``weight`` (share of all
        draws) and ``chain_weights`` (share of each chain's draws).
    """
    x = np.log(np.maximum(np.asarray(n_draws, dtype=float), 1.0))
    n_chain = x.shape[0]
    flat = x.ravel()
    lo, hi = float(flat.min()), float(flat.max())
    cuts: list[float] = []
    peaks: list[float] = [float(np.median(flat))]
    sd = float(flat.std())
    if hi - lo > 1e-9 and sd > 0:
        iqr = float(np.subtract(*np.quantile(flat, [0.75, 0.25])))
        spread = min(sd, iqr / 1.349) if iqr > 0 else sd
        h = 0.9 * spread * flat.size ** -0.2  # Silverman's rule
        grid = np.linspace(lo - 3 * h, hi + 3 * h, grid_size)
        dens = _kde(flat, grid, h)
        d = np.diff(dens)
        top = [i for i in range(1, grid_size - 1) if d[i - 1] > 0 >= d[i]]
        if top:
            top_l = list(top)
            merged = True
            while merged and len(top_l) > 1:
                merged = False
                for a in range(len(top_l) - 1):
                    i, j = top_l[a], top_l[a + 1]
                    valley = float(dens[i:j + 1].min())
                    if valley > valley_ratio * min(dens[i], dens[j]):
                        top_l.pop(a if dens[i] < dens[j] else a + 1)
                        merged = True
                        break
            cut_idx = [top_l[a] + int(np.argmin(dens[top_l[a]:top_l[a + 1] + 1]))
                       for a in range(len(top_l) - 1)]
            cuts = [float(grid[c]) for c in cut_idx]
            peaks = [float(grid[t]) for t in top_l]
            # merge modes with too little weight into the neighbour across the higher valley
            while cuts:
                w = np.diff(np.r_[0.0, [np.mean(flat <= c) for c in cuts], 1.0])
                small = int(np.argmin(w))
                if w[small] >= min_weight:
                    break
                if small == 0:
                    drop = 0
                elif small == len(cuts):
                    drop = len(cuts) - 1
                else:
                    left = float(np.interp(cuts[small - 1], grid, dens))
                    right = float(np.interp(cuts[small], grid, dens))
                    drop = small - 1 if left > right else small
                cuts.pop(drop)
                peaks.pop(small)
    edges = np.r_[-np.inf, cuts, np.inf]
    modes = []
    for m in range(len(edges) - 1):
        inside = (x > edges[m]) & (x <= edges[m + 1])
        sel = flat[inside.ravel()]
        modes.append({
            "lower": float(np.exp(edges[m])) if np.isfinite(edges[m]) else 0.0,
            "upper": float(np.exp(edges[m + 1])) if np.isfinite(edges[m + 1]) else float("inf"),
            "location": float(np.exp(peaks[m])),
            "median": float(np.exp(np.median(sel))) if sel.size else float("nan"),
            "weight": float(inside.mean()),
            "chain_weights": [float(inside[c].mean()) for c in range(n_chain)],
        })
    return modes


def chain_mode_spread(modes: list[dict[str, Any]]) -> float:
    """Largest difference between two chains' shares of draws in the same mode."""
    if len(modes) < 2:
        return 0.0
    return float(max(max(m["chain_weights"]) - min(m["chain_weights"]) for m in modes))

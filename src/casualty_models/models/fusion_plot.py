"""The chart of a :class:`~casualty_models.models.fusion.Fusion` fit, for publication.

Top: deaths per period, the posterior as a fan (50% and 95%), with the named list's
chart as seen on its snapshot date.  Bottom: cumulative deaths as a fan, with the list's
running totals (fitted, and held out when after the analysis date), the measured totals
turned cumulative (e.g. excess mortality of an age band, shown as measured), and
published estimates as points with their intervals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["plot_fusion"]


def _band(ax: Any, x: Any, draws: np.ndarray, color: str, label: str) -> None:
    q = np.quantile(draws, [0.025, 0.25, 0.5, 0.75, 0.975], axis=0)
    ax.fill_between(x, q[0], q[4], color=color, alpha=0.18, lw=0, label=f"{label} (95%)")
    ax.fill_between(x, q[1], q[3], color=color, alpha=0.35, lw=0, label=f"{label} (50%)")
    ax.plot(x, q[2], color=color, lw=1.6)


def plot_fusion(results: Any, *, estimates: pd.DataFrame | None = None,
                title: str | None = None) -> Any:
    """Two-panel chart: deaths per period and cumulative deaths, with every source.

    Parameters
    ----------
    results : Results
        A :class:`~casualty_models.models.fusion.Fusion` fit.
    estimates : DataFrame, optional
        Published estimates to show (columns ``reference_date``, ``estimate``, ``low``,
        ``high``, ``population``); default: the probate-registry estimates of
        ``russia_published_estimates`` for a fit of the shipped Russian bundle.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    tree = results.tree
    post = results.posterior
    x = pd.to_datetime(post["N"].coords["period"].values)
    n = post["N"].sum("stratum").stack(sample=("chain", "draw")).transpose("sample", ...).values
    per_day = 7 if results.attrs.get("period") == "week" else 30.4
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 8.5), sharex=True)
    unit = results.attrs.get("period", "period")
    chart = tree["observed_data"]["chart"]
    cx = pd.to_datetime(chart.coords["chart_period"].values)
    ax1.bar(cx + pd.Timedelta(days=per_day / 2), chart.values, width=per_day * 0.85,
            color="#9a9a9a",
            label=f"named, known date of death, as seen {results.attrs.get('snapshot_date')}")
    xm = x + pd.Timedelta(days=per_day / 2)
    _band(ax1, xm, n, "#b2182b", f"deaths per {unit}, all sources")
    as_of = pd.Timestamp(results.attrs.get("as_of"))
    for ax in (ax1, ax2):
        ax.axvline(as_of, color="black", lw=0.8, ls=":")
    ax1.text(as_of, ax1.get_ylim()[1] * 0.97, f" analysis date {as_of.date()}", fontsize=8,
             va="top")
    ax1.set_ylabel(f"deaths per {unit}")
    ax1.legend(fontsize=8, frameon=False, loc="upper left")

    cum = np.cumsum(n, axis=1)
    ends = pd.to_datetime(tree["constant_data"]["period_end"].values)
    _band(ax2, ends, cum, "#b2182b", "cumulative deaths, all sources")
    if "list_total" in post:
        lt = post["list_total"]
        ld = pd.to_datetime(lt.coords["list_date"].values)
        q = lt.quantile([0.025, 0.5, 0.975], dim=("chain", "draw")).values
        ax2.errorbar(ld, q[1], yerr=[q[1] - q[0], q[2] - q[1]], fmt="none", ecolor="#2166ac",
                     capsize=3, lw=1, label="names on the list, model (95%)")
    if "milestones" in tree["observed_data"].data_vars:
        ms = tree["observed_data"]["milestones"]
        ax2.plot(pd.to_datetime(ms.coords["milestone"].values), ms.values, "o",
                 color="#2166ac", ms=5, label="names on the list (fitted)")
    held = _held_out_milestones(results)
    if held is not None and len(held):
        ax2.plot(held.index, held.values, "o", mfc="white", mec="#2166ac", ms=6,
                 label="names on the list (later, not used)")
    if "measurement_value" in tree["observed_data"].data_vars:
        mv = tree["observed_data"]["measurement_value"]
        sd = tree["constant_data"]["measurement_sd"].values
        ages = tree["constant_data"]["measurement_ages"].values
        names = [str(v) for v in mv.coords["measurement"].values]
        excess = [i for i, nm in enumerate(names) if nm.startswith("excess")]
        if excess:  # measured yearly totals, cumulated (as measured: their age band only)
            vals = np.cumsum(mv.values[excess])
            sds = np.sqrt(np.cumsum(sd[excess] ** 2))
            dates = [pd.Timestamp(f"{nm.split()[1]}-12-31") for nm in
                     (names[i] for i in excess)]
            ax2.errorbar(dates, vals, yerr=1.96 * sds, fmt="s", color="#1b7837", capsize=3,
                         ms=5, label=f"excess male deaths, ages {ages[excess[0]]}, cumulative "
                         "(Rosstat, 95%)")
    est = estimates if estimates is not None else _default_estimates(results)
    if est is not None and len(est):
        for _, r in est.iterrows():
            d = pd.Timestamp(r["reference_date"])
            lo = r["estimate"] - r["low"] if np.isfinite(r["low"]) else 0.0
            hi = r["high"] - r["estimate"] if np.isfinite(r["high"]) else 0.0
            ax2.errorbar([d], [r["estimate"]], yerr=[[lo], [hi]], fmt="D", color="#762a83",
                         capsize=3, ms=5)
            ax2.annotate(f"probate {r['estimate']:,.0f}\n({r['population']})", (d, r["estimate"]),
                         textcoords="offset points", xytext=(-95, 8), fontsize=7,
                         color="#762a83")
        ax2.plot([], [], "D", color="#762a83", label="probate-registry estimates (not fitted)")
    c = post["coverage"].values.ravel()
    ax2.set_ylabel("cumulative deaths")
    ax2.legend(fontsize=7.5, frameon=False, loc="upper left")
    ax2.text(0.99, 0.03, f"named list's coverage (learned): {np.median(c):.0%} "
             f"[{np.quantile(c, 0.025):.0%}, {np.quantile(c, 0.975):.0%}]; newsroom's "
             "judgement 45-65%", transform=ax2.transAxes, ha="right", fontsize=8)
    for ax in (ax1, ax2):
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.spines[["top", "right"]].set_visible(False)
    ax1.set_title(title or "Russian military deaths: one series behind the named list, its "
                  "chart and excess mortality" if results.attrs.get("data_source") ==
                  "dataset:russia" else title or "Deaths behind several sources")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def _held_out_milestones(results: Any) -> pd.Series | None:
    if results.attrs.get("data_source") != "dataset:russia" or "list_total" not in \
            results.posterior:
        return None
    from ..datasets import load

    ms = load("russia_milestones")
    s = pd.Series(ms["names_confirmed"].to_numpy(float), index=pd.to_datetime(ms["date"]))
    dates = pd.to_datetime(results.posterior["list_total"].coords["list_date"].values)
    as_of = pd.Timestamp(results.attrs["as_of"])
    return s[[d for d in s.index if d > as_of and d in set(dates)]]


def _default_estimates(results: Any) -> pd.DataFrame | None:
    if results.attrs.get("data_source") != "dataset:russia":
        return None
    from ..datasets import load

    est = load("russia_published_estimates")
    est = est[est["method"].str.startswith("probate registry excess")].copy()
    end = pd.Timestamp(results.attrs["end"])
    return est[pd.to_datetime(est["reference_date"]) <= end]

"""Fan chart of a nowcast: one bar per event period, the nowcast's bands on top.

Used by ``casualty-models nowcast --out`` and by both nowcast examples.  Matplotlib is
imported here only (the caller picks the backend).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .models.nowcast_eval import periods_table
from .results import Results

__all__ = ["fan_chart", "final_counts"]


def fan_chart(
    results: Results,
    *,
    unit: str = "deaths",
    period_word: str | None = None,
    final: pd.Series | None = None,
    title: str | None = None,
    last: int | None = None,
    ax: Any = None,
) -> Any:
    """Draw the nowcast per event period and return the figure.

    Bars: reported so far.  Line and bands: nowcast median, 50% and 95% intervals
    of the eventual count (and, with a coverage prior, of the true count ``N``).
    Dots: final counts where known (``final``, e.g. from later reports).

    Parameters
    ----------
    results : Results
        A :class:`~casualty_models.models.nowcast.Nowcast` fit.
    unit : str
        What is counted, for the axis label ("hospitalisations", "deaths", ...).
    period_word : str, optional
        "day", "week" or "month" (default: the fit's period).
    final : Series, optional
        Final counts indexed by ISO period label; drawn where given.
    last : int, optional
        Draw only the last ``last`` periods.
    """
    import matplotlib.pyplot as plt

    tab = periods_table(results)
    if last is not None:
        tab = tab.iloc[-last:]
    per = period_word or str(results.tree.attrs.get("period", "period"))
    x = pd.to_datetime(tab["period"])
    step = (x.iloc[1] - x.iloc[0]) if len(x) > 1 else pd.Timedelta(days=1)
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 4.5))
    else:
        fig = ax.figure
    ax.bar(x, tab["reported"], width=0.8 * step, color="#b0b0b0",
           label=f"reported by {results.tree.attrs.get('now', 'now')}")
    has_n = "N_median" in tab.columns
    bands = [("eventual", "#4c72b0", "#1f3b73", f"eventually reported {unit}")]
    if has_n:
        bands.append(("N", "#c44e52", "#8c1c1f", f"true {unit} (coverage prior)"))
    for var, light, dark, label in bands:
        ax.fill_between(x, tab[f"{var}_q025"], tab[f"{var}_q975"], color=light, alpha=0.18,
                        step="mid", label=f"{label}: 95%")
        ax.fill_between(x, tab[f"{var}_q25"], tab[f"{var}_q75"], color=light, alpha=0.4,
                        step="mid", label=f"{label}: 50%")
        ax.plot(x, tab[f"{var}_median"], color=dark, drawstyle="steps-mid", lw=1.4,
                label=f"{label}: median")
    if final is not None:
        fin = pd.Series(final)
        fin.index = [str(pd.Timestamp(i).date()) for i in fin.index]
        keep = [p for p in tab["period"] if p in fin.index]
        if keep:
            ax.plot(pd.to_datetime(keep), fin.loc[keep].to_numpy(), "k.", ms=6,
                    label="final count")
    incomplete = x[~tab["complete"].to_numpy()]
    if len(incomplete):
        ax.axvspan(incomplete.min() - step / 2, x.max() + step / 2, color="#f0c05a",
                   alpha=0.12, label="still being reported")
    ax.set_ylabel(f"{unit} per {per}")
    ax.set_xlabel(f"{per} of the event")
    ax.set_ylim(bottom=0)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7, frameon=False, loc="upper left", ncol=2)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def final_counts(events: pd.Series, reports: pd.Series, labels: list[str], period: str,
                 max_delay: int) -> pd.Series:
    """Final counts per period label from a full line list (reports after ``now`` included).

    Only periods whose whole delay window lies inside the data are returned.
    """
    freq = {"day": "D", "week": "W", "month": "M"}[period]
    ev = pd.to_datetime(events).dt.to_period(freq)
    rep = pd.to_datetime(reports).dt.to_period(freq)
    delay = np.asarray([(r - e).n for r, e in zip(rep, ev, strict=True)])
    counts = ev[delay <= max_delay].dt.start_time.dt.date.astype(str).value_counts()
    last_report = rep.max()
    out = {}
    for lab in labels:
        p = pd.Period(lab, freq=freq)
        if (last_report - p).n >= max_delay:
            out[lab] = int(counts.get(lab, 0))
    return pd.Series(out, dtype=np.int64)

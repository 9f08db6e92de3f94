"""Evaluation of nowcasts: per-period tables, scores, backtests, simulation, calibration.

Split from :mod:`casualty_models.models.nowcast` (the model) so that the model module
holds the model only.  Nothing here prints or plots.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..containers import ReportingTriangle
from ..errors import DataValidationError
from ..results import Results
from .nowcast import Nowcast

__all__ = ["backtest", "calibrate_delay_from_milestones", "crps_samples", "periods_json",
           "periods_table", "score_nowcast"]


def periods_table(results: Results) -> pd.DataFrame:
    """Per event period: reported so far, eventual and (with coverage) ``N``.

    Columns ``period``, ``reported``, ``complete`` and, for ``eventual``,
    ``N`` (when coverage was given) and ``N_cumulative`` (running total of
    ``N``, the eventual count without coverage), ``*_median``, ``*_q025``,
    ``*_q975``, ``*_q25``, ``*_q75``; summed over strata when there are several.
    """
    post = results.posterior
    rep = np.asarray(results.tree["constant_data"]["observed"].sum("stratum").values)
    complete = np.asarray(results.tree["constant_data"]["complete"].values)
    out = pd.DataFrame({"period": list(post["N"].coords["period"].values),
                        "reported": rep.astype(np.int64), "complete": complete})
    has_cov = "coverage" in post
    for var in ("eventual", "N", "N_cumulative") if has_cov else ("eventual", "N_cumulative"):
        x = post[var].sum("stratum").stack(sample=("chain", "draw")).values  # (t, sample)
        q = np.quantile(x, [0.5, 0.025, 0.975, 0.25, 0.75], axis=1)
        for name, row in zip(("median", "q025", "q975", "q25", "q75"), q, strict=True):
            out[f"{var}_{name}"] = row
    return out


def periods_json(results: Results) -> list[dict[str, Any]]:
    """The ``periods`` list of the command line's JSON output."""
    tab = periods_table(results)
    has_cov = "N_median" in tab.columns
    rows = []
    for _, r in tab.iterrows():
        entry: dict[str, Any] = {"period": str(r["period"]), "reported": int(r["reported"]),
                                 "complete": bool(r["complete"])}
        for var in ("eventual", "N") if has_cov else ("eventual",):
            entry[var] = {k: float(r[f"{var}_{k}"]) for k in ("median", "q025", "q975")}
        rows.append(entry)
    return rows


def crps_samples(samples: np.ndarray, y: float) -> float:
    r"""Continuous ranked probability score of draws against an outcome (lower is better).

    :math:`\mathrm{CRPS} = E|X - y| - \tfrac12 E|X - X'|`, computed exactly
    for the empirical distribution of ``samples`` (sorted-sample formula).
    """
    x = np.sort(np.asarray(samples, dtype=float).ravel())
    m = x.size
    if m == 0:
        raise DataValidationError("crps_samples needs at least one sample.")
    e1 = np.abs(x - y).mean()
    i = np.arange(1, m + 1)
    e2 = 2.0 * np.sum((2 * i - m - 1) * x) / (m * m)  # E|X - X'|
    return float(e1 - 0.5 * e2)


def score_nowcast(results: Results, truth: pd.Series | dict[str, int], *,
                  var: str = "eventual") -> pd.DataFrame:
    """Score a nowcast against the counts eventually observed.

    Parameters
    ----------
    results : Results
        A :class:`Nowcast` fit.
    truth : Series or mapping
        Eventual counts indexed by ISO period label (only those periods are
        scored).
    var : str
        ``"eventual"`` (default) or ``"N"``.

    Returns
    -------
    DataFrame indexed by period with ``truth``, ``median``, ``q025``,
    ``q975``, ``covered``, ``width``, ``abs_error`` (of the median),
    ``crps`` and ``log_score`` (minus the log of the posterior predictive
    probability of the truth, from the draws with add-one smoothing).
    """
    truth = pd.Series(truth)
    truth.index = [str(pd.Timestamp(i).date()) for i in truth.index]
    da = results.posterior[var].sum("stratum")
    rows = []
    for p, y in truth.items():
        if p not in list(da.coords["period"].values):
            raise DataValidationError(f"period {p} is not in the nowcast.")
        x = da.sel(period=p).values.ravel()
        lo, med, hi = np.quantile(x, [0.025, 0.5, 0.975])
        prob = (np.sum(x == y) + 1.0) / (x.size + 1.0)
        rows.append({"period": p, "truth": int(y), "median": med, "q025": lo, "q975": hi,
                     "covered": bool(lo <= y <= hi), "width": hi - lo,
                     "abs_error": abs(med - y), "crps": crps_samples(x, float(y)),
                     "log_score": -float(np.log(prob))})
    return pd.DataFrame(rows).set_index("period")


def calibrate_delay_from_milestones(
    snapshot: pd.Series,
    as_of: Any,
    milestones: pd.Series,
    *,
    medians: Sequence[float] = tuple(np.geomspace(1.0, 32.0, 31)),
    sdlogs: Sequence[float] = (0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0),
    period_days: int = 7,
) -> pd.DataFrame:
    r"""Score lognormal delays by how well they reproduce a list's published running totals.

    A single snapshot ``c_w`` (counts per event period ``w`` known at
    ``as_of``) and the list's earlier published totals ``L(T)`` (all
    periods together, at dates ``T`` before ``as_of`` = :math:`S`) constrain the delay:
    under a delay CDF :math:`F`, the eventual count is :math:`\lambda_w = c_w /
    F(S - w)` and the total known at :math:`T` is
    :math:`k \sum_w \lambda_w F(T - w)`, where :math:`k = L(S) /
    \sum_w c_w` (interpolated) scales the snapshot to the whole list.  Each
    (median, sdlog) pair is scored by the root mean squared log ratio of
    predicted to published totals.

    Assumptions (state them with the result): the snapshot is a constant
    fraction :math:`1/k` of the list for every period, the delay did not
    change over time, and the snapshot's counts are exact.

    Parameters
    ----------
    snapshot : Series
        Counts indexed by period start date.
    as_of : date
        Date of the snapshot.
    milestones : Series
        Published running totals of the whole list indexed by date; those
        before ``as_of`` are used (at least one, plus one after for the
        interpolation of :math:`L(S)`).
    medians, sdlogs : sequences
        Grid of lognormal median delays (in periods) and sdlogs.

    Returns
    -------
    DataFrame with columns ``median``, ``sdlog``, ``rmse_log`` (sorted,
    best first) and the predicted/published ratio at each milestone; attrs
    ``scale`` (:math:`k`) and ``list_at_as_of``.
    """
    from scipy import stats

    as_of_ts = pd.Timestamp(as_of)
    ms = pd.Series(milestones).astype(float)
    ms.index = pd.to_datetime(ms.index)
    ms = ms.sort_index()
    before = ms[ms.index < as_of_ts]
    if before.empty or not (ms.index > as_of_ts).any():
        raise DataValidationError(
            "calibration needs published totals both before and after the snapshot date "
            f"{as_of_ts.date()} (got {[str(d.date()) for d in ms.index]})."
        )
    ordinal = np.array([d.toordinal() for d in ms.index], dtype=float)
    list_at = float(np.interp(as_of_ts.toordinal(), ordinal, ms.to_numpy()))
    counts = pd.Series(snapshot).astype(float)
    mid = pd.to_datetime(counts.index) + pd.Timedelta(days=period_days / 2)
    c = counts.to_numpy()
    scale = list_at / c.sum()
    age_now = np.asarray((as_of_ts - mid).days, dtype=float) / period_days
    rows = []
    for m in medians:
        for sd in sdlogs:
            def cdf(age: np.ndarray, m: float = m, sd: float = sd) -> np.ndarray:
                return np.where(age > 0, stats.norm.cdf(
                    (np.log(np.maximum(age, 1e-9)) - np.log(m)) / sd), 0.0)

            lam = c / np.maximum(cdf(age_now), 1e-3)
            ratios = []
            for date, total in zip(before.index, before.to_numpy(), strict=True):
                age = np.asarray((date - mid).days, dtype=np.float64) / period_days
                ratios.append(scale * float(np.sum(lam * cdf(age))) / float(total))
            r = np.asarray(ratios)
            rows.append({"median": float(m), "sdlog": float(sd),
                         "rmse_log": float(np.sqrt(np.mean(np.log(r) ** 2))),
                         **{f"ratio_{d.date()}": v for d, v in zip(before.index, r,
                                                                     strict=True)}})
    out = pd.DataFrame(rows).sort_values("rmse_log").reset_index(drop=True)
    out.attrs["scale"] = scale
    out.attrs["list_at_as_of"] = list_at
    return out


def backtest(
    data: pd.DataFrame,
    *,
    event_date: str,
    report_date: str,
    nows: Sequence[Any],
    max_delay: int,
    window: int,
    lags: tuple[int, int] = (3, 12),
    model: Nowcast | None = None,
    draws: int = 1000,
    chains: int = 4,
    tune: int = 1000,
    random_seed: int | None = 1,
    executor: Any = None,
    fit_kwargs: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Score daily nowcasts at several analysis dates against the eventual counts.

    For each analysis date the line list is cut to the ``window`` days
    ending at it (events before are removed explicitly, reports after it are
    not yet known), the model is fitted, and the periods ``lags[0]`` to
    ``lags[1]`` days before the analysis date are scored against the number
    of records eventually reported for them (with a delay up to
    ``max_delay``).

    Parameters
    ----------
    random_seed : int or None, default 1
        Base seed.  The fit at analysis date ``d`` uses
        ``run_seed(random_seed, {"now": "YYYY-MM-DD"})`` (a function of the
        base seed and the date only, column ``seed``), so the scores do not
        depend on the executor, on the other dates or on their order.
    executor : optional
        Where the analysis dates are fitted: ``None`` (here, one after
        another) or any executor of
        :func:`casualty_models.parallel.open_executor` (local processes, a dask
        cluster).  Workers send back the score table of their date only.
    fit_kwargs : mapping, optional
        Further options of :meth:`Nowcast.fit` (``nuts_sampler``, ``target_accept``,
        ``progress``); on an executor they must be given here, since a
        ``sampling_options`` block of this process does not reach the workers.

    Returns
    -------
    DataFrame with one row per (analysis date, period): the columns of
    :func:`score_nowcast` plus ``now``, ``reported``, ``seed`` and
    ``wall_time`` (seconds of the fit).

    Raises
    ------
    CasualtyModelsError
        When the fit at one analysis date fails: the error names the date (``now'...'``).
    """
    from ..parallel import gather, map_runs, named_error, run_seed

    model = model or Nowcast()
    nows_ts = [pd.Timestamp(now).normalize() for now in nows]
    labels = [str(t.date()) for t in nows_ts]
    if len(set(labels)) != len(labels):
        raise DataValidationError(
            f"nows={labels}: an analysis date repeats; expected distinct dates."
        )
    ev = pd.to_datetime(data[event_date]).dt.normalize()
    rep = pd.to_datetime(data[report_date]).dt.normalize()
    delay_days = (rep - ev).dt.days
    counts = ev[delay_days <= max_delay].value_counts()
    eventual = {str(d.date()): int(v)
                for d, v in zip(pd.DatetimeIndex(counts.index), counts.to_numpy(), strict=True)}
    settings = [{"now": lab} for lab in labels]
    seeds: list[int | None] = [None if random_seed is None else run_seed(random_seed, st)
                               for st in settings]
    run = functools.partial(_backtest_one, data, event_date, report_date, max_delay, window,
                            (int(lags[0]), int(lags[1])), model, eventual,
                            {**(fit_kwargs or {}), "draws": draws, "chains": chains,
                             "tune": tune})
    if executor is None:
        frames = []
        for st, seed in zip(settings, seeds, strict=True):
            try:
                frames.append(run(st, seed))
            except Exception as exc:  # name the date, keep the cause
                raise named_error(f"now {st['now']!r}", exc) from exc
    else:
        outcomes, _ = map_runs(run, settings, seeds, executor=executor)
        frames = gather(outcomes, name="now")
    return pd.concat(frames, ignore_index=True)


def _backtest_one(data: pd.DataFrame, event_date: str, report_date: str, max_delay: int,
                  window: int, lags: tuple[int, int], model: Nowcast,
                  eventual: dict[str, int], fit_kwargs: dict[str, Any],
                  settings: dict[str, Any], seed: int | None) -> pd.DataFrame:
    """Scores of the nowcast at one analysis date (a run of ``map_runs``, or serial)."""
    now_ts = pd.Timestamp(settings["now"])
    start = now_ts - pd.Timedelta(days=window - 1)
    ev = pd.to_datetime(data[event_date]).dt.normalize()
    sub = data[(ev >= start).to_numpy()]
    tri = ReportingTriangle.from_line_list(
        sub, event_date=event_date, report_date=report_date, now=now_ts,
        max_delay=max_delay, start=start, long_delays="drop", source="backtest")
    res = model.fit(tri, **fit_kwargs, random_seed=seed)
    days = [now_ts - pd.Timedelta(days=d) for d in range(lags[1], lags[0] - 1, -1)]
    truth = pd.Series({str(d.date()): eventual.get(str(d.date()), 0) for d in days})
    sc = score_nowcast(res, truth)
    labels = tri.period_labels
    sc["reported"] = [int(tri.reported[:, labels.index(p)].sum()) for p in sc.index]
    sc["now"] = str(now_ts.date())
    sc["seed"] = -1 if seed is None else seed
    sc["wall_time"] = float(res.tree.attrs["wall_time"])
    return sc.reset_index()

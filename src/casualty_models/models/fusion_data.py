r"""The sources a fused death series is fitted to, validated once at the boundary.

A :class:`FusionSources` holds, on one grid of death periods (weeks or months):

- ``chart``: a snapshot of a named list's counts *by period of death*, as seen on
  ``snapshot_date`` (right-truncated by the reporting delay; it may hold only part of
  the list, e.g. the names with a known date of death);
- ``milestones``: the list's published running totals (all names, whatever their
  date of death) at dates up to the analysis date ``as_of``;
- ``measurements``: noisy totals of deaths in a window of death dates, optionally of
  an age band only (:class:`Measurement`: excess mortality per calendar year, a
  published estimate, ...), each with its standard error;
- ``age_counts``: for each age band used, how many of the named dead with a known age
  fall in it (the prior of the band's share of all war deaths).

:func:`russia_sources` builds the shipped Russian bundle; :func:`sources_from_config`
reads a user's own sources from a TOML file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataValidationError

__all__ = ["FusionSources", "Measurement", "russia_sources", "sources_from_config",
           "RUSSIA_PROBATE"]

_PERIODS = {"week": 7, "month": 0}


def _date(value: Any, what: str) -> pd.Timestamp:
    try:
        ts: Any = pd.Timestamp(value)
    except (ValueError, TypeError):
        ts = pd.NaT
    if ts is pd.NaT or pd.isna(ts):
        raise DataValidationError(
            f"{what}={value!r} is not a date: expected an ISO date such as 2023-11-17."
        )
    return ts.normalize()


@dataclass(frozen=True)
class Measurement:
    """A noisy measurement of the deaths in a window of death dates.

    Parameters
    ----------
    name : str
        Label, e.g. ``"excess 2022"``.
    start, end : date
        Window of death dates, both included.
    value, sd : float
        The measured number of deaths and its standard error (> 0).
    ages : (low, high), optional
        The measurement counts only deaths aged ``low`` to ``high`` (inclusive), e.g.
        ``(15, 49)`` for Rosstat's excess of men 15-49; ``None`` for all ages.
    source : str
        Source group (dropped together in the leave-one-source-out table), e.g.
        ``"excess"``.
    """

    name: str
    start: Any
    end: Any
    value: float
    sd: float
    ages: tuple[int, int] | None = None
    source: str = "measurement"

    def __post_init__(self) -> None:
        s, e = _date(self.start, f"{self.name}: start"), _date(self.end, f"{self.name}: end")
        if e < s:
            raise DataValidationError(
                f"measurement {self.name!r}: end {e.date()} is before start {s.date()}. "
                "Fix: give the window as start <= end."
            )
        object.__setattr__(self, "start", s)
        object.__setattr__(self, "end", e)
        v, sd = float(self.value), float(self.sd)
        if not np.isfinite(v) or v < 0:
            raise DataValidationError(
                f"measurement {self.name!r} has value {self.value!r}: expected a count >= 0."
            )
        if not np.isfinite(sd) or sd <= 0:
            raise DataValidationError(
                f"measurement {self.name!r} has sd {self.sd!r}: expected a standard error > 0."
            )
        object.__setattr__(self, "value", v)
        object.__setattr__(self, "sd", sd)
        if self.ages is not None:
            lo, hi = (int(a) for a in self.ages)
            if not 0 <= lo <= hi:
                raise DataValidationError(
                    f"measurement {self.name!r} has ages {self.ages!r}: expected (low, high) "
                    "with 0 <= low <= high."
                )
            object.__setattr__(self, "ages", (lo, hi))

    @property
    def band(self) -> str:
        """Age band label, ``"all"`` or e.g. ``"15-49"``."""
        return "all" if self.ages is None else f"{self.ages[0]}-{self.ages[1]}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"name": self.name, "start": str(self.start.date()),
                "end": str(self.end.date()), "value": self.value, "sd": self.sd,
                "ages": self.band, "source": self.source}


@dataclass(frozen=True)
class FusionSources:
    """Validated sources on one grid of death periods.

    Build with :meth:`build` (it validates and aligns everything), or with
    :func:`russia_sources` / :func:`sources_from_config`.

    Attributes
    ----------
    period : {"week", "month"}
    starts : DatetimeIndex
        Start of each death period of the latent series (the chart's periods, extended
        to ``end``).
    chart : int array (n_period,)
        Named deaths per period as seen on ``snapshot_date`` (0 beyond the chart);
        ``chart_mask`` marks the periods the chart shows.
    milestones : Series
        Running totals of the whole list (index: dates <= ``as_of``).
    measurements : tuple of Measurement
    age_counts : mapping band -> (in_band, with_known_age)
    dropped : tuple of str
        Sources dropped with :meth:`drop` (kept in the layout with zero weight).
    """

    period: str
    starts: pd.DatetimeIndex
    chart: np.ndarray
    chart_mask: np.ndarray
    snapshot_date: pd.Timestamp
    as_of: pd.Timestamp
    end: pd.Timestamp
    milestones: pd.Series
    measurements: tuple[Measurement, ...] = ()
    age_counts: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    dropped: tuple[str, ...] = ()
    source: str = "user"
    n_milestones_after_as_of: int = 0

    # ------------------------------------------------------------------ build
    @classmethod
    def build(
        cls,
        chart: pd.Series,
        *,
        snapshot_date: Any,
        as_of: Any = None,
        milestones: pd.Series | None = None,
        measurements: Sequence[Measurement] = (),
        ages: Iterable[float] | None = None,
        period: str = "week",
        end: Any = None,
        source: str = "user",
    ) -> FusionSources:
        """Validate and align the sources.

        Parameters
        ----------
        chart : Series
            Named deaths per death period, indexed by period start (weekly or monthly,
            consecutive).
        snapshot_date : date
            When the chart was seen.
        as_of : date, optional
            Analysis date (default ``snapshot_date``); milestones after it are not
            used.  It may not precede the snapshot (the chart would not be known) or
            the first period.
        milestones : Series, optional
            The list's running totals indexed by date.
        measurements : sequence of Measurement
        ages : iterable of float, optional
            Ages of named dead (unknown ages may be NaN); needed for measurements of an
            age band.
        end : date, optional
            Last death date of the latent series; default 31 December of ``as_of``'s
            year, and never before the last measurement window.
        """
        if period not in _PERIODS:
            raise DataValidationError(
                f"period={period!r} is unknown: expected 'week' or 'month'."
            )
        chart = pd.Series(chart)
        if chart.empty:
            raise DataValidationError("the chart has no periods: expected counts per period.")
        try:
            idx = pd.DatetimeIndex(pd.to_datetime(chart.index)).normalize()
        except (ValueError, TypeError) as exc:
            raise DataValidationError(
                f"the chart's period starts are not dates ({exc}). Fix: index the counts "
                "by ISO dates."
            ) from None
        vals = pd.to_numeric(pd.Series(chart.to_numpy()), errors="coerce").to_numpy(float)
        bad = ~np.isfinite(vals) | (vals < 0) | (vals != np.round(vals))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataValidationError(
                f"the chart has {int(bad.sum())} bad count(s), e.g. {chart.iloc[i]!r} for "
                f"{idx[i].date()}: expected whole numbers >= 0 (no negative counts)."
            )
        step = _period_starts(idx[0], len(idx), period)
        if not idx.equals(step):
            raise DataValidationError(
                f"the chart's periods are not consecutive {period}s starting "
                f"{idx[0].date()}. Fix: one row per {period}, in order, none missing."
            )
        snap = _date(snapshot_date, "snapshot_date")
        as_of_ts = snap if as_of is None else _date(as_of, "as_of")
        if as_of_ts < idx[0]:
            raise DataValidationError(
                f"as_of {as_of_ts.date()} is before the data: the first death period starts "
                f"{idx[0].date()}. Fix: pick an analysis date on or after it."
            )
        if as_of_ts < snap:
            raise DataValidationError(
                f"as_of {as_of_ts.date()} is before the chart's snapshot date {snap.date()}: "
                "the chart was not yet known. Fix: pick as_of >= the snapshot date."
            )
        ms = pd.Series(milestones) if milestones is not None else pd.Series(
            dtype=float, index=pd.DatetimeIndex([]))
        if not ms.empty:
            ms.index = pd.DatetimeIndex(pd.to_datetime(ms.index)).normalize()
            m = pd.to_numeric(ms, errors="coerce")
            if m.isna().any() or (m < 0).any():
                raise DataValidationError(
                    f"milestones must be counts >= 0; got {ms[m.isna() | (m < 0)].iloc[0]!r}. "
                    "Fix: no negative or missing running totals."
                )
            ms = m.astype(float).sort_index()
        n_after = int((ms.index > as_of_ts).sum())
        ms = ms[(ms.index <= as_of_ts) & (ms.index > idx[0])]
        meas = tuple(measurements)
        for mm in meas:
            if not isinstance(mm, Measurement):
                raise DataValidationError(
                    f"measurements must be Measurement objects, got {type(mm).__name__}."
                )
            if mm.end < idx[0]:
                raise DataValidationError(
                    f"measurement {mm.name!r} ends {mm.end.date()}, before the first death "
                    f"period {idx[0].date()}: it says nothing about these deaths."
                )
        names = [mm.name for mm in meas]
        if len(set(names)) != len(names):
            raise DataValidationError(f"measurement names repeat: {names}. Fix: unique names.")
        end_ts = (pd.Timestamp(year=as_of_ts.year, month=12, day=31) if end is None
                  else _date(end, "end"))
        end_ts = max([end_ts, as_of_ts, *(mm.end for mm in meas)])
        n = len(idx)
        while _period_starts(idx[0], n + 1, period)[-1] <= end_ts:
            n += 1
        starts = _period_starts(idx[0], n, period)
        counts = np.zeros(n, dtype=np.int64)
        counts[: len(idx)] = vals.astype(np.int64)
        mask = np.zeros(n, dtype=bool)
        mask[: len(idx)] = True
        last_end = _period_ends(starts, period)[len(idx) - 1]
        if last_end > snap + pd.Timedelta(days=1):
            raise DataValidationError(
                f"the chart's last period ends {last_end.date()}, after its snapshot date "
                f"{snap.date()}: deaths after the snapshot cannot be on it. Fix: drop the "
                "periods after the snapshot date."
            )
        age_counts: dict[str, tuple[int, int]] = {}
        bands = sorted({mm.ages for mm in meas if mm.ages is not None})
        if bands:
            if ages is None:
                raise DataValidationError(
                    f"measurements of age bands {[f'{a}-{b}' for a, b in bands]} need the ages "
                    "of named dead (ages=...) for the prior of each band's share."
                )
            a = pd.to_numeric(pd.Series(list(ages)), errors="coerce").dropna().to_numpy()
            if a.size == 0:
                raise DataValidationError("ages has no known age: expected numbers.")
            for lo, hi in bands:
                age_counts[f"{lo}-{hi}"] = (int(((a >= lo) & (a < hi + 1)).sum()), int(a.size))
        return cls(period=period, starts=starts, chart=counts, chart_mask=mask,
                   snapshot_date=snap, as_of=as_of_ts, end=end_ts, milestones=ms,
                   measurements=meas, age_counts=age_counts, source=source,
                   n_milestones_after_as_of=n_after)

    # ---------------------------------------------------------------- queries
    @property
    def n_periods(self) -> int:
        """Number of death periods in the latent series."""
        return len(self.starts)

    @property
    def ends(self) -> pd.DatetimeIndex:
        """Exclusive end of each death period."""
        return _period_ends(self.starts, self.period)

    @property
    def period_labels(self) -> list[str]:
        """ISO start date of each period."""
        return [str(d.date()) for d in self.starts]

    @property
    def source_names(self) -> list[str]:
        """Names of the sources (for :meth:`drop`): chart, milestones, measurement groups."""
        out = ["chart"]
        if len(self.milestones):
            out.append("milestones")
        for m in self.measurements:
            if m.source not in out:
                out.append(m.source)
        return out

    @property
    def active_sources(self) -> list[str]:
        """Sources not dropped."""
        return [s for s in self.source_names if s not in self.dropped]

    @property
    def bands(self) -> list[str]:
        """Age bands with a share parameter, in a fixed order."""
        return sorted(self.age_counts)

    def drop(self, *names: str) -> FusionSources:
        """The same sources with ``names`` given zero weight (same layout, same graph)."""
        for n in names:
            if n not in self.source_names:
                raise DataValidationError(
                    f"unknown source {n!r}: the sources are {self.source_names}. "
                    "Fix: drop one of those."
                )
        return replace(self, dropped=tuple(dict.fromkeys((*self.dropped, *names))))

    def weights(self) -> dict[str, Any]:
        """Likelihood weights (1 used, 0 dropped) of the chart, milestones, measurements."""
        return {"chart": float("chart" not in self.dropped),
                "milestones": float("milestones" not in self.dropped),
                "measurements": np.array([float(m.source not in self.dropped)
                                          for m in self.measurements])}

    def window_weights(self, start: Any, end: Any) -> np.ndarray:
        """Fraction of each period's days within ``[start, end]`` (both included)."""
        s = _date(start, "start")
        e = _date(end, "end") + pd.Timedelta(days=1)
        ps, pe = self.starts, self.ends
        lo = np.maximum(ps.values, s.to_datetime64())
        hi = np.minimum(pe.values, e.to_datetime64())
        days = np.maximum((hi - lo) / np.timedelta64(1, "D"), 0.0)
        return np.asarray(days / ((pe.values - ps.values) / np.timedelta64(1, "D")))

    def ages_at(self, date: Any) -> tuple[np.ndarray, np.ndarray]:
        """Fraction of each period's deaths before ``date`` and their mean age there (weeks).

        The age is measured from the middle of the part of the period before ``date``.
        """
        d = _date(date, "date")
        frac = self.window_weights(self.starts[0], d - pd.Timedelta(days=1))
        ps = self.starts.values
        part_end = np.minimum(self.ends.values, d.to_datetime64())
        mid = ps + (part_end - ps) / 2
        age = (d.to_datetime64() - mid) / np.timedelta64(7, "D")
        return frac, np.where(frac > 0, np.asarray(age, dtype=float), 0.0)

    def layout(self) -> tuple[Any, ...]:
        """What a compiled graph depends on (dates and shapes, not counts)."""
        return (self.period, self.period_labels, self.chart_mask.tobytes(),
                str(self.snapshot_date.date()), [str(d.date()) for d in self.milestones.index],
                [(m.name, str(m.start.date()), str(m.end.date()), m.band)
                 for m in self.measurements], self.bands)

    def fingerprint(self) -> str:
        """sha256 of the data (counts, dates, values)."""
        payload = {"layout": self.layout(), "chart": self.chart.tolist(),
                   "milestones": self.milestones.tolist(),
                   "measurements": [m.to_dict() for m in self.measurements],
                   "age_counts": dict(self.age_counts), "as_of": str(self.as_of.date())}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str)
                              .encode()).hexdigest()

    def describe(self) -> list[dict[str, Any]]:
        """One row per source: name, what it is, used or dropped."""
        rows: list[dict[str, Any]] = [{
            "source": "chart", "used": "chart" not in self.dropped,
            "what": f"named deaths by {self.period} of death as seen on "
                    f"{self.snapshot_date.date()}: {int(self.chart.sum()):,} in "
                    f"{int(self.chart_mask.sum())} {self.period}s"}]
        if len(self.milestones):
            rows.append({"source": "milestones", "used": "milestones" not in self.dropped,
                         "what": "list totals " + ", ".join(
                             f"{v:,.0f} ({pd.Timestamp(d).date()})"  # type: ignore[arg-type]
                             for d, v in self.milestones.items())})
        for m in self.measurements:
            rows.append({"source": m.source, "used": m.source not in self.dropped,
                         "what": f"{m.name}: {m.value:,.0f} sd {m.sd:,.0f}, deaths "
                                 f"{m.start.date()} to {m.end.date()}, ages {m.band}"})
        return rows

    def __repr__(self) -> str:
        return (f"<FusionSources {self.n_periods} {self.period}s {self.period_labels[0]} to "
                f"{self.end.date()}; as of {self.as_of.date()}; sources "
                f"{self.active_sources}{'; dropped ' + str(list(self.dropped)) if self.dropped else ''}>")


def _period_starts(first: pd.Timestamp, n: int, period: str) -> pd.DatetimeIndex:
    if period == "week":
        return pd.DatetimeIndex([first + pd.Timedelta(days=7 * i) for i in range(n)])
    return pd.DatetimeIndex([first + pd.DateOffset(months=i) for i in range(n)])


def _period_ends(starts: pd.DatetimeIndex, period: str) -> pd.DatetimeIndex:
    if period == "week":
        return starts + pd.Timedelta(days=7)
    return pd.DatetimeIndex([s + pd.DateOffset(months=1) for s in starts])


# ------------------------------------------------------------------- bundles
#: The probate-registry estimates (Meduza/Mediazona) used for comparison, never fitted by
#: default: (name, death window end, value, low, high, ages).
RUSSIA_PROBATE = (
    ("probate 2023-05-27", "2023-05-27", 47000.0, 40000.0, 55000.0, (0, 49)),
    ("probate 2023-12-31", "2023-12-31", 75000.0, np.nan, np.nan, None),
)
_WAR_START = "2022-02-24"


def russia_sources(
    *,
    as_of: Any = "2023-11-17",
    excess: str = "kobak",
    probate: bool = False,
    probate_sd: float = 0.15,
    end: Any = None,
) -> FusionSources:
    """The shipped Russian bundle: weekly chart, milestones, Rosstat excess, list ages.

    Parameters
    ----------
    as_of : date, default 2023-11-17
        Analysis date: the chart's snapshot date or later; milestones after it are
        left out.
    excess : {"kobak", "hiv-adjusted", "none"}
        ``"kobak"``: excess male deaths aged 15-49 in 2022 and 2023 computed from the
        shipped Rosstat table with
        :func:`casualty_models.models.excess.classic_excess` (Kobak et al. 2025's
        method, no HIV adjustment); ``"hiv-adjusted"``: the paper's HIV-adjusted totals
        (``russia_published_estimates``); ``"none"``: no excess source.
    probate : bool, default False
        Also fit the probate-registry estimates as measurements (source ``"probate"``)
        with a relative sd ``probate_sd`` (the 2023-05-27 one with its published
        interval).  Off by default so that they can serve as an independent check.
    """
    from ..datasets import load

    if _date(as_of, "as_of") < pd.Timestamp(_WAR_START):  # before loading anything heavy
        raise DataValidationError(
            f"as_of {_date(as_of, 'as_of').date()} is before the data: the first death "
            f"period starts {_WAR_START}. Fix: pick an analysis date on or after it."
        )
    weekly = load("russia_weekly_snapshot")
    chart = pd.Series(weekly["confirmed_deaths"].to_numpy(),
                      index=pd.to_datetime(weekly["week_start"]))
    ms = load("russia_milestones")
    milestones = pd.Series(ms["names_confirmed"].to_numpy(), index=pd.to_datetime(ms["date"]))
    meas: list[Measurement] = []
    if excess == "kobak":
        meas += _kobak_excess()
    elif excess == "hiv-adjusted":
        meas += _hiv_adjusted_excess()
    elif excess != "none":
        raise DataValidationError(
            f"excess={excess!r} is unknown: expected 'kobak', 'hiv-adjusted' or 'none'."
        )
    if probate:
        for name, when, value, lo, hi, ages in RUSSIA_PROBATE:
            sd = (hi - lo) / (2 * 1.96) if np.isfinite(lo) else probate_sd * value
            meas.append(Measurement(name, _WAR_START, when, value, sd, ages=ages,
                                    source="probate"))
    named = load("russia_named_list")
    return FusionSources.build(chart, snapshot_date="2023-11-17", as_of=as_of,
                               milestones=milestones, measurements=meas,
                               ages=named["age"], period="week", end=end,
                               source="dataset:russia")


def _kobak_excess() -> list[Measurement]:
    """Excess male deaths 15-49 in 2022 and 2023 from the shipped Rosstat table.

    Computed by :func:`~casualty_models.models.excess.classic_excess` (Kobak et al.
    2025: male/female ratio, linear trend 2015-2019), 23,594 (sd 1,568) and 40,542
    (sd 1,738).
    """
    from ..datasets import load_death_table
    from .excess import classic_excess

    res = classic_excess(load_death_table(), ages="15-49", baseline=(2015, 2019),
                         years=(2022, 2023), trend="linear")
    out = []
    for y in (2022, 2023):
        est, sd = res.total(y)
        out.append(Measurement(f"excess {y}", f"{y}-01-01", f"{y}-12-31", float(est),
                               float(sd), ages=(15, 49), source="excess"))
    return out


def _hiv_adjusted_excess() -> list[Measurement]:
    from ..datasets import load

    est = load("russia_published_estimates")
    rows = est[est["method"].str.contains("HIV-adjusted")]
    out = []
    for _, r in rows.iterrows():
        year = pd.Timestamp(r["reference_date"]).year
        sd = float(str(r["note"]).split("plus/minus")[1].split("(")[0].strip())
        out.append(Measurement(f"excess {year} (HIV-adjusted)", f"{year}-01-01",
                               f"{year}-12-31", float(r["estimate"]), sd, ages=(15, 49),
                               source="excess"))
    return out


# -------------------------------------------------------------------- config
def sources_from_config(path: str | os.PathLike[str], *, as_of: Any = None) -> FusionSources:
    """Read a user's sources from a TOML file (``as_of`` overrides the file's).

    Example::

        period = "week"                 # or "month"
        snapshot_date = "2023-11-17"
        as_of = "2023-11-17"            # optional
        end = "2023-12-31"              # optional

        [chart]                         # a CSV: period start, named deaths
        file = "weekly.csv"             # relative to the config file
        period_column = "week_start"
        count_column = "confirmed_deaths"

        [milestones]                    # optional; a CSV of date, running total
        file = "milestones.csv"
        date_column = "date"
        count_column = "names_confirmed"

        [ages]                          # needed for measurements of an age band
        file = "named.csv"
        column = "age"

        [[measurement]]
        name = "excess 2022"
        start = "2022-01-01"
        end = "2022-12-31"
        value = 23594
        sd = 1568
        ages = [15, 49]                 # optional
        source = "excess"
    """
    from ..containers._common import read_toml_file

    path = os.fspath(path)
    cfg = read_toml_file(path)
    base = os.path.dirname(os.path.abspath(path))
    known = {"period", "snapshot_date", "as_of", "end", "chart", "milestones", "ages",
             "measurement"}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise DataValidationError(
            f"config {path!r} has unknown key(s) {unknown}: expected {sorted(known)}."
        )
    for key in ("chart", "snapshot_date"):
        if key not in cfg:
            raise DataValidationError(f"config {path!r} lacks {key!r} (required).")

    def table(section: str, cols: Sequence[str]) -> pd.DataFrame:
        spec = cfg[section]
        f = os.path.join(base, str(spec.get("file", "")))
        if not os.path.isfile(f):
            raise DataValidationError(f"config [{section}] file {f!r} does not exist.")
        df = pd.read_csv(f)
        for c in cols:
            if spec.get(c, c) not in df.columns:
                raise DataValidationError(
                    f"config [{section}]: column {spec.get(c, c)!r} is not in {f!r} "
                    f"(columns {list(df.columns)})."
                )
        return df

    ch = cfg["chart"]
    df = table("chart", ["period_column", "count_column"])
    chart = pd.Series(df[ch.get("period_column", "period_column")].to_numpy(), name="p")
    chart = pd.Series(df[ch.get("count_column", "count_column")].to_numpy(),
                      index=pd.to_datetime(chart))
    milestones = None
    if "milestones" in cfg:
        m = cfg["milestones"]
        dm = table("milestones", ["date_column", "count_column"])
        milestones = pd.Series(dm[m.get("count_column", "count_column")].to_numpy(),
                               index=pd.to_datetime(dm[m.get("date_column", "date_column")]))
    ages = None
    if "ages" in cfg:
        da = table("ages", ["column"])
        ages = da[cfg["ages"].get("column", "column")]
    meas = []
    for i, m in enumerate(cfg.get("measurement", [])):
        missing = [k for k in ("name", "start", "end", "value", "sd") if k not in m]
        if missing:
            raise DataValidationError(f"config [[measurement]] {i + 1} lacks {missing}.")
        a = m.get("ages")
        meas.append(Measurement(str(m["name"]), m["start"], m["end"], m["value"], m["sd"],
                                ages=None if a is None else (int(a[0]), int(a[1])),
                                source=str(m.get("source", m["name"]))))
    return FusionSources.build(chart, snapshot_date=cfg["snapshot_date"],
                               as_of=as_of or cfg.get("as_of"), milestones=milestones,
                               measurements=meas, ages=ages, period=cfg.get("period", "week"),
                               end=cfg.get("end"), source=f"config:{path}")

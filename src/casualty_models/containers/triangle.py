r"""The reporting triangle: counts by event period and reporting delay.

A death that happened in period :math:`t` and was reported in period
:math:`t + d` is counted in cell :math:`(t, d)`.  At the analysis date
("now", in period :math:`T`) the cells with :math:`t + d > T` cannot have
been observed yet: they are *masked*, never zeros.  The container stores the
**cumulative** number reported for each event period by the end of each
delay, together with a boolean ``known`` mask saying which of those
cumulative values were actually seen:

- from a line list (one row per death, with an event date and a report
  date) every observable delay is known;
- from successive snapshots of counts per event period (a newsroom's weekly
  tables) only the delays at which a snapshot was taken are known, so the
  increments between snapshots span several delays.

Both cases lead to the same likelihood (see
:class:`~casualty_models.models.nowcast.Nowcast`): the increments between
consecutive known cumulative values.

Periods are ``"day"``, ``"week"`` (seven-day blocks from ``start``) or
``"month"`` (calendar months).  The delay is the difference of the period
indices of report and event.  The period containing ``now`` is counted as
observed up to ``now``: choose ``now`` at the end of a period for whole
periods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import DataValidationError
from ._common import _as_count_array, fingerprint

__all__ = ["ReportingTriangle"]

Period = Literal["day", "week", "month"]
_PERIODS = ("day", "week", "month")
DEFAULT_STRATUM = "all"


def _check_period(period: str) -> None:
    if period not in _PERIODS:
        raise DataValidationError(
            f"period={period!r} is unknown: expected one of {list(_PERIODS)}."
        )


def _timestamp(value: Any, what: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise DataValidationError(
            f"{what}={value!r} is not a date: expected an ISO date such as '2011-06-10'."
        ) from None
    if pd.isna(ts):
        raise DataValidationError(f"{what} is missing: expected an ISO date such as '2011-06-10'.")
    return ts.normalize()


def _floor(ts: pd.Timestamp, period: str) -> pd.Timestamp:
    if period == "month":
        return pd.Timestamp(year=ts.year, month=ts.month, day=1)
    if period == "week":  # ISO weeks start on Monday
        return ts - pd.Timedelta(days=ts.weekday())
    return ts


def period_index(dates: Any, start: pd.Timestamp, period: str) -> np.ndarray:
    """Index of the period containing each date (0 = the period starting at ``start``)."""
    d = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(dates))).normalize()
    if period == "month":
        return np.asarray((d.year - start.year) * 12 + (d.month - start.month), dtype=np.int64)
    days = np.asarray((d - start).days, dtype=np.int64)
    return days // 7 if period == "week" else days


def period_start(index: Any, start: pd.Timestamp, period: str) -> pd.DatetimeIndex:
    """Start dates of periods ``index`` (inverse of :func:`period_index`)."""
    idx = np.atleast_1d(np.asarray(index, dtype=np.int64))
    if period == "month":
        return pd.DatetimeIndex([start + pd.DateOffset(months=int(i)) for i in idx])
    step = 7 if period == "week" else 1
    return pd.DatetimeIndex(start + pd.to_timedelta(idx * step, unit="D"))


def _parse_dates(col: pd.Series, name: str) -> pd.Series:
    parsed = pd.to_datetime(col, errors="coerce")
    bad = parsed.isna()
    if bad.any():
        rows = list(col.index[bad][:3])
        raise DataValidationError(
            f"column {name!r} has {int(bad.sum())} missing or unreadable dates (first rows "
            f"{rows}, values {[col[r] for r in rows]!r}): expected ISO dates. Fix: remove "
            "or complete those records before building the triangle; a death without a date "
            "cannot be placed in the triangle."
        )
    return parsed.dt.normalize()


@dataclass(frozen=True, eq=False)
class ReportingTriangle:
    r"""Counts by event period and reporting delay, with unobservable cells masked.

    Build it with :meth:`from_line_list` or :meth:`from_snapshots` (or
    :meth:`from_snapshot` for a single published table).

    Attributes
    ----------
    cumulative : int64 array (n_stratum, n_period, max_delay + 1)
        Deaths of event period ``t`` reported by the end of delay ``d``;
        meaningful only where ``known``.
    known : bool array (n_period, max_delay + 1)
        Whether ``cumulative[:, t, d]`` was observed.  Never true for a cell
        that was not observable at ``now`` (``t + d > T``).
    start : Timestamp
        Start of period 0.
    period : {"day", "week", "month"}
    max_delay : int
        Largest delay :math:`D` modelled (in periods).  Delay :math:`D`
        holds everything reported at :math:`D` or later only for snapshot
        data; a line list must not have longer delays (see
        ``long_delays``).
    now : Timestamp
        Analysis date; reports after it are ignored.
    strata : tuple of str
    source : str
    kind : {"line-list", "snapshots"}
    n_excluded_after_now : int
        Records reported after ``now`` (not yet known at the analysis date).
    n_dropped_long : int
        Records dropped because their delay exceeded ``max_delay``
        (``long_delays="drop"``).
    """

    cumulative: np.ndarray
    known: np.ndarray
    start: pd.Timestamp
    period: str
    max_delay: int
    now: pd.Timestamp
    strata: tuple[str, ...] = (DEFAULT_STRATUM,)
    source: str = "memory"
    kind: str = "line-list"
    n_excluded_after_now: int = 0
    n_dropped_long: int = 0

    def __post_init__(self) -> None:
        _check_period(self.period)
        cum = np.asarray(self.cumulative)
        known = np.asarray(self.known, dtype=bool)
        if cum.ndim != 3 or known.shape != cum.shape[1:]:
            raise DataValidationError(
                f"internal: cumulative {cum.shape} and known {known.shape} do not match."
            )
        if cum.shape[2] != self.max_delay + 1:
            raise DataValidationError("internal: delay axis is not max_delay + 1 long.")
        if known[~self.observable].any():
            raise DataValidationError("internal: a cell after the analysis date is marked known.")
        # cumulative counts may not decrease along known delays
        for t in range(cum.shape[1]):
            ks = np.flatnonzero(known[t])
            if ks.size > 1 and (np.diff(cum[:, t, ks], axis=1) < 0).any():
                d = ks[1:][np.diff(cum[:, t, ks], axis=1).min(axis=0) < 0][0]
                raise DataValidationError(
                    f"the cumulative count for period {self.period_labels[t]} decreases at "
                    f"delay {int(d)}: expected counts that only grow as reports arrive. Fix: "
                    "check the snapshots (a later table with fewer deaths means records were "
                    "removed; model the corrected table instead)."
                )
        object.__setattr__(self, "cumulative", cum.astype(np.int64))
        object.__setattr__(self, "known", known)

    # ------------------------------------------------------------ builders
    @classmethod
    def from_line_list(
        cls,
        data: pd.DataFrame,
        *,
        event_date: str,
        report_date: str,
        now: Any,
        max_delay: int,
        period: Period = "day",
        start: Any = None,
        stratum: str | None = None,
        long_delays: Literal["error", "drop"] = "error",
        source: str | None = None,
    ) -> ReportingTriangle:
        """Build a triangle from one row per death.

        Parameters
        ----------
        data : DataFrame
            One row per death.
        event_date, report_date : str
            Columns with the date of death (or hospitalisation) and of report.
        now : date
            Analysis date.  Records reported after it are not yet known and
            are excluded (counted in ``n_excluded_after_now``), which also
            makes retrospective analyses honest.
        max_delay : int
            Largest delay :math:`D`, in periods.
        period : {"day", "week", "month"}
        start : date, optional
            Start of the first period (default: the period containing the
            earliest event).  Events before it are an error.
        stratum : str, optional
            Column defining strata.
        long_delays : {"error", "drop"}
            What to do with records whose delay exceeds ``max_delay``.
        """
        _check_period(period)
        if not isinstance(data, pd.DataFrame):
            raise DataValidationError(
                f"a line list must be a pandas DataFrame, got {type(data).__name__}."
            )
        for col in (event_date, report_date) + ((stratum,) if stratum else ()):
            if col not in data.columns:
                raise DataValidationError(
                    f"column {col!r} is not in the data: columns are {list(data.columns)}. "
                    "Fix: name the event-date and report-date columns."
                )
        _check_max_delay(max_delay)
        if long_delays not in ("error", "drop"):
            raise DataValidationError(
                f"long_delays={long_delays!r} is unknown: expected 'error' or 'drop'."
            )
        if len(data) == 0:
            raise DataValidationError("the line list is empty: expected at least one record.")
        now_ts = _timestamp(now, "now")
        ev = _parse_dates(data[event_date], event_date)
        rep = _parse_dates(data[report_date], report_date)
        before = rep < ev
        if before.any():
            rows = list(data.index[before][:3])
            raise DataValidationError(
                f"{int(before.sum())} records are reported before their event (first rows "
                f"{rows}: {report_date} {[str(rep[r].date()) for r in rows]} < {event_date} "
                f"{[str(ev[r].date()) for r in rows]}). Fix: correct the dates; a death "
                "cannot be reported before it happens."
            )
        start_ts = _floor(ev.min(), period) if start is None else _timestamp(start, "start")
        if start is not None and _floor(start_ts, period) != start_ts and period == "month":
            raise DataValidationError(
                f"start={start!r} is not the first day of a month: monthly periods are "
                "calendar months."
            )
        early = ev < start_ts
        if early.any():
            raise DataValidationError(
                f"{int(early.sum())} records have {event_date} before start={start_ts.date()} "
                f"(earliest {ev.min().date()}): expected events inside the window. Fix: pass "
                "an earlier start, or remove those records explicitly."
            )
        if ev.min() > now_ts:
            raise DataValidationError(
                f"every event is after now={now_ts.date()}: expected an analysis date after "
                "the first event."
            )
        keep = (rep <= now_ts).to_numpy().copy()
        n_after = int((~keep).sum())
        ti = period_index(ev, start_ts, period)
        ri = period_index(rep, start_ts, period)
        delay = ri - ti
        too_long = keep & (delay > max_delay)
        n_long = int(too_long.sum())
        if n_long and long_delays == "error":
            raise DataValidationError(
                f"max_delay={max_delay} {period}s cuts {n_long} of {int(keep.sum())} records "
                f"(their delays reach {int(delay[keep].max())} {period}s). Fix: raise "
                f"max_delay to {int(delay[keep].max())}, or pass long_delays='drop' to drop "
                "them knowingly (the nowcast then estimates deaths reported within max_delay)."
            )
        keep &= ~too_long
        strata_col = (data[stratum].astype(str).to_numpy() if stratum
                      else np.full(len(data), DEFAULT_STRATUM))
        strata: tuple[str, ...] = (tuple(sorted({str(x) for x in strata_col})) if stratum
                                   else (DEFAULT_STRATUM,))
        n_t = int(period_index(now_ts, start_ts, period)[0]) + 1
        d1 = max_delay + 1
        cells = np.zeros((len(strata), n_t, d1), dtype=np.int64)
        s_idx = np.searchsorted(np.array(strata), strata_col)
        np.add.at(cells, (s_idx[keep], ti[keep], delay[keep]), 1)
        tri = cls(
            cumulative=np.cumsum(cells, axis=2),
            known=_observable(n_t, d1),
            start=start_ts, period=period, max_delay=int(max_delay), now=now_ts,
            strata=strata, source=source or str(data.attrs.get("dataset", "data frame")),
            kind="line-list", n_excluded_after_now=n_after, n_dropped_long=n_long,
        )
        return tri

    @classmethod
    def from_snapshots(
        cls,
        snapshots: Mapping[Any, Mapping[Any, int] | pd.Series] | pd.DataFrame,
        *,
        max_delay: int,
        period: Period = "week",
        now: Any = None,
        start: Any = None,
        source: str = "snapshots",
    ) -> ReportingTriangle:
        """Build a triangle from successive published tables of counts per event period.

        Parameters
        ----------
        snapshots : mapping or DataFrame
            ``{snapshot_date: {period_start: cumulative_count}}``, or a long
            DataFrame with columns ``snapshot``, ``period``, ``count``.
            Each table gives, for each event period, the number of deaths
            known at the snapshot date.
        max_delay : int
            Largest delay :math:`D` in periods.  A snapshot taken :math:`D`
            or more periods after an event period is read as its eventual
            (complete) count.  The event periods run to the last one that
            appears in a table: periods after it were not published, which
            is not the same as zero deaths.
        period : {"day", "week", "month"}
        now : date, optional
            Analysis date (default: the last snapshot).  Later snapshots are
            ignored.
        start : date, optional
            Start of period 0 (default: the earliest event period).
        """
        _check_period(period)
        _check_max_delay(max_delay)
        tables = _snapshot_tables(snapshots)
        now_ts = max(tables) if now is None else _timestamp(now, "now")
        tables = {k: v for k, v in tables.items() if k <= now_ts}
        if not tables:
            raise DataValidationError(
                f"no snapshot is dated on or before now={now_ts.date()}: expected at least one."
            )
        all_periods = sorted(set().union(*[set(v.index) for v in tables.values()]))
        start_ts = all_periods[0] if start is None else _timestamp(start, "start")
        idx = period_index(all_periods, start_ts, period)
        back = period_start(idx, start_ts, period)
        off = [p for p, b in zip(all_periods, back, strict=True) if p != b]
        if off:
            raise DataValidationError(
                f"event periods {[str(p.date()) for p in off[:3]]} do not start a {period} "
                f"counted from start={start_ts.date()}: expected period start dates. Fix: pass "
                f"start= the first period's start date, or period= the table's period."
            )
        if (idx < 0).any():
            raise DataValidationError(
                f"event periods before start={start_ts.date()}: expected events inside the window."
            )
        # periods up to the last one published (an unpublished recent period is not a zero)
        n_t = int(idx.max()) + 1
        d1 = max_delay + 1
        cum = np.zeros((1, n_t, d1), dtype=np.int64)
        known = np.zeros((n_t, d1), dtype=bool)
        for snap_date in sorted(tables):
            tab = tables[snap_date]
            si = int(period_index(snap_date, start_ts, period)[0])
            ti = period_index(tab.index, start_ts, period)
            late = ti > si
            if late.any():
                raise DataValidationError(
                    f"the snapshot of {snap_date.date()} has counts for later event periods "
                    f"{[str(p.date()) for p in tab.index[late][:3]]}: expected periods on or "
                    "before the snapshot date."
                )
            for t, c in zip(ti, tab.to_numpy(), strict=True):
                d = min(si - int(t), max_delay)
                cum[0, t, d] = int(c)
                known[t, d] = True
        # fill the cumulative between known points so that the array is monotone to read
        for t in range(n_t):
            last = 0
            for d in range(d1):
                if known[t, d]:
                    last = cum[0, t, d]
                else:
                    cum[0, t, d] = last
        return cls(cumulative=cum, known=known, start=start_ts, period=period,
                   max_delay=int(max_delay), now=now_ts, source=source, kind="snapshots")

    @classmethod
    def from_snapshot(
        cls,
        data: pd.DataFrame,
        *,
        period_column: str,
        count_column: str,
        as_of: Any,
        max_delay: int,
        period: Period = "week",
        source: str | None = None,
    ) -> ReportingTriangle:
        """One published table (counts per event period as of ``as_of``).

        With a single snapshot the data say almost nothing about the delay:
        the nowcast then rests on the delay prior (see
        :class:`~casualty_models.models.nowcast.Nowcast`).
        """
        for col in (period_column, count_column):
            if col not in data.columns:
                raise DataValidationError(
                    f"column {col!r} is not in the data: columns are {list(data.columns)}."
                )

        counts = _as_count_array(data[count_column].to_numpy(), f"column {count_column!r}")
        periods = _parse_dates(data[period_column], period_column)
        as_of_ts = _timestamp(as_of, "as_of")
        series = pd.Series(counts, index=pd.DatetimeIndex(periods))
        if series.index.duplicated().any():
            dup = series.index[series.index.duplicated()][0]
            raise DataValidationError(
                f"period {dup.date()} appears twice in {period_column!r}: expected one row "
                "per event period."
            )
        return cls.from_snapshots(
            {as_of_ts: series}, max_delay=max_delay, period=period, now=as_of_ts,
            start=periods.min(),
            source=source or str(data.attrs.get("dataset", "data frame")),
        )

    # ----------------------------------------------------------- accessors
    @property
    def n_periods(self) -> int:
        """Number of event periods.

        From ``start`` to the period of ``now`` (line lists), or to the last
        published period (snapshots).
        """
        return int(self.known.shape[0])

    @property
    def periods(self) -> pd.DatetimeIndex:
        """Start date of each event period."""
        return period_start(np.arange(self.n_periods), self.start, self.period)

    @property
    def period_labels(self) -> list[str]:
        """ISO start dates of the event periods."""
        return [str(p.date()) for p in self.periods]

    @property
    def observable(self) -> np.ndarray:
        """Bool (n_period, max_delay + 1): cells observable at ``now`` (``t + d <= T``)."""
        now_idx = int(period_index(self.now, self.start, self.period)[0])
        return _observable(self.n_periods, self.max_delay + 1, now_idx)

    @property
    def last_known_delay(self) -> np.ndarray:
        """Largest known delay per event period (-1 if nothing is known)."""
        d1 = self.max_delay + 1
        rev = self.known[:, ::-1]
        has = rev.any(axis=1)
        return np.where(has, d1 - 1 - rev.argmax(axis=1), -1).astype(np.int64)

    @property
    def reported(self) -> np.ndarray:
        """Int64 (n_stratum, n_period): deaths reported so far for each event period."""
        last = self.last_known_delay
        out = np.zeros(self.cumulative.shape[:2], dtype=np.int64)
        has = last >= 0
        out[:, has] = self.cumulative[:, np.flatnonzero(has), last[has]]
        return out

    @property
    def complete(self) -> np.ndarray:
        """Bool (n_period,): periods whose count is final (delay ``max_delay`` known)."""
        return self.known[:, -1].copy()

    @property
    def counts(self) -> np.ma.MaskedArray:
        """Masked int64 (n_stratum, n_period, max_delay + 1): deaths per cell.

        Masked where the cell cannot be observed at ``now`` or (snapshot
        data) where only a sum over several delays is known.
        """
        prev_known = np.concatenate([np.ones((self.n_periods, 1), bool), self.known[:, :-1]],
                                    axis=1)
        cum = self.cumulative
        prev = np.concatenate([np.zeros(cum.shape[:2] + (1,), np.int64), cum[:, :, :-1]], axis=2)
        mask = ~(self.known & prev_known)
        return np.ma.MaskedArray(cum - prev, mask=np.broadcast_to(mask, cum.shape))

    def increments(self) -> dict[str, np.ndarray]:
        """The observations the likelihood uses: counts between consecutive known delays.

        Returns
        -------
        dict with int64 arrays ``stratum``, ``period``, ``d_lo``, ``d_hi``,
        ``count``: ``count`` deaths of event period ``period`` were reported
        with a delay in ``[d_lo, d_hi]``.
        """
        rows: list[tuple[int, int, int, int, int]] = []
        for t in range(self.n_periods):
            ks = np.flatnonzero(self.known[t])
            lo = 0
            prev = np.zeros(len(self.strata), dtype=np.int64)
            for d in ks:
                for s in range(len(self.strata)):
                    rows.append((s, t, lo, int(d), int(self.cumulative[s, t, d] - prev[s])))
                prev = self.cumulative[:, t, d]
                lo = int(d) + 1
        arr = np.array(rows, dtype=np.int64).reshape(-1, 5)
        return {k: arr[:, i] for i, k in enumerate(("stratum", "period", "d_lo", "d_hi",
                                                      "count"))}

    def to_frame(self) -> pd.DataFrame:
        """Wide table (event period x delay) of cell counts, ``<NA>`` where masked.

        Stratified triangles get a ``stratum`` index level.
        """
        c = self.counts
        frames = []
        for s, name in enumerate(self.strata):
            vals = pd.DataFrame(np.asarray(c.data[s]), index=self.period_labels,
                                columns=range(self.max_delay + 1)).astype("Int64")
            vals = vals.mask(np.asarray(np.ma.getmaskarray(c)[s]))
            vals.index.name = "period"
            vals.columns.name = "delay"
            if len(self.strata) > 1:
                vals = pd.concat({name: vals}, names=["stratum"])
            frames.append(vals)
        return pd.concat(frames)

    def fingerprint(self) -> str:
        """Sha256 of the triangle (cells, mask, dates, period)."""
        payload = {"cumulative": self.cumulative.tolist(), "known": self.known.tolist(),
                   "start": str(self.start.date()), "now": str(self.now.date()),
                   "period": self.period, "max_delay": self.max_delay,
                   "strata": list(self.strata)}
        return fingerprint(payload)

    def __repr__(self) -> str:
        return (
            f"<ReportingTriangle {self.kind}: {self.n_periods} {self.period}s from "
            f"{self.start.date()} to now={self.now.date()}, max_delay={self.max_delay}, "
            f"{int(self.reported.sum()):,} reported, strata={list(self.strata)}>"
        )


def _observable(n_t: int, d1: int, now_idx: int | None = None) -> np.ndarray:
    t = np.arange(n_t)[:, None]
    d = np.arange(d1)[None, :]
    return (t + d) <= (n_t - 1 if now_idx is None else now_idx)


def _check_max_delay(max_delay: Any) -> None:
    if isinstance(max_delay, bool) or not isinstance(max_delay, int | np.integer) \
            or max_delay < 0:
        raise DataValidationError(
            f"max_delay={max_delay!r} is not allowed: expected an integer >= 0 (periods)."
        )


def _snapshot_tables(snapshots: Any) -> dict[pd.Timestamp, pd.Series]:
    if isinstance(snapshots, pd.DataFrame):
        need = {"snapshot", "period", "count"}
        if not need <= set(snapshots.columns):
            raise DataValidationError(
                f"snapshot table columns are {list(snapshots.columns)}: expected 'snapshot', "
                "'period' and 'count'."
            )
        snapshots = {
            k: g.set_index("period")["count"] for k, g in snapshots.groupby("snapshot")
        }
    if not isinstance(snapshots, Mapping) or not snapshots:
        raise DataValidationError(
            "snapshots must be a non-empty mapping {snapshot_date: {period_start: count}} or a "
            "DataFrame with columns snapshot, period, count."
        )

    out: dict[pd.Timestamp, pd.Series] = {}
    for k, v in snapshots.items():
        key = _timestamp(k, "snapshot date")
        ser = v if isinstance(v, pd.Series) else pd.Series(dict(v))
        idx = pd.to_datetime(pd.Series(ser.index), errors="coerce")
        if idx.isna().any():
            raise DataValidationError(
                f"the snapshot of {key.date()} has missing or unreadable period dates: "
                "expected ISO period start dates."
            )
        vals = _as_count_array(ser.to_numpy(), f"snapshot of {key.date()}")
        out[key] = pd.Series(vals, index=pd.DatetimeIndex(idx).normalize()).sort_index()
    return out

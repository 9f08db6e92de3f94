"""Confirmed counts: deaths confirmed by one source, by stratum (and period).

Inputs are checked once, here, at the boundary; see :mod:`._common`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataValidationError
from ._common import (
    DEFAULT_PERIOD,
    DEFAULT_STRATUM,
    _as_count_array,
    _read_nonempty,
    _row,
    _stratum_labels,
    fingerprint,
)

__all__ = ["ConfirmedCounts"]


# -------------------------------------------------------------- ConfirmedCounts
@dataclass(frozen=True, eq=False)
class ConfirmedCounts:
    """Deaths confirmed by one source, by stratum (and optionally by period).

    Attributes
    ----------
    counts : ndarray of int64, shape (n_stratum, n_period)
    strata : tuple of str
        ``("all",)`` when not stratified.
    periods : tuple of str or None
        Period labels (ISO dates or names); ``None`` when there is no time axis.
    audit_found, audit_checked : ndarray of int64, shape (n_stratum,), optional
        A coverage audit: of ``audit_checked`` deaths known from an independent
        source, ``audit_found`` were on the list.  Informs coverage directly.

    Examples
    --------
    >>> ConfirmedCounts(45287).total
    45287
    >>> ConfirmedCounts({"north": 120, "south": 80}).strata
    ('north', 'south')
    """

    counts: Any
    strata: tuple[str, ...] = (DEFAULT_STRATUM,)
    periods: tuple[str, ...] | None = None
    audit_found: Any = None
    audit_checked: Any = None
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        raw = self.counts
        strata = self.strata
        if isinstance(raw, Mapping):
            if strata != (DEFAULT_STRATUM,):
                raise DataValidationError("pass strata either as mapping keys or as strata=, not both.")
            strata = tuple(str(k) for k in raw)
            raw = list(raw.values())
        if isinstance(raw, bool) or (np.ndim(raw) == 0 and not isinstance(raw, int | float | np.number)):
            raise DataValidationError(
                f"confirmed count {raw!r} is a {type(raw).__name__}: expected a "
                "non-negative integer, a sequence or a mapping of them."
            )
        counts = _as_count_array(raw, "confirmed counts", labels=None)
        if counts.ndim == 0:
            counts = counts.reshape(1, 1)
        elif counts.ndim == 1:
            if self.periods is not None and len(strata) == 1:
                counts = counts[None, :]
            else:
                counts = counts[:, None]
        elif counts.ndim != 2:
            raise DataValidationError(
                f"confirmed counts have {counts.ndim} dimensions: expected (stratum, period)."
            )
        strata = tuple(str(s) for s in strata)
        if counts.shape[0] != len(strata) and strata == (DEFAULT_STRATUM,):
            raise DataValidationError(
                f"{counts.shape[0]} counts were given without stratum labels: expected one "
                "count, or labels. Fix: pass a mapping {label: count} or strata=(...)."
            )
        if counts.shape[0] != len(strata):
            raise DataValidationError(
                f"{counts.shape[0]} rows of counts for {len(strata)} strata {list(strata)}: "
                "expected one row per stratum."
            )
        if len(set(strata)) != len(strata):
            dup = sorted({s for s in strata if strata.count(s) > 1})
            raise DataValidationError(f"duplicate stratum label(s) {dup}: expected unique labels.")
        periods = None if self.periods is None else tuple(str(p) for p in self.periods)
        n_period = 1 if periods is None else len(periods)
        if counts.shape[1] != n_period:
            raise DataValidationError(
                f"{counts.shape[1]} columns of counts for {n_period} period(s): expected one "
                "column per period."
            )
        if counts.sum() == 0:
            raise DataValidationError(
                "all confirmed counts are zero: a zero count says nothing about the total "
                "under these models. Fix: check the input."
            )
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "strata", strata)
        object.__setattr__(self, "periods", periods)
        if (self.audit_found is None) != (self.audit_checked is None):
            raise DataValidationError("give both audit_found and audit_checked, or neither.")
        if self.audit_found is not None:
            found = _as_count_array(self.audit_found, "audit_found").reshape(-1)
            checked = _as_count_array(self.audit_checked, "audit_checked").reshape(-1)
            if found.shape != (len(strata),) or checked.shape != (len(strata),):
                raise DataValidationError(
                    f"audit arrays have {found.size} and {checked.size} entries for "
                    f"{len(strata)} strata: expected one per stratum (0 where none)."
                )
            bad = np.flatnonzero(found > checked)
            if bad.size:
                i = int(bad[0])
                raise DataValidationError(
                    f"audit for stratum {strata[i]!r} found {found[i]} of {checked[i]} "
                    "checked: found cannot exceed checked."
                )
            object.__setattr__(self, "audit_found", found)
            object.__setattr__(self, "audit_checked", checked)

    # ------------------------------------------------------------- builders
    @classmethod
    def from_frame(
        cls,
        data: pd.DataFrame | str | os.PathLike[str],
        count: str,
        stratum: str | Sequence[str] | None = None,
        period: str | None = None,
        audit_found: str | None = None,
        audit_checked: str | None = None,
    ) -> ConfirmedCounts:
        """Build from an aggregated table with one row per stratum (and period).

        Missing (stratum, period) combinations are an error, not zeros.
        """
        df = _read_nonempty(data, "confirmed-count table", required=[
            (count, "pass the right count column."),
            *([(period, "pass the right period column.")] if period else [])])
        vals = _as_count_array(df[count].to_numpy(), f"count column {count!r}",
                               labels=[_row(i) for i in range(len(df))])
        s = _stratum_labels(df, stratum).to_numpy()
        p = df[period].astype(str).to_numpy() if period else np.array([DEFAULT_PERIOD] * len(df))
        key = pd.DataFrame({"s": s, "p": p})
        dup = key.duplicated(keep=False)
        if dup.any():
            first = key[dup].iloc[0]
            raise DataValidationError(
                f"stratum {first['s']!r}"
                + (f", period {first['p']!r}" if period else "")
                + " appears more than once: expected one row each. Fix: sum duplicates "
                "first, or use ConfirmedCounts.from_records for one row per death."
            )
        wide = pd.Series(vals, index=pd.MultiIndex.from_arrays([s, p])).unstack()
        if wide.isna().any().any():
            raise DataValidationError(
                "some (stratum, period) combinations are missing: expected a full grid. "
                "Fix: add rows with count 0 where nothing was confirmed."
            )
        strata = tuple(dict.fromkeys(s))
        periods = tuple(dict.fromkeys(p)) if period else None
        wide = wide.loc[list(strata), list(periods) if periods else [DEFAULT_PERIOD]]
        audits: dict[str, Any] = {}
        if audit_found or audit_checked:
            if not (audit_found and audit_checked):
                raise DataValidationError("give both audit_found and audit_checked columns.")
            first_rows = key.drop_duplicates("s").index
            audits = {
                "audit_found": df.loc[df.index[first_rows], audit_found].to_numpy(),
                "audit_checked": df.loc[df.index[first_rows], audit_checked].to_numpy(),
            }
        return cls(wide.to_numpy().astype(np.int64), strata, periods,
                   source=f"frame:{count}", **audits)

    @classmethod
    def from_records(
        cls,
        data: pd.DataFrame | str | os.PathLike[str],
        stratum: str | Sequence[str] | None = None,
        period: str | None = None,
        freq: str | None = None,
    ) -> ConfirmedCounts:
        """Count records (one row per confirmed death) by stratum and period.

        Parameters
        ----------
        period : str, optional
            A date column; with ``freq`` (a pandas period alias such as
            ``"M"`` or ``"W"``) dates are grouped into periods, and periods
            with no deaths get a count of 0.
        """
        df = _read_nonempty(data, "confirmed records", required=(
            [(period, "pass the right date column.")] if period else []))
        s = _stratum_labels(df, stratum)
        if period is None:
            counts = s.value_counts(sort=False)
            strata = tuple(sorted(counts.index))
            return cls(counts.loc[list(strata)].to_numpy(), strata, source="records")
        dates = pd.to_datetime(df[period], errors="coerce")
        if dates.isna().any():
            i = int(np.flatnonzero(dates.isna().to_numpy())[0])
            raise DataValidationError(
                f"period column {period!r} has a missing or unreadable date at {_row(i)} "
                f"({df[period].iloc[i]!r}): expected a date on every record."
            )
        per = dates.dt.to_period(freq or "M")
        full = pd.period_range(per.min(), per.max(), freq=per.dt.freq)
        tab = pd.crosstab(s, per).reindex(columns=full, fill_value=0)
        strata = tuple(str(x) for x in tab.index)
        periods = tuple(str(pd.Period(p).start_time.date()) for p in tab.columns)
        return cls(tab.to_numpy(), strata, periods, source="records")

    # ----------------------------------------------------------------- views
    @property
    def total(self) -> int:
        """Total confirmed count."""
        return int(self.counts.sum())

    @property
    def is_stratified(self) -> bool:
        """Whether there is more than the default stratum."""
        return self.strata != (DEFAULT_STRATUM,)

    def fingerprint(self) -> str:
        """A hash of the content, recorded with results."""
        return fingerprint({
            "counts": self.counts.tolist(), "strata": self.strata, "periods": self.periods,
            "audit_found": None if self.audit_found is None else self.audit_found.tolist(),
            "audit_checked": None if self.audit_checked is None else self.audit_checked.tolist(),
        })

    def __repr__(self) -> str:
        per = "" if self.periods is None else f", periods={len(self.periods)}"
        return f"ConfirmedCounts(total={self.total}, strata={len(self.strata)}{per})"

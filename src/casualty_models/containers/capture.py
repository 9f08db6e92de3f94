"""Capture-pattern tables: counts of people by the lists that recorded them.

Inputs are checked once, here, at the boundary.  Models receive these
containers and trust them.  Every error names the value received, what was
expected and how to fix it; nothing is dropped or altered silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataValidationError
from ._common import (
    DEFAULT_STRATUM,
    _as_count_array,
    _py,
    _read_nonempty,
    _read_table,
    _row,
    _stratum_labels,
    fingerprint,
    observable_patterns,
    pattern_label,
)

__all__ = ["CaptureTable"]


def _check_binary(df: pd.DataFrame, lists: Sequence[str]) -> np.ndarray:
    out = np.empty((len(df), len(lists)), dtype=np.uint8)
    for j, c in enumerate(lists):
        col = df[c]
        if col.isna().any():
            raise DataValidationError(
                f"list column {c!r} has a missing value at "
                f"{_row(np.flatnonzero(col.isna().to_numpy())[0])}: expected 0 or 1 "
                "on every row. Fix: record 0 for 'not on this list'."
            )
        vals = col.to_numpy()
        if vals.dtype == bool:
            out[:, j] = vals
            continue
        try:
            num = vals.astype(float)
            ok = (num == 0) | (num == 1)
        except (TypeError, ValueError):
            ok = np.array([v in (0, 1) for v in vals])
            num = None
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise DataValidationError(
                f"list column {c!r} has the value {_py(vals[i])!r} at {_row(i)}: "
                "expected 0 (not on the list) or 1 (on the list). Fix: recode the column "
                "to 0/1."
            )
        out[:, j] = np.asarray(num if num is not None else vals, dtype=float).astype(np.uint8)
    return out


def _check_list_names(lists: Sequence[str], columns: Iterable[Any]) -> list[str]:
    lists = [str(x) for x in lists]
    if len(lists) < 2:
        raise DataValidationError(
            f"got {len(lists)} list(s) {lists}: expected at least 2 lists for "
            "capture-recapture. Fix: name two or more list columns."
        )
    dup = {x for x in lists if lists.count(x) > 1}
    if dup:
        raise DataValidationError(f"list names {sorted(dup)} are repeated: expected unique names.")
    cols = [str(c) for c in columns]
    missing = [x for x in lists if x not in cols]
    if missing:
        raise DataValidationError(
            f"unknown list column(s) {missing}: the data have columns {cols}. "
            "Fix: pass lists= with names from those columns."
        )
    return lists


# ----------------------------------------------------------------- CaptureTable
@dataclass(frozen=True, eq=False)
class CaptureTable:
    """Counts of people by capture pattern over K lists, optionally by stratum.

    Attributes
    ----------
    lists : tuple of str
        List names, in column order.
    patterns : ndarray of uint8, shape (n_pattern, K)
        Distinct capture patterns present in the input (never all-zero), in
        lexicographic order of their 0/1 labels.
    counts : ndarray of int64, shape (n_stratum, n_pattern)
        Number of people with each pattern in each stratum.
    strata : tuple of str
        Stratum labels; ``("all",)`` when the table is not stratified.

    Notes
    -----
    Only patterns present in the input are stored, so tables with many lists
    stay small; :meth:`dense` expands to all :math:`2^K - 1` observable cells.
    Construct with :meth:`from_records`, :meth:`from_counts`,
    :meth:`from_mapping` or :meth:`from_csv`.
    """

    lists: tuple[str, ...]
    patterns: np.ndarray
    counts: np.ndarray
    strata: tuple[str, ...] = (DEFAULT_STRATUM,)
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        pats = np.asarray(self.patterns, dtype=np.uint8)
        counts = _as_count_array(self.counts, "capture counts")
        if counts.ndim == 1:
            counts = counts[None, :]
        k = len(self.lists)
        if pats.ndim != 2 or pats.shape[1] != k:
            raise DataValidationError(
                f"patterns have shape {pats.shape}: expected (n_pattern, {k}) for lists "
                f"{list(self.lists)}."
            )
        if counts.shape != (len(self.strata), pats.shape[0]):
            raise DataValidationError(
                f"counts have shape {counts.shape}: expected (n_stratum, n_pattern) = "
                f"({len(self.strata)}, {pats.shape[0]})."
            )
        if len(set(self.strata)) != len(self.strata):
            raise DataValidationError(f"stratum labels {list(self.strata)} are not unique.")
        if pats.shape[0] == 0:
            raise DataValidationError(
                "the capture table is empty: expected at least one observed pattern."
            )
        zero_rows = np.flatnonzero(pats.sum(axis=1) == 0)
        if zero_rows.size:
            raise DataValidationError(
                f"the all-zero pattern {pattern_label(pats[zero_rows[0]])!r} was given as "
                "observed: people on no list cannot be counted; that cell is what the "
                "model estimates. Fix: remove the all-zero row."
            )
        labels = [pattern_label(p) for p in pats]
        if len(set(labels)) != len(labels):
            dup = sorted({x for x in labels if labels.count(x) > 1})
            raise DataValidationError(
                f"duplicate capture pattern(s) {dup}: expected each pattern once per "
                "stratum. Fix: add the duplicate rows' counts together first."
            )
        order = np.argsort(labels, kind="stable")
        pats, counts = pats[order], counts[:, order]
        if counts.sum() == 0:
            raise DataValidationError(
                "all capture counts are zero: expected at least one observed person."
            )
        per_list = counts.sum(axis=0) @ pats
        empty = [name for name, n in zip(self.lists, per_list, strict=True) if n == 0]
        if empty:
            raise DataValidationError(
                f"list(s) {empty} record nobody: a list with no records carries no "
                "information about the others. Fix: drop it from lists=."
            )
        object.__setattr__(self, "patterns", pats)
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "lists", tuple(str(x) for x in self.lists))
        object.__setattr__(self, "strata", tuple(str(x) for x in self.strata))

    # ------------------------------------------------------------- builders
    @classmethod
    def from_records(
        cls,
        data: pd.DataFrame | str | os.PathLike[str],
        lists: Sequence[str],
        stratum: str | Sequence[str] | None = None,
        *,
        source: str = "records",
    ) -> CaptureTable:
        """Build from record-level data: one row per person, one 0/1 column per list.

        Parameters
        ----------
        data : DataFrame or path to a CSV file
        lists : sequence of str
            The 0/1 list columns.
        stratum : str or sequence of str, optional
            Column(s) defining strata; several columns are combined as ``"a|b"``.
        source : str, default "records"
            Where the data come from (recorded with results).
        """
        df = _read_nonempty(data, "capture records")
        lists = _check_list_names(lists, df.columns)
        bits = _check_binary(df, lists)
        none = np.flatnonzero(bits.sum(axis=1) == 0)
        if none.size:
            raise DataValidationError(
                f"{none.size} record(s) are on no list (first at {_row(none[0])}): "
                "every record must appear on at least one list. Fix: remove them or "
                "check the list columns."
            )
        strata_s = _stratum_labels(df, stratum)
        frame = pd.DataFrame(bits, columns=lists)
        frame["_stratum"] = strata_s.to_numpy()
        grouped = frame.groupby(["_stratum", *lists], sort=True).size()
        return cls._from_long(grouped, lists, source=source)

    @classmethod
    def from_counts(
        cls,
        data: pd.DataFrame | str | os.PathLike[str],
        lists: Sequence[str] | None = None,
        count: str = "count",
        stratum: str | Sequence[str] | None = None,
        *,
        source: str = "counts",
    ) -> CaptureTable:
        """Build from an aggregated table: 0/1 list columns plus a count column.

        Parameters
        ----------
        data : DataFrame or path to a CSV file
        lists : sequence of str, optional
            The 0/1 list columns; by default every column except ``count``
            and the stratum column(s).
        count : str, default "count"
        stratum : str or sequence of str, optional
        source : str, default "counts"
            Where the data come from (recorded with results).
        """
        df = _read_nonempty(data, "capture table", required=[(
            count, "pass count= with the right name, or use CaptureTable.from_records for "
            "one row per person.")])
        scols = [] if stratum is None else ([stratum] if isinstance(stratum, str) else list(stratum))
        if lists is None:
            lists = [str(c) for c in df.columns if c != count and c not in scols]
        lists = _check_list_names(lists, df.columns)
        bits = _check_binary(df, lists)
        counts = _as_count_array(df[count].to_numpy(), f"count column {count!r}",
                                 labels=[_row(i) for i in range(len(df))])
        strata_s = _stratum_labels(df, stratum)
        frame = pd.DataFrame(bits, columns=lists)
        frame["_stratum"] = strata_s.to_numpy()
        frame["_count"] = counts
        dup = frame.duplicated(["_stratum", *lists], keep=False)
        if dup.any():
            row = frame[dup].iloc[0]
            raise DataValidationError(
                f"duplicate capture pattern {pattern_label(row[lists])!r} in stratum "
                f"{row['_stratum']!r}: expected each pattern once per stratum. Fix: add the "
                "duplicate rows' counts together first."
            )
        zero_rows = np.flatnonzero(bits.sum(axis=1) == 0)
        if zero_rows.size:
            raise DataValidationError(
                f"the all-zero pattern {'0' * len(lists)!r} was given as observed "
                f"({_row(zero_rows[0])}, count {_py(counts[zero_rows[0]])}): people on no "
                "list cannot be counted; that cell is what the model estimates. Fix: "
                "remove the all-zero row."
            )
        long = frame.set_index(["_stratum", *lists])["_count"]
        return cls._from_long(long, lists, source=source)

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[Any, Any], lists: Sequence[str] | None = None
    ) -> CaptureTable:
        """Build from a mapping of pattern to count, e.g. ``{"A": 400, "B": 300, "AB": 100}``.

        Keys may be strings of one-character list names (``"AB"``), names
        joined by ``"+"`` or ``"&"`` (``"hospital+survey"``), tuples of names,
        or 0/1 strings of length K when ``lists`` is given (``"110"``).
        """
        if not mapping:
            raise DataValidationError("the pattern mapping is empty: expected pattern -> count.")
        parsed: list[tuple[str, ...]] = []
        for key in mapping:
            if isinstance(key, tuple | list | frozenset | set):
                names = tuple(str(x) for x in key)
            elif isinstance(key, str):
                if lists is not None and key in lists:
                    names = (key,)
                elif lists is not None and len(key) == len(lists) and set(key) <= {"0", "1"}:
                    names = tuple(n for n, b in zip(lists, key, strict=True) if b == "1")
                elif "+" in key or "&" in key:
                    names = tuple(x.strip() for x in key.replace("&", "+").split("+"))
                else:
                    names = tuple(key)
            else:
                raise DataValidationError(
                    f"pattern key {key!r} is a {type(key).__name__}: expected a string such "
                    "as 'AB', 'hospital+survey' or a tuple of list names."
                )
            if len(names) == 0:
                raise DataValidationError(
                    f"pattern key {key!r} names no list: the all-zero pattern cannot be "
                    "observed. Fix: remove it."
                )
            parsed.append(names)
        seen = list(dict.fromkeys(n for names in parsed for n in names))
        if lists is None:
            lists = sorted(seen)
        lists = [str(x) for x in lists]
        unknown = [n for n in seen if n not in lists]
        if unknown:
            raise DataValidationError(
                f"pattern keys name unknown list(s) {unknown}: lists are {lists}. "
                "Fix: pass lists= with every list name."
            )
        if len(lists) < 2:
            raise DataValidationError(
                f"got {len(lists)} list(s) {lists}: expected at least 2 lists."
            )
        rows = [[int(n in names) for n in lists] for names in parsed]
        labels = [str(k) for k in mapping]
        counts = _as_count_array(list(mapping.values()), "pattern counts", labels=labels)
        pats = np.array(rows, dtype=np.uint8)
        return cls(tuple(lists), pats, counts[None, :], source="mapping")

    @classmethod
    def from_frame(
        cls,
        data: pd.DataFrame | str | os.PathLike[str],
        *,
        lists: Sequence[str] | None = None,
        count: str | None = "count",
        stratum: str | Sequence[str] | None = None,
        sum_over: str | Sequence[str] | None = None,
        source: str | None = None,
    ) -> CaptureTable:
        """Read any capture table: aggregated if it has the ``count`` column, else one row per person.

        The one reader behind :meth:`from_csv`, the shipped datasets and the
        command line.

        Parameters
        ----------
        data : DataFrame or path to a CSV file
        lists : sequence of str, optional
            The 0/1 list columns.  Required for record-level data; for an
            aggregated table every other column is a list by default.
        count : str or None, default "count"
            The count column; ``None`` reads the data as one row per person.
        stratum : str or sequence of str, optional
            Column(s) defining strata.
        sum_over : str or sequence of str, optional
            Column(s) of an aggregated table that split its rows but are not
            wanted as strata (a stratified table read unstratified): each
            pattern is summed over them.  Ignored when ``stratum`` is given.
        source : str, optional
            Where the data come from (recorded with results); default the
            file path, or ``"frame"``.
        """
        if source is None:
            source = f"file:{os.fspath(data)}" if isinstance(data, str | os.PathLike) else "frame"
        df = _read_table(data, "capture table")
        if count is not None and count in df.columns:
            if stratum is None and sum_over is not None:
                return cls.from_counts(df, lists=lists, count=count, stratum=sum_over,
                                       source=source).collapse()
            return cls.from_counts(df, lists=lists, count=count, stratum=stratum, source=source)
        if lists is None:
            why = f" has no count column {count!r}, so it" if count is not None else ""
            raise DataValidationError(
                f"the capture table{why} is read as one row per person, and the list columns "
                f"must be named: the columns are {list(map(str, df.columns))}. Fix: pass "
                "lists= (--lists A,B,C on the command line), or the right count column."
            )
        return cls.from_records(df, lists=lists, stratum=stratum, source=source)

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike[str],
        lists: Sequence[str] | None = None,
        count: str | None = "count",
        stratum: str | Sequence[str] | None = None,
    ) -> CaptureTable:
        """Read a CSV: aggregated if it has the ``count`` column, else record level.

        See :meth:`from_frame`, which this calls.
        """
        return cls.from_frame(path, lists=lists, count=count, stratum=stratum)

    @classmethod
    def _from_long(cls, long: pd.Series, lists: Sequence[str], source: str) -> CaptureTable:
        wide = long.unstack("_stratum", fill_value=0)
        strata = tuple(str(s) for s in wide.columns)
        pats = np.array(list(wide.index), dtype=np.uint8).reshape(len(wide), len(lists))
        counts = wide.to_numpy().T
        return cls(tuple(lists), pats, counts, strata, source=source)

    # ----------------------------------------------------------------- views
    @property
    def n_lists(self) -> int:
        """Number of lists K."""
        return len(self.lists)

    @property
    def pattern_labels(self) -> list[str]:
        """0/1 labels of the stored patterns (coordinate ``pattern``)."""
        return [pattern_label(p) for p in self.patterns]

    @property
    def observed(self) -> np.ndarray:
        """Number of distinct people observed, per stratum."""
        return self.counts.sum(axis=1)

    @property
    def list_totals(self) -> np.ndarray:
        """People on each list, shape (n_stratum, K)."""
        return self.counts @ self.patterns.astype(np.int64)

    @property
    def is_stratified(self) -> bool:
        """Whether the table has more than the default stratum."""
        return self.strata != (DEFAULT_STRATUM,)

    def dense(self) -> tuple[np.ndarray, np.ndarray]:
        """All :math:`2^K - 1` observable patterns and their counts (zeros filled).

        Returns
        -------
        patterns : ndarray, shape (2**K - 1, K)
        counts : ndarray, shape (n_stratum, 2**K - 1)
        """
        k = self.n_lists
        if k > 20:
            raise DataValidationError(
                f"{k} lists give {2**k - 1} cells: too many for a dense table."
            )
        pats = observable_patterns(k)
        codes = self.patterns.astype(np.int64) @ (1 << np.arange(k - 1, -1, -1))
        dense = np.zeros((len(self.strata), 2**k - 1), dtype=np.int64)
        dense[:, codes - 1] = self.counts
        return pats, dense

    def select(self, stratum: str) -> CaptureTable:
        """The unstratified table of one stratum."""
        if stratum not in self.strata:
            raise DataValidationError(
                f"unknown stratum {stratum!r}: strata are {list(self.strata)}."
            )
        i = self.strata.index(stratum)
        keep = self.counts[i] > 0
        return CaptureTable(self.lists, self.patterns[keep], self.counts[i, keep],
                            source=f"{self.source}[{stratum}]")

    def collapse(self) -> CaptureTable:
        """The table summed over strata."""
        return CaptureTable(self.lists, self.patterns, self.counts.sum(axis=0, keepdims=True),
                            source=self.source)

    def to_frame(self) -> pd.DataFrame:
        """Long table: stratum, one 0/1 column per list, count."""
        rows = []
        for s, stratum in enumerate(self.strata):
            for p, pat in enumerate(self.patterns):
                rows.append([stratum, *map(int, pat), int(self.counts[s, p])])
        return pd.DataFrame(rows, columns=["stratum", *self.lists, "count"])

    def fingerprint(self) -> str:
        """A hash of the table's content, recorded with results."""
        return fingerprint({
            "lists": self.lists, "strata": self.strata,
            "patterns": self.pattern_labels, "counts": self.counts.tolist(),
        })

    def __repr__(self) -> str:
        return (
            f"CaptureTable(lists={list(self.lists)}, patterns={len(self.patterns)}, "
            f"strata={len(self.strata)}, observed={int(self.counts.sum())})"
        )

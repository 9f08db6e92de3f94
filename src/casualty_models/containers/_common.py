"""What every container shares: reading tables, checking counts, labels, fingerprints.

Rows of input tables are numbered from 1 (the first data row) in messages,
as a spreadsheet user counts them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataValidationError

__all__ = ["DEFAULT_PERIOD", "DEFAULT_STRATUM", "MAX_COUNT", "fingerprint", "observable_patterns",
           "pattern_label", "read_csv_file"]

DEFAULT_STRATUM = "all"
DEFAULT_PERIOD = "all"
#: Largest count (and total of counts) a container accepts: what an int64 holds.
MAX_COUNT = int(np.iinfo(np.int64).max)


def _as_count_array(values: Any, what: str, labels: Sequence[Any] | None = None) -> np.ndarray:
    """Validate non-negative integer counts and return them as int64."""
    arr = np.asarray(values)
    if arr.size == 0:
        raise DataValidationError(
            f"{what} is empty: expected at least one count. Fix: pass the counts."
        )
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        flat_in = np.ravel(np.asarray(values, dtype=object))
        bad = [i for i, v in enumerate(flat_in) if not _is_number(v)]
        if bad:
            i = bad[0]
            at = f" (at {labels[i]})" if labels is not None else ""
            raise DataValidationError(
                f"{what} contains {_py(flat_in[i])!r}{at}: expected non-negative integer "
                "counts. Fix: convert the column to numbers."
            )
        arr = arr.astype(float)
    flat = arr.ravel()
    where = (lambda i: f" (at {labels[i]})") if labels is not None else (lambda i: "")
    if np.issubdtype(arr.dtype, np.floating):
        nan = np.flatnonzero(~np.isfinite(flat))
        if nan.size:
            i = int(nan[0])
            raise DataValidationError(
                f"{what} contains {_py(flat[i])!r}{where(i)}: expected a finite non-negative "
                "integer. Fix: fill or remove missing counts explicitly before fitting."
            )
        frac = np.flatnonzero(flat != np.round(flat))
        if frac.size:
            i = int(frac[0])
            raise DataValidationError(
                f"{what} contains the non-integer value {_py(flat[i])!r}{where(i)}: expected "
                "whole numbers of deaths. Fix: pass integer counts."
            )
    neg = np.flatnonzero(flat < 0)
    if neg.size:
        i = int(neg[0])
        raise DataValidationError(
            f"{what} contains the negative value {_py(flat[i])!r}{where(i)}: expected counts "
            ">= 0. Fix: correct the data."
        )
    big = np.flatnonzero(flat > MAX_COUNT)
    total = sum(int(v) for v in flat) if flat.size else 0
    if big.size or total > MAX_COUNT:
        what_big = (f"the value {_py(flat[int(big[0])])!r}{where(int(big[0]))}" if big.size
                    else f"values summing to {total:,}")
        raise DataValidationError(
            f"{what} contains {what_big}: expected counts (and their total) of at most "
            f"{MAX_COUNT:,}, the largest a 64-bit integer holds. Fix: check the data (a count "
            "this large is almost surely a unit or parsing error)."
        )
    return arr.astype(np.int64)


def _is_number(v: Any) -> bool:
    if isinstance(v, bool | np.bool_):
        return False
    if isinstance(v, int | float | np.number):
        return True
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def _row(i: int) -> str:
    """A row of an input table, numbered from 1 (the first data row), as a spreadsheet user counts."""
    return f"row {int(i) + 1}"


def _py(v: Any) -> Any:
    """A NumPy scalar as the plain Python value, for readable messages."""
    return v.item() if isinstance(v, np.generic) else v


def fingerprint(payload: Mapping[str, Any]) -> str:
    """``sha256:`` hash of a JSON-able payload (keys sorted): the data fingerprint of results."""
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def observable_patterns(k: int) -> np.ndarray:
    """All :math:`2^K - 1` observable capture patterns, shape (2^K - 1, K), uint8.

    Pattern code 1, 2, ..., :math:`2^K - 1` in order, the first list being the
    most significant bit (the order of :meth:`CaptureTable.dense`).
    """
    idx = np.arange(1, 2**k)
    return ((idx[:, None] >> np.arange(k - 1, -1, -1)) & 1).astype(np.uint8)


def pattern_label(bits: Iterable[int]) -> str:
    """Label of a capture pattern as a 0/1 string, e.g. ``(1, 0, 1) -> "101"``."""
    return "".join(str(int(b)) for b in bits)


def read_toml_file(path: str | os.PathLike[str], what: str = "config file") -> dict[str, Any]:
    """Read a TOML file into a dict, or raise one clear error (missing file, bad TOML)."""
    import tomllib

    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataValidationError(f"{what} {path!r} does not exist. Fix: check the path.")
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise DataValidationError(
            f"cannot read {path!r} as TOML ({exc}). Fix: correct the file's syntax."
        ) from None


def read_csv_file(path: str | os.PathLike[str], what: str = "input file") -> pd.DataFrame:
    """Read a comma-separated file with a header row, or raise one clear error.

    A file that parses as a single column whose name contains ``;`` (or a
    tab) was almost surely written with another separator: the error says so
    instead of letting a one-column table fail later.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataValidationError(
            f"{what} {path!r} does not exist. Fix: check the path, or use a shipped dataset "
            "(casualty-models datasets; casualty_models.datasets.list_datasets())."
        )
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataValidationError(
            f"cannot read {path!r} as CSV ({exc}). Fix: pass a comma-separated file with a "
            "header row."
        ) from None
    if len(df.columns) == 1:
        name = str(df.columns[0])
        for sep, word in ((";", "semicolon"), ("\t", "tab")):
            if sep in name:
                raise DataValidationError(
                    f"{path!r} reads as one column named {name!r}: the file looks "
                    f"{word}-separated, but CSV input must be comma-separated. Fix: save it "
                    f"with commas, or read it with pandas.read_csv(path, sep={sep!r}) and "
                    "pass the DataFrame."
                )
    return df


def _read_table(data: Any, what: str) -> pd.DataFrame:
    if isinstance(data, str | os.PathLike):
        return read_csv_file(data, what)
    if isinstance(data, pd.DataFrame):
        return data
    raise DataValidationError(
        f"{what}: got {type(data).__name__}, expected a pandas DataFrame or a CSV path."
    )


def _read_nonempty(data: Any, what: str, *, required: Sequence[tuple[str, str]] = ()) -> pd.DataFrame:
    """Read a table, reject an empty one, and check that each ``(column, fix)`` exists."""
    df = _read_table(data, what)
    if len(df) == 0:
        raise DataValidationError(f"{what} is empty (0 rows): expected data rows.")
    for column, fix in required:
        if column not in df.columns:
            raise DataValidationError(
                f"column {column!r} is not in the {what}: available columns are "
                f"{list(map(str, df.columns))}. Fix: {fix}"
            )
    return df


def _stratum_labels(df: pd.DataFrame, stratum: str | Sequence[str] | None) -> pd.Series:
    if stratum is None:
        return pd.Series([DEFAULT_STRATUM] * len(df), index=df.index, dtype=object)
    cols = [stratum] if isinstance(stratum, str) else list(stratum)
    for c in cols:
        if c not in df.columns:
            raise DataValidationError(
                f"stratum column {c!r} is not in the data: available columns are "
                f"{list(map(str, df.columns))}. Fix: pass one of them."
            )
        miss = df[c].isna()
        if miss.any():
            raise DataValidationError(
                f"stratum column {c!r} has {int(miss.sum())} missing value(s) (first at "
                f"{_row(np.flatnonzero(miss.to_numpy())[0])}): expected a label on every row. "
                "Fix: fill them (e.g. 'unknown') or drop those rows explicitly."
            )

    def fmt(v: Any) -> str:
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    if len(cols) == 1:
        return df[cols[0]].map(fmt).astype(object)
    return df[cols].apply(lambda r: "|".join(fmt(v) for v in r), axis=1).astype(object)

"""Death registrations by region x year x age group x sex, validated once.

:class:`DeathTable` holds the table behind excess-mortality models (Rosstat's
deaths by federal subject, year, 5-year age group and sex, or a user's own).
It is built from a long table (one row per region, year, age group and sex)
and checked at the boundary:

- deaths must be finite non-negative integers;
- every age label must be a band (``15-19``, ``15-19 лет``), an open band
  (``85+``, ``85 и более``), the total (``Всего``/``total``) or the unknown
  age (``Неизвестно``/``unknown``); anything else is an error naming it;
- a band nested inside another (Rosstat's ``15-17 лет``, inside ``15-19 лет``,
  in 2023) is a *sub-group*: it is kept apart (:attr:`DeathTable.subgroups`)
  and never added to the partition, which would count those deaths twice;
- each (region, year) present must have every age band for both sexes, no
  duplicates, and age bands plus unknown age must add up to the total when a
  total row is given;
- regions may cover different years (Crimea from 2014, Chechnya from 2004):
  :attr:`DeathTable.known` marks the (region, year) cells present, and any
  request for a missing one is an error naming the region and year.

The national row (``Российская Федерация``) and the composite regions that
contain others (``Архангельская область`` contains ``Ненецкий АО``;
``Тюменская область`` contains the Khanty-Mansi and Yamalo-Nenets AOs) are
recognised, so that :meth:`DeathTable.subjects` lists the 85 non-overlapping
federal subjects whose deaths add up exactly to the national row.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataValidationError

__all__ = ["DeathTable", "parse_age_band", "NATIONAL_LABELS", "ROSSTAT_COMPOSITES"]

#: Labels read as the national total row.
NATIONAL_LABELS = ("Российская Федерация", "Russian Federation", "Russia")
#: Rosstat's composite regions and the subjects they contain.
ROSSTAT_COMPOSITES: dict[str, tuple[str, ...]] = {
    "Архангельская область": ("Архангельская область без АО", "Ненецкий АО"),
    "Тюменская область": ("Тюменская область без АО", "Ханты-Мансийский АО",
                          "Ямало-Ненецкий АО"),
}
_TOTAL_LABELS = {"всего", "total", "all", "all ages"}
_UNKNOWN_LABELS = {"неизвестно", "unknown", "не указан", "na", "n/a"}
_SEX = {"m": "m", "male": "m", "males": "m", "men": "m", "м": "m", "муж": "m", "мужчины": "m",
        "f": "f", "female": "f", "females": "f", "women": "f", "ж": "f", "жен": "f",
        "женщины": "f"}
#: Latin letters that look Cyrillic; Rosstat's file spells one region with a Latin H.
_LATIN_TO_CYRILLIC = str.maketrans("AaBCcEeHKMOoPpTXxy", "АаВСсЕеНКМОоРрТХху")
_BAND = re.compile(r"^\s*(\d+)\s*[-–—]\s*(\d+)\s*(?:лет|года|год|years?|y)?\s*$", re.I)
_OPEN = re.compile(r"^\s*(\d+)\s*(?:\+|и\s+более|и\s+старше|years?\s+and\s+over|and\s+over)\s*$",
                   re.I)


def parse_age_band(label: Any) -> tuple[int, int | None] | str:
    """Parse an age label: ``(low, high)`` for a band, ``(low, None)`` for an open one.

    Returns ``"total"`` or ``"unknown"`` for the total and unknown-age rows.

    Raises
    ------
    DataValidationError
        If the label is none of these.

    Examples
    --------
    >>> parse_age_band("15-19 лет"), parse_age_band("85 и более"), parse_age_band("Всего")
    ((15, 19), (85, None), 'total')
    """
    text = str(label).strip()
    low = text.lower()
    if low in _TOTAL_LABELS:
        return "total"
    if low in _UNKNOWN_LABELS:
        return "unknown"
    m = _BAND.match(text)
    if m and int(m.group(1)) <= int(m.group(2)):
        return int(m.group(1)), int(m.group(2))
    m = _OPEN.match(text)
    if m:
        return int(m.group(1)), None
    raise DataValidationError(
        f"unknown age label {label!r}: expected a band such as '15-19' or '15-19 лет', an "
        "open band such as '85+' or '85 и более', 'Всего'/'total' or 'Неизвестно'/'unknown'. "
        "Fix: relabel that age group."
    )


def _band_label(band: tuple[int, int | None]) -> str:
    lo, hi = band
    return f"{lo}+" if hi is None else f"{lo}-{hi}"


_FOLD_LATIN = str.maketrans("abcehkmoptxy", "авсенкмортху")


def _fold(name: str) -> str:
    """Comparison key of a region name: case folded, Latin look-alikes read as Cyrillic."""
    key = " ".join(str(name).casefold().replace("ё", "е").split())
    return key.translate(_FOLD_LATIN) if re.search("[а-я]", key) else key


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class DeathTable:
    """Deaths by region x year x age group x sex.

    Build it with :meth:`from_frame` (long table) or
    :func:`casualty_models.datasets.load_death_table` (the shipped Rosstat
    table); the constructor checks shapes only.

    Attributes
    ----------
    deaths : int64 array (region, year, age, sex)
        Deaths; zero where the (region, year) is not :attr:`known`.
    known : bool array (region, year)
        Whether the table has that region in that year.
    flagged : bool array (region, year)
        Region-years whose age groups disagree with their total row (read with
        ``totals="flag"``); models leave them out and say so.
    regions : tuple of str
    years : tuple of int
        Consecutive years from the first to the last in the table.
    ages : tuple of str
        The age partition, youngest first: ``"0-4"``, ..., ``"85+"``.
    sexes : tuple of str
        ``("m", "f")``.
    unknown_age : int64 array (region, year, sex)
        Deaths of unknown age (not in any band; reported, never spread).
    subgroups : mapping of str to int64 array (region, year, sex)
        Bands nested in a band of the partition (``"15-17"``), with ``-1``
        where that year lacks them.  Kept for reference, never summed.
    national : str or None
        The region label of the national total row, if any.
    composites : mapping of str to tuple of str
        Regions that are sums of other regions in the table.
    source : str
    notes : tuple of str
        What was recognised or corrected while reading (for provenance).
    """

    deaths: np.ndarray
    known: np.ndarray
    flagged: np.ndarray
    regions: tuple[str, ...]
    years: tuple[int, ...]
    ages: tuple[str, ...]
    sexes: tuple[str, ...] = ("m", "f")
    unknown_age: np.ndarray | None = None
    subgroups: Mapping[str, np.ndarray] = field(default_factory=dict)
    national: str | None = None
    composites: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = "user"
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        shape = (len(self.regions), len(self.years), len(self.ages), len(self.sexes))
        if (self.deaths.shape != shape or self.known.shape != shape[:2]
                or self.flagged.shape != shape[:2]):
            raise DataValidationError(
                f"internal: deaths has shape {self.deaths.shape} and known {self.known.shape}, "
                f"expected {shape} and {shape[:2]}."
            )
        object.__setattr__(self, "deaths", _readonly(self.deaths.astype(np.int64)))
        object.__setattr__(self, "known", _readonly(self.known.astype(bool)))
        object.__setattr__(self, "flagged", _readonly(self.flagged.astype(bool)))
        unk = (np.zeros((shape[0], shape[1], shape[3]), np.int64) if self.unknown_age is None
               else self.unknown_age.astype(np.int64))
        object.__setattr__(self, "unknown_age", _readonly(unk))

    # ------------------------------------------------------------ building
    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        region: str = "Region",
        year: str = "Year",
        age: str = "Age",
        sex: str = "Gender",
        deaths: str = "Deaths",
        national: str | None = None,
        composites: Mapping[str, Sequence[str]] | None = None,
        source: str = "user",
        totals: str = "error",
    ) -> DeathTable:
        """Validate a long table (one row per region, year, age group and sex).

        Parameters
        ----------
        df : DataFrame
        region, year, age, sex, deaths : str
            Column names (defaults: Rosstat's ``Region, Year, Age, Gender, Deaths``).
            A table without a region column is read as one region ``"all"``.
        national : str, optional
            Label of the national total row; by default one of
            :data:`NATIONAL_LABELS` if present.
        composites : mapping, optional
            Regions that are sums of others; by default Rosstat's
            (:data:`ROSSTAT_COMPOSITES`) when their parts are present.
        source : str
            Recorded with results.
        totals : {"error", "flag"}
            What to do when a total row (``Всего``) disagrees with its age groups
            plus unknown age: raise, or keep the table and mark that region-year
            in :attr:`DeathTable.flagged` (with a note) so that models leave it
            out.  Rosstat's table needs ``"flag"``: Krasnoyarsk's 2016 age groups
            add up to 1,375 male deaths against a total of 19,151.
        """
        if totals not in ("error", "flag"):
            raise DataValidationError(
                f"totals={totals!r} is unknown: expected 'error' or 'flag'.")
        if not isinstance(df, pd.DataFrame):
            raise DataValidationError(
                f"death table must be a pandas DataFrame, got {type(df).__name__}. Fix: read "
                "the CSV with pandas.read_csv first."
            )
        if df.empty:
            raise DataValidationError("death table is empty: expected one row per region, "
                                      "year, age group and sex.")
        df = df.copy()
        if region not in df.columns:
            df[region] = "all"
        missing = [c for c in (year, age, sex, deaths) if c not in df.columns]
        if missing:
            raise DataValidationError(
                f"death table lacks column(s) {missing}: it has {list(map(str, df.columns))}. "
                f"Fix: rename the columns or pass year=, age=, sex=, deaths= to from_frame."
            )
        notes: list[str] = []
        # deaths: finite non-negative integers
        d = pd.to_numeric(df[deaths], errors="coerce")
        bad = d.isna() | ~np.isfinite(d.astype(float)) | (d < 0) | (d != np.round(d))
        if bad.any():
            i = bad.to_numpy().nonzero()[0][0]
            row = {k: (v.item() if isinstance(v, np.generic) else v)
                   for k, v in df.iloc[i].items()}
            raise DataValidationError(
                f"deaths = {row[deaths]!r} for {row[region]}, {row[year]}, age {row[age]}, sex "
                f"{row[sex]} (row {i}): expected a non-negative integer count. Fix: correct or "
                "remove that row (missing counts must be filled explicitly, never guessed)."
            )
        df[deaths] = d.astype(np.int64)
        y = pd.to_numeric(df[year], errors="coerce")
        if y.isna().any() or (y != np.round(y)).any():
            i = (y.isna() | (y != np.round(y))).to_numpy().nonzero()[0][0]
            raise DataValidationError(
                f"year {df[year].iloc[i]!r} (row {i}) is not a calendar year: expected an "
                "integer such as 2019. Fix: correct that row."
            )
        df[year] = y.astype(np.int64)
        # sex
        sx = df[sex].astype(str).str.strip().str.lower().map(_SEX)
        if sx.isna().any():
            v = df[sex][sx.isna()].iloc[0]
            raise DataValidationError(
                f"unknown sex {v!r}: expected 'm'/'f' (or male/female, м/ж). Fix: recode the "
                f"{sex!r} column; rows of both sexes together belong in neither."
            )
        df[sex] = sx
        # regions: Latin look-alike letters corrected (Rosstat's 'Ямало-Hенецкий АО')
        raw_regions = df[region].astype(str).str.strip()
        fixed = raw_regions.map(lambda s: s if not re.search("[а-яА-Я]", s)
                                else s.translate(_LATIN_TO_CYRILLIC))
        for old in sorted(set(raw_regions[fixed != raw_regions])):
            notes.append(f"region label {old!r} had Latin letters among Cyrillic ones; read "
                         f"as {old.translate(_LATIN_TO_CYRILLIC)!r}")
        df[region] = fixed
        # ages
        labels = {lab: parse_age_band(lab) for lab in df[age].astype(str).unique()}
        bands = sorted({b for b in labels.values() if isinstance(b, tuple)},
                       key=lambda b: (b[0], -(b[1] if b[1] is not None else 10**6)))
        partition: list[tuple[int, int | None]] = []
        nested: list[tuple[int, int | None]] = []
        for b in bands:
            if partition and _inside(b, partition[-1]):
                nested.append(b)
                continue
            if partition and partition[-1][1] is not None and b[0] != partition[-1][1] + 1:
                raise DataValidationError(
                    f"age bands {_band_label(partition[-1])} and {_band_label(b)} neither "
                    "follow on nor nest: expected consecutive bands (0-4, 5-9, ...) plus "
                    "optional sub-groups inside one band. Fix: relabel or drop the odd band."
                )
            if partition and partition[-1][1] is None:
                raise DataValidationError(
                    f"age band {_band_label(b)} lies above the open band "
                    f"{_band_label(partition[-1])}. Fix: relabel the age groups."
                )
            partition.append(b)
        kind = df[age].astype(str).map(lambda s: labels[s])
        df["_age"] = kind.map(lambda k: _band_label(k) if isinstance(k, tuple) else k)
        for b in nested:
            notes.append(f"age group {_band_label(b)} lies inside another band: kept as a "
                         "sub-group, not added to the partition (it would count deaths twice)")
        dup = df.duplicated([region, year, "_age", sex], keep=False)
        if dup.any():
            r = df[dup].iloc[0]
            raise DataValidationError(
                f"{r[region]}, {r[year]}, age {r[age]}, sex {r[sex]} appears more than once. "
                "Fix: aggregate or remove the duplicate rows."
            )
        regions = tuple(dict.fromkeys(sorted(df[region].unique())))
        years = tuple(range(int(df[year].min()), int(df[year].max()) + 1))
        ages = tuple(_band_label(b) for b in partition)
        if not ages:
            raise DataValidationError("death table has no age bands, only totals: expected "
                                      "rows for age groups such as '15-19'.")
        sexes = ("m", "f")
        ri = {r: i for i, r in enumerate(regions)}
        yi = {v: i for i, v in enumerate(years)}
        ai = {a: i for i, a in enumerate(ages)}
        si = {s: i for i, s in enumerate(sexes)}
        R, Y, A = len(regions), len(years), len(ages)
        r_idx = df[region].map(ri).to_numpy()
        y_idx = df[year].map(yi).to_numpy()
        s_idx = df[sex].map(si).to_numpy()
        vals = df[deaths].to_numpy()
        band_rows = df["_age"].isin(ages).to_numpy()
        out = np.zeros((R, Y, A, 2), np.int64)
        filled = np.zeros((R, Y, A, 2), bool)
        a_idx = df["_age"].map(ai).to_numpy()
        sel = band_rows
        out[r_idx[sel], y_idx[sel], a_idx[sel].astype(int), s_idx[sel]] = vals[sel]
        filled[r_idx[sel], y_idx[sel], a_idx[sel].astype(int), s_idx[sel]] = True
        present = np.zeros((R, Y), bool)
        present[r_idx, y_idx] = True
        holes = present[:, :, None, None] & ~filled
        if holes.any():
            hr, hy, ha, hs = (int(v[0]) for v in np.nonzero(holes))
            raise DataValidationError(
                f"{regions[hr]}, {years[hy]}: no deaths for age {ages[ha]}, sex {sexes[hs]}, "
                "although that region has other rows that year: expected every age band for "
                "both sexes. Fix: add the row (0 if there were no deaths) or drop that "
                "region-year entirely."
            )

        def side(kind_label: str) -> np.ndarray | None:
            m = (df["_age"] == kind_label).to_numpy()
            if not m.any():
                return None
            arr = np.full((R, Y, 2), -1, np.int64)
            arr[r_idx[m], y_idx[m], s_idx[m]] = vals[m]
            return arr

        unknown = side("unknown")
        total = side("total")
        flagged = np.zeros((R, Y), bool)
        if total is not None:
            expect = out.sum(axis=2) + (np.maximum(unknown, 0) if unknown is not None else 0)
            off = (total >= 0) & (total != expect)
            for r, yy, k in zip(*np.nonzero(off), strict=True):
                msg = (f"{regions[r]}, {years[yy]}, sex {sexes[k]}: the total row says "
                       f"{int(total[r, yy, k])} deaths but the age groups (with unknown age) "
                       f"add up to {int(expect[r, yy, k])}")
                if totals == "error":
                    raise DataValidationError(
                        msg + ": expected them equal. Fix: check for a missing or duplicated "
                        "age group, or pass totals='flag' to keep the table and let models "
                        "leave that region-year out.")
                notes.append(msg + "; that region-year is flagged and left out of baselines")
            flagged = off.any(axis=-1)
        subgroups = {}
        for b in nested:
            arr = side(_band_label(b))
            if arr is not None:
                subgroups[_band_label(b)] = arr
        if national is None:
            national = next((r for r in regions if r in NATIONAL_LABELS), None)
        elif national not in regions:
            raise DataValidationError(
                f"national={national!r} is not a region of the table. Fix: pass one of its "
                "region labels or leave national unset.")
        if composites is None:
            composites = {k: v for k, v in ROSSTAT_COMPOSITES.items()
                          if k in ri and all(p in ri for p in v)}
        comp = {str(k): tuple(v) for k, v in composites.items()}
        for k, parts in comp.items():
            for p in (k, *parts):
                if p not in ri:
                    raise DataValidationError(
                        f"composite region {k!r} lists {p!r}, which is not in the table. "
                        "Fix: correct the composites mapping.")
        if national:
            notes.append(f"{national!r} is the national total row")
        for k, parts in comp.items():
            notes.append(f"{k!r} is the sum of {list(parts)} (composite; not a subject)")
        unk = None if unknown is None else np.maximum(unknown, 0)
        return cls(deaths=out, known=present, flagged=flagged, regions=regions, years=years,
                   ages=ages, sexes=sexes, unknown_age=unk, subgroups=subgroups, national=national,
                   composites=comp, source=source, notes=tuple(notes))

    # ------------------------------------------------------------ lookups
    def region_label(self, name: str) -> str:
        """The table's label for ``name`` (case and Latin/Cyrillic look-alikes ignored).

        Raises
        ------
        DataValidationError
            If no region matches; the message lists close names.
        """
        folded = {_fold(r): r for r in self.regions}
        key = _fold(name)
        if key in folded:
            return folded[key]
        close = [r for f, r in folded.items() if key and (key in f or f in key)][:5]
        hint = f" Close names: {close}." if close else ""
        raise DataValidationError(
            f"unknown region {name!r}: the table has {len(self.regions)} regions "
            f"(e.g. {list(self.regions[:3])}).{hint} Fix: use a label from the table's "
            "Region column (`DeathTable.regions`)."
        )

    def subjects(self) -> tuple[str, ...]:
        """Non-overlapping regions: all but the national row and composite regions.

        For Rosstat's table these are the 85 federal subjects; their deaths add
        up exactly to the national row.
        """
        skip = set(self.composites) | ({self.national} if self.national else set())
        return tuple(r for r in self.regions if r not in skip)

    def age_band(self, band: str | Sequence[str]) -> tuple[str, ...]:
        """Age groups covering ``band``.

        ``band`` is a span (``"15-49"``: the groups 15-19 ... 45-49) or a list of
        group labels (``["15-19", "20-24"]``, ``"15-19 лет"`` accepted).

        Raises
        ------
        DataValidationError
            If the span does not start and end on group boundaries, or a label is
            not one of the table's groups.
        """
        if isinstance(band, str):
            b = parse_age_band(band)
            if not isinstance(b, tuple):
                raise DataValidationError(
                    f"age band {band!r} is not a span: expected e.g. '15-49' or a list of "
                    f"groups from {list(self.ages)}.")
            lo, hi = b
            groups = [a for a in self.ages if _in_span(a, lo, hi)]
            starts = {parse_age_band(a)[0] for a in self.ages}
            ends = {_upper(a) for a in self.ages}
            if not groups or lo not in starts or hi not in ends:
                raise DataValidationError(
                    f"age band {band!r} does not match the table's age groups "
                    f"{list(self.ages)}: a band must start where a group starts and end where "
                    "one ends. Fix: e.g. '15-49' or '20-44'.")
            return tuple(groups)
        out = []
        for a in band:
            b = parse_age_band(a)
            label = _band_label(b) if isinstance(b, tuple) else str(b)
            if label not in self.ages:
                raise DataValidationError(
                    f"unknown age group {a!r}: the table's groups are {list(self.ages)}. "
                    "Fix: pick groups from that list or give a span such as '15-49'.")
            out.append(label)
        return tuple(out)

    def check_years(self, regions: Sequence[str], years: Sequence[int], what: str) -> None:
        """Raise a clear error if any of ``regions`` lacks any of ``years``."""
        for y in years:
            if y not in self.years:
                raise DataValidationError(
                    f"{what} year {y} is not in the table (years {self.years[0]}-"
                    f"{self.years[-1]}). Fix: choose {what} years within that range.")
        yi = [self.years.index(y) for y in years]
        for r in regions:
            k = self.known[self.regions.index(r), yi]
            if not k.all():
                y = years[int(np.flatnonzero(~k)[0])]
                have = [self.years[i] for i in np.flatnonzero(self.known[self.regions.index(r)])]
                raise DataValidationError(
                    f"{what} year {y} is missing for {r!r} (it has {have[0]}-{have[-1]}). "
                    f"Fix: choose {what} years that region has, or leave it out.")

    def counts(self, regions: Sequence[str], years: Sequence[int], ages: Sequence[str]
               ) -> np.ndarray:
        """Deaths ``(region, year, age, sex)`` for the labels given (checked present)."""
        self.check_years(regions, years, "requested")
        ri = [self.regions.index(r) for r in regions]
        yi = [self.years.index(y) for y in years]
        ai = [self.ages.index(a) for a in ages]
        return np.asarray(self.deaths[np.ix_(ri, yi, ai, [0, 1])])

    def fingerprint(self) -> str:
        """sha256 of the table's content (labels and counts)."""
        h = hashlib.sha256()
        for part in (self.regions, self.years, self.ages, self.sexes):
            h.update(repr(part).encode())
        h.update(self.deaths.tobytes())
        h.update(self.known.tobytes())
        h.update(self.flagged.tobytes())
        return h.hexdigest()

    def to_frame(self) -> pd.DataFrame:
        """Long table of the known cells: region, year, age, sex, deaths."""
        r, y, a, s = np.nonzero(np.broadcast_to(self.known[:, :, None, None],
                                                self.deaths.shape))
        return pd.DataFrame({
            "region": np.asarray(self.regions, dtype=object)[r],
            "year": np.asarray(self.years)[y],
            "age": np.asarray(self.ages, dtype=object)[a],
            "sex": np.asarray(self.sexes, dtype=object)[s],
            "deaths": self.deaths[r, y, a, s],
        })

    def __repr__(self) -> str:
        return (f"DeathTable({len(self.regions)} regions, years {self.years[0]}-"
                f"{self.years[-1]}, {len(self.ages)} age groups, {int(self.deaths.sum()):,} "
                f"deaths, source={self.source!r})")


def _upper(label: str) -> int | None:
    b = parse_age_band(label)
    return b[1] if isinstance(b, tuple) else None


def _in_span(label: str, lo: int, hi: int | None) -> bool:
    b = parse_age_band(label)
    if not isinstance(b, tuple):
        return False
    if hi is None:
        return b[0] >= lo
    return b[0] >= lo and b[1] is not None and b[1] <= hi


def _inside(b: tuple[int, int | None], outer: tuple[int, int | None]) -> bool:
    """Whether band ``b`` lies within ``outer`` (and is not equal to it)."""
    if b == outer or b[0] < outer[0]:
        return False
    if outer[1] is None:
        return True
    return b[1] is not None and b[1] <= outer[1]

"""Datasets shipped with casualty_models, with their citations.

Every dataset is a file inside the package (no network at run time).  Use
:func:`list_datasets` to see them, :func:`load` for the raw table and the
typed loaders (:func:`load_capture_table`, ...) for validated containers.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import DataValidationError

__all__ = [
    "DATASETS",
    "Dataset",
    "dataset_path",
    "list_datasets",
    "load",
    "load_capture_table",
    "load_death_table",
]


@dataclass(frozen=True)
class Dataset:
    """Description of a shipped dataset.

    Attributes
    ----------
    name : str
        Name used by the loaders and by ``--dataset`` on the command line.
    filename : str
        File inside ``casualty_models/datasets/data``.
    kind : str
        ``"capture-counts"`` (0/1 list columns plus ``count``),
        ``"capture-records"`` (one row per person), ``"confirmed-records"``,
        ``"confirmed-counts"``, ``"line-list"`` (event and report dates),
        ``"estimates"`` or ``"registry"``.
    description, citation : str
    lists : tuple of str
        List columns, for capture tables.
    stratum : str or None
        A natural stratum column, if any.
    """

    name: str
    filename: str
    kind: str
    description: str
    citation: str
    lists: tuple[str, ...] = ()
    stratum: str | None = None
    options: tuple[tuple[str, Any], ...] = ()


_LCMCR = "Manrique-Vallier, D. (2016). Bayesian population size estimation using Dirichlet process mixtures. Biometrics 72(4), 1246-1254; R package LCMCR."  # noqa: E501

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in [
        Dataset(
            "kosovo", "kosovo_4lists.csv", "capture-counts",
            "Killings in Kosovo, March-June 1999: 4 lists (exhumations EXH, American Bar "
            "Association ABA, OSCE, Human Rights Watch HRW); 4,400 observed, 15 patterns.",
            "Ball, P., Betts, W., Scheuren, F., Dudukovich, J., Asher, J. (2002). Killings "
            "and Refugee Flow in Kosovo, March-June 1999. Report to the ICTY. Distributed as "
            "kosovo_aggregate in the R package LCMCR. " + _LCMCR,
            lists=("EXH", "ABA", "OSCE", "HRW"),
        ),
        Dataset(
            "madigan_york", "madigan_york_5lists.csv", "capture-counts",
            "Five-list example of Madigan & York (1997); 537 observed.",
            "Madigan, D., York, J. C. (1997). Bayesian methods for estimation of the size "
            "of a closed population. Biometrika 84(1), 19-31; example of the R package dga.",
            lists=("L1", "L2", "L3", "L4", "L5"),
        ),
        Dataset(
            "spina_bifida", "spina_bifida_3lists_madigan_york.csv", "capture-counts",
            "Spina bifida in upstate New York, 3 sources (birth certificates L1, death "
            "certificates L2, medical rehabilitation L3); 626 observed (Madigan & York's "
            "version).",
            "Hook, E. B., Albright, S. G., Cross, P. K. (1980). Use of Bernoulli census and "
            "log-linear methods for estimating the prevalence of spina bifida in livebirths "
            "and the completeness of vital record reports in New York State. American "
            "Journal of Epidemiology 112(6), 750-758; Madigan & York (1997); R package dga.",
            lists=("L1", "L2", "L3"),
        ),
        Dataset(
            "spina_bifida_ethnicity", "spina_bifida_3lists_by_ethnicity.csv", "capture-counts",
            "The spina bifida registry by ethnicity (3 sources S1-S3; 621 observed), as "
            "distributed by the R package conting.",
            "Hook et al. (1980); Overstall, A. M., King, R. (2014). conting: an R package for "
            "Bayesian analysis of complete and incomplete contingency tables. Journal of "
            "Statistical Software 58(7).",
            lists=("S1", "S2", "S3"), stratum="ethnicity",
        ),
        Dataset(
            "gaza", "gaza_3lists_records_2023_2024.csv", "capture-records",
            "29,271 records of traumatic-injury deaths in Gaza, 7 Oct 2023 - 30 Jun 2024, on "
            "three lists (hospital, survey, social_media), with age, gender, month and year "
            "of death and governorate (56 records lack gender, 960 lack age).",
            "Jamaluddine, Z., Abukmail, H., Aly, S., Campbell, O. M. R., Checchi, F. (2025). "
            "Traumatic injury mortality in the Gaza Strip from Oct 7, 2023, to June 30, 2024: "
            "a capture-recapture analysis. The Lancet 405(10477), 469-477; public "
            "replication data.",
            lists=("hospital", "survey", "social_media"), stratum="gov",
        ),
        Dataset(
            "russia_named_list", "russia_named_list_anonymised_2023-04.csv", "confirmed-records",
            "20,253 Russian servicemen confirmed dead by name from open sources, 24 Feb 2022 "
            "to 11 Apr 2023, names removed: birth year, date of death, unit type, age, region.",
            "Bessudnov, A. (2023). Ethnic and regional inequalities in the Russian military "
            "fatalities in Ukraine. SocArXiv s43yf, replication data. The list was compiled "
            "by BBC News Russian, Mediazona and volunteers.",
            stratum="unitType",
        ),
        Dataset(
            "russia_milestones", "russia_named_list_milestones.csv", "confirmed-counts",
            "Cumulative number of names on the BBC News Russian / Mediazona list at published "
            "dates, with the published ranges names/0.65 and names/0.45.",
            "BBC News Russian and Mediazona publications as reported in the press, 2023-2026.",
        ),
        Dataset(
            "russia_weekly_snapshot", "russia_weekly_named_deaths_snapshot_2023-11-17.csv",
            "confirmed-counts",
            "Weekly confirmed deaths by week of death, 88 weeks from 24 Feb 2022, as shown on "
            "Mediazona's chart on 17 Nov 2023 (digitised, approximate; recent weeks "
            "incomplete).",
            "Mediazona chart of 17 Nov 2023, digitised by A. Antonov (2023).",
        ),
        Dataset(
            "russia_published_estimates", "russia_published_estimates.csv", "estimates",
            "Published statistical estimates of Russian military deaths: probate-registry "
            "excess (Meduza and Mediazona) and Rosstat excess male mortality.",
            "Meduza and Mediazona (2023-2025); Kobak, D., Bessudnov, A., Ershov, A., "
            "Mikhailova, E., Raksha, A. (2025). Demography 62(2), 335-347.",
        ),
        Dataset(
            "hus_o104", "hus_o104_hospitalisations_2011.csv", "line-list",
            "630 hospitalisations for haemolytic uraemic syndrome in the German STEC O104:H4 "
            "outbreak, 2011: hospitalisation date and report date.",
            "Hoehle, M., an der Heiden, M. (2014). Bayesian nowcasting during the STEC O104:H4 "
            "outbreak in Germany, 2011. Biometrics 70(4), 993-1002; husO104Hosp in the R "
            "package surveillance.",
        ),
        Dataset(
            "rosstat_deaths", "rosstat_deaths_by_region_year_age_sex_1990_2023.csv.gz",
            "registry",
            "Deaths in Russia by federal region, year 1990-2023, 5-year age group and sex "
            "(columns Region, Year, Age, Gender, Deaths).",
            "Rosstat, as obtained and published by Kobak et al. (2025), Demography 62(2).",
        ),
    ]
}


def list_datasets() -> pd.DataFrame:
    """Table of the shipped datasets: name, kind, description and citation."""
    return pd.DataFrame(
        [(d.name, d.kind, d.description, d.citation) for d in DATASETS.values()],
        columns=["name", "kind", "description", "citation"],
    )


def _get(name: str) -> Dataset:
    if name not in DATASETS:
        raise DataValidationError(
            f"unknown dataset {name!r}: shipped datasets are {sorted(DATASETS)}. "
            "Fix: pick one of those names (casualty-models datasets lists them)."
        )
    return DATASETS[name]


def dataset_path(name: str) -> Path:
    """Path of the file behind dataset ``name`` inside the installed package."""
    d = _get(name)
    return Path(str(resources.files(__package__).joinpath("data", d.filename)))


def load(name: str) -> pd.DataFrame:
    """The raw table of dataset ``name`` as a DataFrame (its citation in ``df.attrs``)."""
    d = _get(name)
    df = pd.read_csv(dataset_path(name))
    df.attrs["dataset"] = d.name
    df.attrs["citation"] = d.citation
    return df


def load_capture_table(name: str, stratum: str | None = None) -> Any:
    """A shipped capture-recapture dataset as a :class:`~casualty_models.CaptureTable`.

    Parameters
    ----------
    name : str
        ``"kosovo"``, ``"madigan_york"``, ``"spina_bifida"``,
        ``"spina_bifida_ethnicity"`` or ``"gaza"``.
    stratum : str, optional
        Stratum column (for example ``"ethnicity"``, ``"gov"`` or
        ``"month_death"``).  By default the table is unstratified; an
        aggregated dataset with a natural stratum (``spina_bifida_ethnicity``)
        is then summed over it.
    """
    from ..containers import CaptureTable

    d = _get(name)
    if d.kind == "capture-counts":
        # A stratified aggregated table has each pattern once per stratum; without a
        # stratum it is summed over the natural stratum (documented above).
        table = CaptureTable.from_counts(load(name), lists=d.lists, count="count",
                                         stratum=stratum or d.stratum)
        if stratum is None and d.stratum is not None:
            table = table.collapse()
    elif d.kind == "capture-records":
        table = CaptureTable.from_records(load(name), lists=d.lists, stratum=stratum)
    else:
        raise DataValidationError(
            f"dataset {name!r} is {d.kind}, not a capture-recapture table: capture tables are "
            f"{sorted(k for k, v in DATASETS.items() if v.kind.startswith('capture'))}."
        )
    object.__setattr__(table, "source", f"dataset:{name}")
    return table


def load_death_table(name: str = "rosstat_deaths") -> Any:
    """A shipped death-registration table as a :class:`~casualty_models.deaths.DeathTable`.

    ``rosstat_deaths``: 88 region labels (85 federal subjects, the two composite
    regions that contain autonomous okrugs, and the national row), 1990-2023,
    18 age groups plus the nested ``15-17`` sub-group of 2023 (kept apart).  Region-years
    whose age groups disagree with their total row are flagged (Krasnoyarsk 2016,
    Arkhangelsk oblast 2016 female) and left out of baselines.
    """
    from ..deaths import DeathTable

    d = _get(name)
    if d.kind != "registry":
        raise DataValidationError(
            f"dataset {name!r} is {d.kind}, not a death table: death tables are "
            f"{sorted(k for k, v in DATASETS.items() if v.kind == 'registry')}."
        )
    # Krasnoyarsk's 2016 age groups disagree with its total row: flagged, not fatal.
    return DeathTable.from_frame(load(name), source=f"dataset:{name}", totals="flag")

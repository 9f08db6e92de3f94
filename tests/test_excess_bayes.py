"""Bayesian excess and registry multiplier: contract, agreement with the classic method."""

from __future__ import annotations

import json

import numpy as np
import pytest

from casualty_models.cli import main
from casualty_models.containers.deaths import ExcessCases, ListMatches
from casualty_models.datasets import load_death_table
from casualty_models.errors import DataValidationError
from casualty_models.models.excess import classic_excess
from casualty_models.models.excess_bayes import ExcessBayes, excess_summary
from casualty_models.models.registry import RegistryMultiplier, registry_summary
from casualty_models.results import load_results


@pytest.fixture(scope="module")
def rosstat():
    return load_death_table()


@pytest.fixture(scope="module")
def cli_out(tmp_path_factory):
    """One Bayesian national fit, run through the command line (one compile for the module)."""
    out = tmp_path_factory.mktemp("bayes")
    argv = ["excess", "--dataset", "rosstat_deaths", "--method", "bayes", "--ages", "15-49",
            "--baseline", "2015", "2019", "--years", "2022", "2023", "--seed", "1",
            "--draws", "300", "--chains", "2", "--tune", "300", "--json", "--out", str(out)]
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def national(cli_out):
    return load_results(cli_out / "result.nc")


def test_national_fit_contract_and_identity(national, rosstat):
    post = national.posterior
    assert post["excess"].dims == ("chain", "draw", "region", "age", "year")
    assert post["excess"].sizes == {"chain": 2, "draw": 300, "region": 1, "age": 7, "year": 2}
    assert post["excess"].dtype == np.int64
    # excess = observed male deaths - predicted baseline, draw by draw, exactly
    male = national.tree["observed_data"]["male"]
    assert ((post["excess"] + post["expected"]) == male).all()
    assert (post["excess_total"] == post["excess"].sum(("region", "age"))).all()
    assert (post["N_total"] == post["excess_total"]).all()
    assert national.attrs["random_seed"] == 1 and national.sampler == "nuts"
    assert national.diagnostics()["divergences"] <= 6


def test_bayes_agrees_with_classic_on_the_national_table(national, rosstat):
    """Medians within 2 classic sds; Bayesian sds within a factor 2 of the classic ones."""
    classic = classic_excess(rosstat)
    s = excess_summary(national)
    for y in (2022, 2023):
        est, sd = classic.total(y)
        b = s["years"][str(y)]["excess"]
        assert abs(b["median"] - est) < 2 * sd, (y, b, est, sd)
        assert 0.5 * sd < b["sd"] < 2 * sd
        assert b["q025"] < est < b["q975"]
    assert len(s["by_age"]) == 14 and set(s["by_age"][0]["excess"]) == {
        "median", "mean", "sd", "q025", "q975"}


def test_save_load_round_trip(national, tmp_path):
    national.save(tmp_path / "r.nc")
    back = load_results(tmp_path / "r.nc")
    assert excess_summary(back)["years"] == excess_summary(national)["years"]
    assert back.attrs["data_fingerprint"] == national.attrs["data_fingerprint"]


def test_regions_sum_to_the_total_and_zeros_are_fine(rosstat):
    regions = ["Москва", "Санкт-Петербург", "Чукотский АО"]  # Chukotka has zero counts
    res = ExcessBayes().fit(rosstat, regions=regions, draws=150, chains=2, tune=300,
                            random_seed=2)
    post = res.posterior
    assert list(post["excess"].coords["region"].values) == regions
    assert (post["excess_total"] == post["excess"].sum(("region", "age"))).all()
    assert np.isfinite(post["excess"].values).all()
    s = excess_summary(res)
    assert set(s["by_region"]) == set(regions)
    # the regional model's sum of observed male deaths is the sum of the regions' rows
    male = res.tree["observed_data"]["male"].sum(("region", "age")).values
    want = sum(rosstat.counts([r], [2022, 2023], list(res.posterior["excess"].coords["age"]
                                                     .values))[0, :, :, 0].sum(axis=1)
               for r in regions)
    assert (male == want).all()


def test_bad_windows_raise_before_sampling(rosstat):
    with pytest.raises(DataValidationError, match="one-year baseline window"):
        ExcessBayes().fit(rosstat, baseline=(2019, 2019))
    with pytest.raises(DataValidationError, match="unknown region"):
        ExcessBayes().fit(rosstat, regions=["Нарния"])


def test_registry_multiplier_from_excess_cases_matches_closed_form():
    """E[D] = E[X] E[1/q] with q ~ Beta(m + 1/2, u + 1/2): E[1/q] = (a + b - 1) / (a - 1)."""
    cases = ExcessCases.from_frame(__import__("pandas").DataFrame(
        {"age": ["18-34", "35-49"], "excess": [12_000.0, 9_000.0], "sd": [1_500.0, 1_200.0]}))
    matches = ListMatches(ages=("18-34", "35-49"), matched=np.array([300, 200]),
                          unmatched=np.array([200, 200]))
    res = RegistryMultiplier().fit(cases, matches, draws=20_000, chains=2, random_seed=5)
    d = res.posterior["D"].sum("year")
    for i, (x, m, u) in enumerate([(12_000, 300, 200), (9_000, 200, 200)]):
        a, b = m + 0.5, u + 0.5
        mean = x * (a + b - 1) / (a - 1)
        draws = d.isel(age=i).values.ravel()
        assert abs(draws.mean() - mean) < 4 * draws.std() / np.sqrt(draws.size)
    s = registry_summary(res)
    assert s["D"]["q025"] < 12_000 / 0.6 + 9_000 / 0.5 < s["D"]["q975"]
    assert res.sampler == "exact" and res.diagnostics() is None


def test_registry_inputs_are_checked(tmp_path):
    with pytest.raises(DataValidationError, match="matched = -1"):
        ListMatches(ages=("18-34",), matched=np.array([-1]), unmatched=np.array([3]))
    with pytest.raises(DataValidationError, match="no named deaths at all"):
        ListMatches(ages=("18-34",), matched=np.array([0]), unmatched=np.array([0]))
    f = tmp_path / "m.csv"
    f.write_text("age,found\n18-34,3\n")
    with pytest.raises(DataValidationError, match="needs columns"):
        ListMatches.from_frame(f)
    cases = ExcessCases(ages=("18-34",), years=("all",), estimate=np.array([[10.0]]),
                        sd=np.array([[1.0]]))
    matches = ListMatches(ages=("50-59",), matched=np.array([1]), unmatched=np.array([1]))
    with pytest.raises(DataValidationError, match="not among the registry's"):
        RegistryMultiplier().fit(cases, matches)


def test_registry_cli_from_csv(tmp_path, capsys):
    (tmp_path / "x.csv").write_text("age,excess,sd\n18-34,12000,1500\n35-49,9000,1200\n")
    (tmp_path / "m.csv").write_text("age,matched,unmatched\n18-34,300,200\n35-49,200,200\n")
    argv = ["registry", "--excess", str(tmp_path / "x.csv"), "--matches",
            str(tmp_path / "m.csv"), "--seed", "3"]
    assert main([*argv, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert set(d["by_age"]) == {"18-34", "35-49"} and d["D"]["median"] > 21_000
    assert main(argv) == 0
    assert "total" in capsys.readouterr().out
    (tmp_path / "bad.csv").write_text("age,matched,unmatched\n18-34,3.5,2\n")
    assert main(["registry", "--excess", str(tmp_path / "x.csv"), "--matches",
                 str(tmp_path / "bad.csv")]) == 2
    assert "matched = 3.5" in capsys.readouterr().err


def test_cli_bayes_json_contract(cli_out, national, capsys):
    d = json.loads((cli_out / "summary.json").read_text(encoding="utf-8"))
    b = d["years"]["2023"]["excess"]
    assert set(b) == {"median", "mean", "sd", "q025", "q975"}
    assert b["q025"] < 40_542 < b["q975"]
    assert b == excess_summary(national)["years"]["2023"]["excess"]
    assert len(d["by_age"]) == 14 and d["by_age"][0]["age"] == "15-19"
    assert d["total"]["excess"]["median"] > b["median"] and d["seed"] == 1
    assert main(["excess", "--dataset", "rosstat_deaths", "--method", "bayes", "--trend",
                 "level"]) == 2
    assert "classic-method variant" in capsys.readouterr().err

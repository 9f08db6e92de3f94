"""Sensitivity grids: one dim per setting, runs reproducible from their seeds, failures kept.

Fast tier: exact, grid and maximum-likelihood models, executed in this process or on a
thread pool (the process and dask engines are in test_parallel_engines.py, slow tier).
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import pytest

from casualty_models import (
    CaptureTable,
    ConfirmedCounts,
    DataValidationError,
    DecomposableBMA,
    LogLinear,
    TwoList,
    UnderReporting,
    all_models,
    model_range,
)
from casualty_models import sensitivity as sensitivity_fn
from casualty_models.cli import main as cli_main
from casualty_models.datasets import load, load_capture_table
from casualty_models.models.bma import grid_summary
from casualty_models.parallel import canonical_settings, run_seed
from casualty_models.sensitivity import SensitivityResult, load_sensitivity, sensitivity

FAST = {"draws": 500, "chains": 2}


@pytest.fixture(scope="module")
def russia() -> ConfirmedCounts:
    df = load("russia_named_list")
    df["unitType"] = df["unitType"].fillna("unknown")
    return ConfirmedCounts.from_records(df, stratum="unitType")


@pytest.fixture(scope="module")
def russia_grid(russia) -> SensitivityResult:
    grid = {"coverage": [(0.35, 0.55), (0.45, 0.65), (0.55, 0.75)],
            "pooling": ["shared", "partial", "independent"]}
    return sensitivity(UnderReporting(coverage=(0.45, 0.65), pooling="partial"), russia, grid,
                       executor="serial", random_seed=3, fit_kwargs=FAST)


def test_grid_has_one_dim_per_setting_and_every_run_is_reproducible(russia, russia_grid):
    ds = russia_grid.dataset
    assert dict(ds.sizes) == {"coverage": 3, "pooling": 3}
    assert list(ds["coverage"].values) == ["[0.35, 0.55]", "[0.45, 0.65]", "[0.55, 0.75]"]
    assert (ds["status"] == "ok").all()
    # each run is the model with the run's options, fitted with the recorded seed
    for cov, cov_label in (((0.35, 0.55), "[0.35, 0.55]"), ((0.55, 0.75), "[0.55, 0.75]")):
        for pooling in ("shared", "independent"):
            run = ds.sel(coverage=cov_label, pooling=pooling)
            seed = int(run["seed"])
            assert seed == run_seed(3, {"coverage": cov, "pooling": pooling})
            ref = UnderReporting(coverage=cov, pooling=pooling).fit(russia, random_seed=seed, **FAST)
            draws = ref.draws()
            assert float(run["median"]) == np.median(draws)
            assert float(run["q975"]) == np.quantile(draws, 0.975)
    # lower coverage, more deaths; independent coverage errors average out (narrowest total)
    med = ds["median"].sel(pooling="partial").values
    assert med[0] > med[1] > med[2]
    width = (ds["q975"] - ds["q025"]).sel(coverage="[0.45, 0.65]")
    assert width.sel(pooling="shared") > 1.5 * width.sel(pooling="independent")
    assert width.sel(pooling="partial") > 1.5 * width.sel(pooling="independent")


def test_seeds_depend_on_settings_not_on_position_or_executor(russia):
    model = UnderReporting()
    a = sensitivity(model, russia, {"mass": [0.8, 0.9, 0.95]}, executor="serial",
                    random_seed=5, fit_kwargs=FAST)
    # another order, another grid around it, a thread pool completing in any order
    with ThreadPoolExecutor(3) as pool:
        b = sensitivity(model, russia, {"mass": [0.95, 0.5, 0.9, 0.8]}, executor=pool,
                        random_seed=5, fit_kwargs=FAST)
    for m in (0.8, 0.9, 0.95):
        for v in ("median", "q025", "q975", "seed"):
            assert a.dataset[v].sel(mass=m).item() == b.dataset[v].sel(mass=m).item()
    assert run_seed(5, {"a": 1, "b": (1, 2)}) == run_seed(5, {"b": [1, 2], "a": 1})
    assert run_seed(5, {"a": 1}) != run_seed(6, {"a": 1}) != run_seed(5, {"a": 2})
    assert canonical_settings({"b": (0.5, 1), "a": "x"}) == '{"a":"x","b":[0.5,1]}'


def test_seed_as_a_setting_reproduces_plain_fits_and_explicit_run_lists():
    ct = CaptureTable.from_mapping({"A": 400, "B": 300, "AB": 100})
    res = sensitivity(TwoList(), ct, [{"seed": 1, "draws": 300}, {"seed": 2, "draws": 600}],
                      executor="serial", keep_draws=True)
    ds = res.dataset
    assert ds.sizes == {"run": 2, "sample": 2400}
    assert list(ds["seed"].values) == [1, 2]
    ref = TwoList().fit(ct, draws=600, random_seed=2)
    assert float(ds["median"].isel(run=1)) == float(np.median(ref.draws()))
    # draws on request: every run's draws of the total (shorter runs padded with NaN)
    np.testing.assert_array_equal(ds["posterior_draws"].isel(run=1), ref.draws())
    assert np.isnan(ds["posterior_draws"].isel(run=0)[1200:]).all()
    frame = res.to_frame()
    assert list(frame.columns[:2]) == ["seed", "draws"]


def test_failed_run_is_reported_with_its_settings_and_keeps_the_others():
    kosovo = load_capture_table("kosovo")
    res = sensitivity(DecomposableBMA(), kosovo, {"delta": [-1.0, 1 / 16, 1.0]},
                      executor="serial", fit_kwargs={"draws": 200})
    failed = res.failed
    assert list(failed["delta"]) == [-1.0]
    assert failed["message"].iloc[0].startswith("PriorError: delta=-1.0 is not allowed")
    ok = res.to_frame().set_index("delta")
    assert (ok.loc[[1 / 16, 1.0], "status"] == "ok").all()
    # the BMA delta loop of examples/bma_model_averaging.py: a larger delta favours the
    # saturated model and the estimate collapses towards the observed 4,400
    assert ok.loc[1.0, "median"] < ok.loc[1 / 16, "median"]
    assert res.dataset.attrs["n_failed"] == 1
    # the saturated-model warning travels back with its run
    assert "IdentifiabilityWarning" in ok.loc[1.0, "warnings"]


def test_all_models_and_model_range_under_the_same_api():
    """Every hierarchical model of the 3-list Gaza table as a grid of `interactions`:
    the same N and AIC as all_models, and the same delta-AIC range as model_range."""
    gaza = load_capture_table("gaza")
    table = all_models(gaza, quiet=True)
    grid = {"interactions": [list(m) for m in table["interactions"]]}
    res = sensitivity(LogLinear(), gaza, grid, method="fit_mle", executor="serial")
    frame = res.to_frame()
    assert len(frame) == len(table) == 8
    np.testing.assert_allclose(frame["median"], table["N"], rtol=1e-6)
    np.testing.assert_allclose(frame["AIC"], table["AIC"], rtol=1e-9)
    rng = model_range(table)
    ok = frame[frame["status"] == "ok"]
    near = ok[ok["AIC"] - ok["AIC"].min() <= 2]
    assert (near["median"].min(), near["median"].max()) == pytest.approx(
        (rng["N_min"], rng["N_max"]), rel=1e-6)


def test_bad_input_is_one_clear_error(russia):
    model = UnderReporting()
    with pytest.raises(DataValidationError, match=r"unknown setting\(s\) \['classes'\]"):
        sensitivity(model, russia, {"classes": [1, 2]})
    with pytest.raises(DataValidationError, match="the grid is empty"):
        sensitivity(model, russia, {})
    with pytest.raises(DataValidationError, match=r"grid\['mass'\] = \[\]"):
        sensitivity(model, russia, {"mass": []})
    with pytest.raises(DataValidationError, match="executor='threads' is not allowed"):
        sensitivity(model, russia, {"mass": [0.9]}, executor="threads")
    with pytest.raises(DataValidationError, match="is not a model instance"):
        sensitivity(UnderReporting, russia, {"mass": [0.9]})
    with pytest.raises(DataValidationError, match="fit_kwargs \\['random_seed'\\]"):
        sensitivity(model, russia, {"mass": [0.9]}, fit_kwargs={"random_seed": 1})
    with pytest.raises(DataValidationError, match="repeat"):
        sensitivity(model, russia, {"mass": [0.9, 0.9]})


def test_frame_dict_save_load_and_plots(russia_grid, tmp_path):
    frame = russia_grid.to_frame()
    assert len(frame) == 9 and {"coverage", "pooling", "median", "q975", "seed"} <= set(frame)
    d = russia_grid.to_dict()
    json.dumps(d)
    assert d["runs"][0]["settings"] == {"coverage": "[0.35, 0.55]", "pooling": "shared"}
    assert set(d["runs"][0]["N"]) >= {"median", "q025", "q975"}
    assert json.loads(d["provenance"]["default"]) == {"coverage": [0.45, 0.65],
                                                      "pooling": "partial"}
    path = tmp_path / "s.nc"
    russia_grid.save(path)
    back = load_sensitivity(path)
    assert back.dataset.identical(russia_grid.dataset)
    assert back.settings == ["coverage", "pooling"]
    for kind in ("multiples", "tornado"):
        fig = back.plot(kind)
        fig.savefig(tmp_path / f"{kind}.png")
        assert (tmp_path / f"{kind}.png").stat().st_size > 10_000
    with pytest.raises(DataValidationError, match="kind='pie'"):
        back.plot("pie")


def test_module_is_callable_as_the_function(russia):
    res = sensitivity_fn(UnderReporting(), russia, {"mass": [0.9]}, executor=1,
                         fit_kwargs={"draws": 100, "chains": 1})
    assert isinstance(res, SensitivityResult) and len(res) == 1


def test_stratum_setting_fits_one_stratum():
    sb = load_capture_table("spina_bifida_ethnicity", stratum="ethnicity")
    grid = {"stratum": ["caucasian", "afro-american"], "delta": [0.125, 0.5]}
    res = sensitivity(DecomposableBMA(), sb, grid, executor="serial",
                      fit_kwargs={"draws": 300})
    run = res.dataset.sel(stratum="afro-american", delta=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the run recorded its warnings; not tested here
        ref = DecomposableBMA(delta=0.5).fit(sb.select("afro-american"), draws=300,
                                             random_seed=int(run["seed"]))
    # a grid model's run is summarised from its exact grid (as the model's own summary)
    assert str(run["summary_source"].item()) == "grid"
    assert float(run["median"]) == grid_summary(ref).loc["all", "median"]
    with pytest.raises(DataValidationError, match="unknown stratum 'nowhere'"):
        sb.select("nowhere")
    bad = sensitivity(DecomposableBMA(), sb, {"stratum": ["nowhere"]}, executor="serial")
    assert bad.dataset["status"].item() == "error"


# ------------------------------------------------------------------ command line
def _config(tmp_path, text: str):
    path = tmp_path / "study.toml"
    path.write_text(text)
    return str(path)


def test_cli_json_runs_and_files(tmp_path, capsys):
    cfg = _config(tmp_path, 'model = "bma"\ndataset = "kosovo"\nseed = 2\n[fit]\ndraws = 300\n'
                  "[grid]\ndelta = [0.0625, 0.25]\n")
    code = cli_main(["sensitivity", "--config", cfg, "--workers", "1", "--json",
                     "--out", str(tmp_path / "out")])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["settings"] for r in out["runs"]] == [{"delta": 0.0625}, {"delta": 0.25}]
    assert {r["status"] for r in out["runs"]} == {"ok"}
    assert out["runs"][0]["N"]["q025"] < out["runs"][0]["N"]["median"] < out["runs"][0]["N"][
        "q975"]
    assert out["wall_time"] > 0
    ref = DecomposableBMA(delta=0.0625).fit(load_capture_table("kosovo"), draws=300,
                                            random_seed=out["runs"][0]["seed"])
    assert out["runs"][0]["N"]["median"] == grid_summary(ref).loc["all", "median"]
    assert out["runs"][0]["summary_source"] == "grid"
    for f in ("sensitivity.csv", "sensitivity.nc", "sensitivity.png"):
        assert (tmp_path / "out" / f).exists()


def test_cli_underreport_table_output(tmp_path, capsys):
    cfg = _config(tmp_path, 'model = "underreport"\nconfirmed = 45287\n[fit]\ndraws = 200\n'
                  "chains = 1\n[grid]\ncoverage = [[0.45, 0.65], [0.3, 0.5]]\n")
    assert cli_main(["sensitivity", "--config", cfg, "--workers", "1"]) == 0
    text = capsys.readouterr().out
    assert "[0.3, 0.5]" in text and "UnderReporting" in text


@pytest.mark.parametrize(("toml", "extra", "message"), [
    ('model = "bma"\ndataset = "kosovo"\n[grid]\nclasses = [5, 10]\n', [],
     r"unknown setting\(s\) \['classes'\]"),
    ('model = "bma"\ndataset = "kosovo"\n[grid]\n', [], "the grid is empty"),
    ('model = "magic"\n[grid]\nx = [1]\n', [], "model = 'magic'"),
    ('model = "bma"\ndataset = "kosovo"\n[grid]\ndelta = [0.5]\n',
     ["--scheduler", "tcp://127.0.0.1:9", "--timeout", "0.5"], "cannot reach the dask scheduler"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, toml, extra, message):
    cfg = _config(tmp_path, toml)
    assert cli_main(["sensitivity", "--config", cfg, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert __import__("re").search(message, err), err


def test_cli_help_is_quick_and_lists_the_subcommand():
    proc = subprocess.run([sys.executable, "-m", "casualty_models.cli", "sensitivity", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--scheduler" in proc.stdout


def test_default_run_is_marked_even_when_absent(russia):
    res = sensitivity(UnderReporting(mass=0.9), russia, {"mass": [0.8, 0.95]},
                      executor="serial", fit_kwargs={"draws": 100, "chains": 1})
    with pytest.raises(DataValidationError, match="default run .* is not in the grid"):
        res.plot("tornado")
    res2 = sensitivity(replace(UnderReporting(), mass=0.8), russia, {"mass": [0.8, 0.95]},
                       executor="serial", fit_kwargs={"draws": 100, "chains": 1})
    assert res2.default == {"mass": 0.8}


@dataclass(frozen=True)
class _Sources:
    """Minimal data with sources that can be dropped (as the fused model's sources)."""

    counts: tuple[tuple[str, int], ...]

    def drop(self, source: str) -> _Sources:
        if source not in dict(self.counts):
            raise DataValidationError(f"unknown source {source!r}")
        return _Sources(tuple((k, v) for k, v in self.counts if k != source))

    def fingerprint(self) -> str:
        return repr(self.counts)


@dataclass(frozen=True)
class _SumModel:
    """Total = the sum of the sources' counts (a stand-in for a multi-source model)."""

    coverage: tuple[float, float] = (0.45, 0.65)

    def fit(self, data: _Sources, *, draws: int = 100, random_seed: int | None = None):
        return UnderReporting(coverage=self.coverage).fit(
            sum(v for _, v in data.counts), draws=draws, chains=1, random_seed=random_seed)


def test_drop_setting_is_a_leave_one_source_out_table():
    data = _Sources((("named_list", 20_000), ("registry", 5_000), ("survey", 1_000)))
    res = sensitivity(_SumModel(), data, {"drop": ["none", "named_list", "registry", "survey"]},
                      executor="serial")
    obs = res.dataset["observed"].to_pandas()
    assert list(obs) == [26_000, 6_000, 21_000, 25_000]
    assert json.loads(res.dataset.attrs["default"]) == {}
    with pytest.raises(DataValidationError, match="setting 'drop' needs data with a drop"):
        sensitivity(_SumModel(), 3, {"drop": ["x"]})


def test_bma_strata_on_an_executor_give_the_same_result():
    """DecomposableBMA.fit(executor=...) spreads the strata's grids over the executor;
    the grids are exact, so the result is identical, and the strata's warnings still
    reach the caller."""
    sb = load_capture_table("spina_bifida_ethnicity", stratum="ethnicity")
    model = DecomposableBMA()
    with pytest.warns(Warning) as here:
        ref = model.fit(sb, draws=300, random_seed=2)
    with ThreadPoolExecutor(2) as pool, pytest.warns(Warning) as there:
        res = model.fit(sb, draws=300, random_seed=2, executor=pool)
    for group in ("posterior", "constant_data"):
        assert res.tree[group].to_dataset().equals(ref.tree[group].to_dataset())
    assert sorted(str(w.message) for w in there) == sorted(str(w.message) for w in here)


def test_cli_mle_on_a_dataset_and_two_list_on_an_input_file(tmp_path, capsys):
    cfg = _config(tmp_path, 'model = "mle"\ndataset = "gaza"\n[grid]\n'
                  'interactions = [[], ["hospital:survey"]]\n')
    assert cli_main(["sensitivity", "--config", cfg, "--workers", "1", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    ref = LogLinear(["hospital:survey"]).fit_mle(load_capture_table("gaza"))
    assert runs[1]["settings"] == {"interactions": "[hospital:survey]"}
    assert runs[1]["N"]["median"] == pytest.approx(ref.N_total)
    csv = tmp_path / "two.csv"
    csv.write_text("A,B,count\n1,0,400\n0,1,300\n1,1,100\n")
    cfg = _config(tmp_path, f'model = "two-list"\ninput = "{csv}"\n[fit]\ndraws = 200\n'
                  "[grid]\nseed = [1, 2]\n")
    assert cli_main(["sensitivity", "--config", cfg, "--workers", "1", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    ct = CaptureTable.from_mapping({"A": 400, "B": 300, "AB": 100})
    assert runs[1]["N"]["median"] == float(np.median(TwoList().fit(ct, draws=200,
                                                                   random_seed=2).draws()))


def test_warnings_of_runs_on_threads_stay_with_their_runs():
    """catch_warnings is process-wide; runs in threads record theirs through a
    thread-local sink, and the caller's own warnings still reach the caller."""
    counts = ConfirmedCounts({"a": 100, "b": 0})
    grid = {"mass": [0.8, 0.9, 0.95]}
    with warnings.catch_warnings(record=True) as mine:
        warnings.simplefilter("always")  # the tier's filters make library warnings errors
        with ThreadPoolExecutor(3) as pool:
            res = sensitivity(UnderReporting(), counts, grid, executor=pool,
                              fit_kwargs={"draws": 100, "chains": 1})
        warnings.warn("the caller's own", UserWarning, stacklevel=1)
    frame = res.to_frame()
    assert (frame["status"] == "ok").all()
    assert frame["warnings"].str.contains("have no confirmed deaths").all()
    assert [str(w.message) for w in mine] == ["the caller's own"]


def test_grid_models_are_summarised_from_the_exact_grid():
    """Kosovo, delta = 1/16: the run's median is the exact grid median (dga 2.0: 12,594; the
    grid's smallest N with cdf >= 1/2 is within one death of it), not the median of its
    draws (12,632 in one run); the quantiles and mean equal grid_summary's to the
    unit, the sd is the grid's; a model without a grid is summarised from its draws."""
    kosovo = load_capture_table("kosovo")
    res = sensitivity(DecomposableBMA(), kosovo, {"delta": [1 / 16]}, executor="serial",
                      random_seed=3, fit_kwargs={"draws": 1000})
    run = res.dataset.sel(delta=1 / 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the run recorded the same warnings
        ref = DecomposableBMA(delta=1 / 16).fit(kosovo, draws=1000,
                                                random_seed=int(run["seed"]))
    exact = grid_summary(ref).loc["all"]
    assert str(run["summary_source"].item()) == "grid"
    assert abs(float(run["median"]) - 12_594) <= 1
    for k in ("median", "mean", "q025", "q05", "q95", "q975"):
        assert float(run[k]) == exact[k], k
    cd = ref.tree["constant_data"]
    p = cd["posterior_grid"].sel(stratum="all").values
    n = cd["observed"].sel(stratum="all").item() + np.arange(p.size)
    assert float(run["sd"]) == pytest.approx(np.sqrt(p @ (n - p @ n) ** 2), rel=1e-9)
    # the unobserved total: the same posterior shifted by the observed count
    un = sensitivity(DecomposableBMA(), kosovo, {"delta": [1 / 16]}, executor="serial",
                     var="N_unobserved_total", fit_kwargs={"draws": 10})
    assert float(un.dataset["median"].item()) == exact["median"] - int(kosovo.observed.sum())
    draws = sensitivity(UnderReporting(), ConfirmedCounts(1000), {"mass": [0.9]},
                        executor="serial", fit_kwargs={"draws": 100, "chains": 1})
    assert draws.to_dict()["runs"][0]["summary_source"] == "draws"

"""Fusion: sources validated at the boundary, the result contract, the command line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from casualty_models.cli import main
from casualty_models.errors import DataValidationError, PriorError
from casualty_models.models.fusion import Fusion, cumulative_deaths, fusion_summary
from casualty_models.models.fusion_data import FusionSources, Measurement, russia_sources
from casualty_models.models.fusion_sim import (
    CALIBRATION_MODEL,
    draw_truth,
    monthly_template,
    simulate_sources,
)


def _chart(n=10, start="2022-03-03"):
    return pd.Series(np.arange(100, 100 + n), index=pd.date_range(start, periods=n, freq="7D"))


# ------------------------------------------------------------------ boundary
def test_window_weights_and_ages_are_exact():
    src = FusionSources.build(_chart(4), snapshot_date="2022-04-01", end="2022-04-10")
    # weeks start 03-03, 03-10, 03-17, 03-24, then 03-31, 04-07 to cover 'end'
    assert src.period_labels == ["2022-03-03", "2022-03-10", "2022-03-17", "2022-03-24",
                                 "2022-03-31", "2022-04-07"]
    w = src.window_weights("2022-03-05", "2022-03-11")  # 5 days of week 1, 2 of week 2
    np.testing.assert_allclose(w, [5 / 7, 2 / 7, 0, 0, 0, 0])
    frac, age = src.ages_at("2022-03-14")  # 4 days into week 2
    np.testing.assert_allclose(frac, [1, 4 / 7, 0, 0, 0, 0])
    # week 1's middle is 03-06 12:00, 7.5 days before 03-14; week 2's part mid 03-12
    np.testing.assert_allclose(age[:2], [7.5 / 7, 2 / 7])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"as_of": "2022-01-01"}, "as_of 2022-01-01 is before the data"),
     ({"as_of": "2022-04-01", "snapshot_date": "2022-06-01"}, "before the chart's snapshot"),
     ({"chart": pd.Series([5, -3], index=pd.to_datetime(["2022-03-03", "2022-03-10"]))},
      "no negative counts"),
     ({"chart": pd.Series([5, 3], index=pd.to_datetime(["2022-03-03", "2022-03-17"]))},
      "not consecutive weeks"),
     ({"snapshot_date": "2022-03-20"}, "after its snapshot date"),
     ({"measurements": [Measurement("x", "2022-03-01", "2022-05-01", 10, 1, ages=(15, 49))]},
      "need the ages of named dead"),
     ({"period": "day"}, "period='day' is unknown")],
)
def test_bad_sources_are_one_clear_error(kwargs, match):
    args = {"chart": _chart(), "snapshot_date": "2022-06-01"}
    args.update(kwargs)
    with pytest.raises(DataValidationError, match=match):
        FusionSources.build(args.pop("chart"), **args)


@pytest.mark.parametrize(
    ("args", "match"),
    [(("x", "2022-03-01", "2022-02-01", 10, 1), "end 2022-02-01 is before start"),
     (("x", "2022-03-01", "2022-04-01", -5, 1), "expected a count >= 0"),
     (("x", "2022-03-01", "2022-04-01", 5, 0), "expected a standard error > 0")],
)
def test_bad_measurement(args, match):
    with pytest.raises(DataValidationError, match=match):
        Measurement(*args)


def test_drop_unknown_source_and_priors():
    src = FusionSources.build(_chart(), snapshot_date="2022-06-01")
    with pytest.raises(DataValidationError, match="unknown source 'excess'.*\\['chart'\\]"):
        src.drop("excess")
    with pytest.raises(PriorError, match="delay_median"):
        Fusion(delay_median=(5, 2))


def test_russia_bundle_uses_milestones_to_as_of_and_kobak_excess():
    src = russia_sources()
    assert src.milestones.index.max() <= pd.Timestamp("2023-11-17")
    assert list(src.milestones) == [16071, 24470, 26801, 27423]
    assert src.n_milestones_after_as_of == 11
    ex = {m.name: (round(m.value), round(m.sd)) for m in src.measurements}
    assert ex == {"excess 2022": (23594, 1568), "excess 2023": (40542, 1738)}
    k, n = src.age_counts["15-49"]
    assert (k, n) == (13065, 13737)  # named dead aged 15-49 among those of known age
    assert src.end == pd.Timestamp("2023-12-31") and src.n_periods == 97
    assert int(src.chart.sum()) == 26961


def test_config_file(tmp_path):
    pd.DataFrame({"week": ["2022-03-03", "2022-03-10"], "n": [5, -1]}).to_csv(
        tmp_path / "c.csv", index=False)
    cfg = tmp_path / "s.toml"
    cfg.write_text('snapshot_date = "2022-06-01"\n[chart]\nfile = "c.csv"\n'
                   'period_column = "week"\ncount_column = "n"\n')
    assert main(["fuse", "--config", str(cfg)]) == 2  # negative count: exit 2
    cfg.write_text('snapshot_date = "2022-06-01"\nbogus = 1\n')
    with pytest.raises(DataValidationError, match="unknown key"):
        from casualty_models.models.fusion_data import sources_from_config
        sources_from_config(cfg)


@pytest.mark.parametrize(
    ("argv", "match"),
    [(["--dataset", "russia", "--as-of", "2021-01-01"], "before the data"),
     (["--dataset", "russia", "--drop-source", "rumours"], "unknown source 'rumours'"),
     (["--dataset", "ukraine"], "unknown fusion dataset"),
     (["--dataset", "russia", "--as-of", "soon"], "not a date")],
)
def test_cli_errors_are_one_line(capsys, argv, match):
    assert main(["fuse", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err


# ----------------------------------------------------------- fit and contract
@pytest.fixture(scope="module")
def small_fit():  # used by slow tests only (compiles a graph, four fits)
    """One small simulated monthly fit (one graph, reused)."""
    model = CALIBRATION_MODEL
    tpl = monthly_template()
    rng = np.random.default_rng(5)
    truth = draw_truth(rng, model, tpl)
    kw = {k: v for k, v in truth.items() if k != "dispersion"}
    src, deaths = simulate_sources(rng, tpl, dispersion=truth["dispersion"], **kw)
    pm_model = model.build_model(src)
    res = model.fit(src, draws=150, tune=200, chains=2, random_seed=3, model=pm_model,
                    at=["2022-12-31"], report_by="2024-06-30", leave_one_out=True)
    return model, src, pm_model, res, deaths


@pytest.mark.slow
def test_contract_named_dims_and_roundtrip(small_fit, tmp_path):
    model, src, _, res, _ = small_fit
    post = res.posterior
    assert post["N"].dims == ("chain", "draw", "stratum", "period")
    assert post["deaths_by_year"].dims == ("chain", "draw", "year")
    assert list(post["deaths_by_year"].coords["year"].values) == ["2022", "2023"]
    assert post["cumulative"].dims == ("chain", "draw", "date")
    assert post["reported_by"].dims == ("chain", "draw", "year")
    assert post["list_total"].dims == ("chain", "draw", "list_date")
    # years partition the deaths (Feb 2022 - Dec 2023 lie in the two years)
    tot = post["N"].sum(("stratum", "period")).values
    np.testing.assert_allclose(post["deaths_by_year"].sum("year").values, tot, atol=2)
    # cumulative to 2022-12-31 is the 2022 total (up to rounding), and the helper agrees
    np.testing.assert_allclose(post["cumulative"].sel(date="2022-12-31").values,
                               post["deaths_by_year"].sel(year="2022").values, atol=1)
    np.testing.assert_allclose(cumulative_deaths(res, "2022-12-31"),
                               post["cumulative"].values.ravel(), atol=1)
    # names by a date cannot exceed the deaths of that year
    assert (post["reported_by"] <= post["deaths_by_year"]).all()
    assert ((post["coverage"] > 0) & (post["coverage"] < 1)).all()
    loo = res.tree["constant_data"]["leave_one_out"]
    assert list(loo.coords["dropped"].values) == ["none", "chart", "milestones", "excess"]
    assert float(abs(loo.sel(dropped="none", stat="shift")).max()) == 0
    s = fusion_summary(res)
    assert set(s["years"]["2022"]) == {"median", "mean", "q025", "q975"}
    assert set(s["coverage"]) == {"median", "q025", "q975"}
    assert s["reported_by"]["2023"]["q025"] <= s["reported_by"]["2023"]["q975"]
    json.dumps(s)
    res.save(tmp_path / "f.nc")
    back = type(res).load(tmp_path / "f.nc")
    np.testing.assert_array_equal(back.posterior["N"].values, post["N"].values)
    assert back.attrs["model"] == "Fusion" and back.random_seed == 3


@pytest.mark.slow
def test_same_seed_same_draws_and_layout_guard(small_fit):
    model, src, pm_model, res, _ = small_fit
    again = model.fit(src, draws=150, tune=200, chains=2, random_seed=3, model=pm_model,
                      at=["2022-12-31"], report_by="2024-06-30")
    np.testing.assert_array_equal(again.posterior["N"].values, res.posterior["N"].values)
    other = FusionSources.build(_chart(), snapshot_date="2022-06-01")
    with pytest.raises(DataValidationError, match="another layout"):
        model.fit(other, model=pm_model, draws=10, tune=10, chains=1)


@pytest.mark.slow
def test_dropping_the_excess_loses_the_deaths_level(small_fit):
    """Without excess totals, names cannot tell many deaths with low coverage from few with
    high coverage: the intervals of the yearly deaths must widen a lot."""
    *_, res, _ = small_fit
    loo = res.tree["constant_data"]["leave_one_out"]
    width = loo.sel(stat="q975") - loo.sel(stat="q025")
    q = "deaths 2022"
    assert float(width.sel(dropped="excess", quantity=q)) > 1.5 * float(
        width.sel(dropped="none", quantity=q))

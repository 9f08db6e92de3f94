"""The result contract: dims, provenance, summary, convergence warning, save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from casualty_models import ConvergenceWarning, Results, UnderReporting, load_results
from casualty_models.results import build_datatree, posterior_array


def test_contract_and_round_trip(tmp_path):
    res = UnderReporting(pooling="partial").fit({"a": 120, "b": 80}, draws=300, chains=2,
                                                 random_seed=3)
    post = res.posterior
    assert post["N"].dims == ("chain", "draw", "stratum")
    assert post["N_total"].dims == ("chain", "draw")
    assert list(post["N"].coords["stratum"].values) == ["a", "b"]
    assert not any("dim_" in d for v in post.data_vars for d in post[v].dims)
    for key in ("model", "model_config", "priors", "random_seed", "data_fingerprint",
                "sampler", "casualty_models_version", "library_versions", "observed"):
        assert key in res.attrs
    assert res.attrs["data_fingerprint"].startswith("sha256:")
    assert json.loads(res.attrs["model_config"])["pooling"] == "partial"
    path = tmp_path / "r.nc"
    res.save(path)
    back = load_results(path)
    assert back.attrs == res.attrs
    assert set(back.tree.children) == set(res.tree.children)
    for group in res.tree.children:
        xr.testing.assert_identical(back.tree[group].to_dataset(), res.tree[group].to_dataset())
    assert back.summary().equals(res.summary())


def test_summary_columns_and_json():
    res = UnderReporting().fit({"a": 120, "b": 80}, draws=300, chains=2, random_seed=3)
    s = res.summary()
    assert list(s.columns) == ["mean", "sd", "median", "q025", "q05", "q95", "q975",
                               "r_hat", "ess_bulk", "ess_tail"]
    assert {"N_total", "N_unobserved_total", "N[a]", "N[b]"} <= set(s.index)
    d = res.to_dict()
    for k in ("model", "observed", "seed", "N", "N_unobserved", "diagnostics", "strata"):
        assert k in d
    assert set(d["N"]) == {"mean", "median", "q025", "q05", "q95", "q975"}
    assert d["strata"]["a"]["observed"] == 120
    assert d["diagnostics"] is None
    json.dumps(d)


def _fake_mcmc(shift: float) -> Results:
    rng = np.random.default_rng(0)
    n = rng.poisson(1000, size=(4, 200, 1)) + (np.arange(4) * shift)[:, None, None].astype(int)
    coords = {"stratum": ["all"]}
    post = {"N": posterior_array(n, ["chain", "draw", "stratum"], coords),
            "N_unobserved": posterior_array(n - 500, ["chain", "draw", "stratum"], coords)}
    tree = build_datatree(post, model="Fake", model_config={}, priors={}, random_seed=1,
                          data_fingerprint="x", data_source="test", sampler="nuts", observed=500)
    return Results(tree)


def test_convergence_warning_when_chains_disagree():
    assert _fake_mcmc(0.0).check_convergence() == []
    with pytest.warns(ConvergenceWarning, match=r"r-hat of N_total is .* more draws"):
        problems = _fake_mcmc(200.0).check_convergence()
    assert problems and "r-hat" in problems[0]
    d = _fake_mcmc(200.0).diagnostics()
    assert d is not None and d["r_hat"] > 1.5 and d["divergences"] == 0


def test_diagnostics_follow_the_draws_they_describe():
    """Diagnostics are computed once per set of draws: replacing the draws recomputes them."""
    res = _fake_mcmc(200.0)
    first = res.diagnostics()
    assert first is not None and first["r_hat"] > 1.5
    first["r_hat"] = 0.0  # the caller's copy, not the result's
    assert res.diagnostics() == {**first, "r_hat": res.diagnostics()["r_hat"]}
    assert res.diagnostics()["r_hat"] > 1.5
    good = _fake_mcmc(0.0)
    for name in ("N", "N_total"):  # the chains now agree
        res.tree["posterior"][name] = good.tree["posterior"][name]
    assert res.diagnostics()["r_hat"] < 1.01


def test_plot_marks_observed_and_published_range():
    res = UnderReporting().fit(45287, draws=500, chains=2, random_seed=1)
    fig = res.plot(published_range=(45287 / 0.65, 45287 / 0.45))
    labels = [t.get_text() for t in fig.legends[0].get_texts()]  # legend outside the axes
    assert any(lbl.startswith("observed 45,287") for lbl in labels)
    assert any(lbl.startswith("comparison range: 69,672 to 100,638") for lbl in labels)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_both_result_kinds_satisfy_the_interface_and_load_back(tmp_path):
    from casualty_models import CaptureTable, LogLinear, LogLinearMLE, TwoList
    from casualty_models.results import FitResult

    table = CaptureTable.from_mapping({"AB": 100, "A": 400, "B": 300})
    mle = LogLinear().fit_mle(table)
    # two lists, independence: the MLE is Lincoln-Petersen, 500 * 400 / 100 = 2,000
    assert mle.N_total == pytest.approx(2000.0, rel=1e-9)
    bayes = TwoList().fit(table, draws=50, chains=2, random_seed=1)
    for res in (mle, bayes):
        assert isinstance(res, FitResult)
    mle.save(tmp_path / "mle.nc")
    back = load_results(tmp_path / "mle.nc")
    assert isinstance(back, LogLinearMLE)
    assert back.to_dict() == mle.to_dict()
    assert back.coefficients.equals(mle.coefficients)
    np.testing.assert_array_equal(back.fitted, mle.fitted)
    assert back.patterns == mle.patterns == ["01", "10", "11"]
    bayes.save(tmp_path / "bayes.nc")
    assert isinstance(load_results(tmp_path / "bayes.nc"), Results)


def test_rank_rhat_equals_arviz_entry_by_entry():
    """The vectorised rank-normalised r-hat is ArviZ's formula: equal on every entry, with
    ties, odd draw counts and one chain shifted (r-hat well above 1)."""
    import arviz_stats as azs
    import xarray as xr

    from casualty_models.results import rank_rhat

    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 301, 6)) + np.linspace(0, 0.3, 4)[:, None, None]
    x[:, :, 3] = np.round(x[:, :, 3])
    x[1, :, 4] += 2
    ref = azs.rhat(xr.DataArray(x, dims=("chain", "draw", "k"))).values
    np.testing.assert_allclose(rank_rhat(x), ref, rtol=1e-12)
    assert rank_rhat(x)[4] > 1.2
    assert np.isnan(rank_rhat(x[:1])).all()

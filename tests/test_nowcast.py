"""Nowcast: the HUS comparison with surveillance, the result contract, scores, errors."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from casualty_models import (
    BetaPrior,
    ConvergenceWarning,
    DataValidationError,
    Nowcast,
    PriorError,
    ReportingTriangle,
)
from casualty_models.datasets import load
from casualty_models.models.nowcast_eval import crps_samples, periods_json, score_nowcast

HUS = dict(event_date="hospitalisation_date", report_date="report_date")
DAYS = [str(d.date()) for d in pd.date_range("2011-05-29", "2011-06-07")]
EVENTUAL = [19, 26, 17, 16, 6, 11, 4, 6, 9, 4]
SURVEILLANCE_MEDIAN = [21, 29, 21, 22, 10, 20, 9, 12, 24, 14]


@pytest.fixture(scope="module")
def hus_triangle():
    return ReportingTriangle.from_line_list(load("hus_o104"), now="2011-06-10", max_delay=15,
                                            **HUS)


@pytest.fixture(scope="module")
def hus_fit(hus_triangle):
    # 1,000 draws: the 2.5% quantile of 4 June sits at P(no more reports) ~ 3%, so fewer
    # draws make its coverage a coin toss
    # a rare divergence (0-3 in 1,000 draws, depending on the process: see the report on
    # reproducibility) is checked as a rate in test_result_contract, not as a warning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return Nowcast().fit(hus_triangle, draws=500, tune=500, chains=2, random_seed=1)


def test_hus_covers_every_eventual_count_like_surveillance(hus_fit):
    """Reference: surveillance::nowcast(now = as.Date("2011-06-10"), when = 29 May - 7 Jun,
    data = husO104Hosp, D = 15, method = "bayes.trunc") gives medians 21, 29, 21, 22, 10,
    20, 9, 12, 24, 14 and 95% intervals covering all 10 eventual counts 19, 26, 17, 16, 6,
    11, 4, 6, 9, 4 (the widest [4, 39]).  Ours must cover at least as many, and its medians
    must be closer to the truth on average (surveillance: mean |median - truth| 6.4)."""
    sc = score_nowcast(hus_fit, dict(zip(DAYS, EVENTUAL, strict=True)))
    assert sc["covered"].sum() >= 10
    assert sc["abs_error"].mean() < np.abs(np.subtract(SURVEILLANCE_MEDIAN, EVENTUAL)).mean()
    assert sc["q975"].max() <= 60  # not covering by being absurdly wide
    assert (sc["crps"] >= 0).all()


def test_result_contract(hus_fit, hus_triangle):
    post = hus_fit.posterior
    n_t = hus_triangle.n_periods
    for v in ("N", "N_unobserved", "eventual", "N_cumulative"):
        assert post[v].dims == ("chain", "draw", "stratum", "period"), v
        assert post[v].dtype == np.int64
    assert list(post["N"].coords["stratum"].values) == ["all"]
    assert post.sizes["period"] == n_t
    rep = hus_triangle.reported[None, None]
    np.testing.assert_array_equal(post["N"].values, post["eventual"].values)  # no coverage
    np.testing.assert_array_equal(post["N_unobserved"].values, post["N"].values - rep)
    assert (post["eventual"].values >= rep).all()
    # a complete period has nothing left to report
    done = hus_triangle.complete
    np.testing.assert_array_equal(post["eventual"].values[..., done],
                                  np.broadcast_to(rep[..., done], post["eventual"].values[
                                      ..., done].shape))
    pmf = post["delay_pmf"]
    assert pmf.dims == ("chain", "draw", "period", "delay")
    np.testing.assert_allclose(pmf.sum("delay").values, 1.0, atol=1e-6)
    assert post["intensity"].dims == ("chain", "draw", "stratum", "period")
    assert hus_fit.tree.attrs["model"] == "Nowcast"
    assert hus_fit.tree.attrs["now"] == "2011-06-10"
    assert hus_fit.observed == hus_triangle.reported.sum()
    d = hus_fit.diagnostics()
    assert d is not None and d["r_hat"] < 1.05 and d["max_r_hat_parameters"] < 1.05
    assert d["divergences"] <= 5  # at most 0.5% of the draws
    assert hus_fit.tree.attrs["nuts_sampler"] == "nutpie"
    rows = periods_json(hus_fit)
    assert len(rows) == n_t and rows[-1]["period"] == "2011-06-10"
    assert set(rows[0]["eventual"]) == {"median", "q025", "q975"}
    json.dumps(rows)


def test_crps_closed_forms():
    """CRPS of a point mass at a is |a - y|; of {0, 1} equally likely at y = 0 it is
    E|X - y| - E|X - X'|/2 = 1/2 - 1/4 = 1/4."""
    assert crps_samples(np.full(10, 3.0), 5.0) == pytest.approx(2.0)
    assert crps_samples(np.array([0.0, 1.0]), 0.0) == pytest.approx(0.25)
    rng = np.random.default_rng(0)
    x = rng.normal(size=20_000)
    # standard normal at y = 0: 2 phi(0) - 1/sqrt(pi)
    assert crps_samples(x, 0.0) == pytest.approx(2 / np.sqrt(2 * np.pi) - 1 / np.sqrt(np.pi),
                                                 abs=0.01)


def test_model_errors(hus_triangle):
    with pytest.raises(DataValidationError, match="delay='weibull' is unknown"):
        Nowcast(delay="weibull")  # type: ignore[arg-type]
    with pytest.raises(PriorError, match="delay_drift=-1"):
        Nowcast(delay_drift=-1)
    with pytest.raises(PriorError, match=r"delay_median=\(5, 2\) is not an interval"):
        Nowcast(delay="lognormal", delay_median=(5, 2))
    with pytest.raises(PriorError, match="coverage=0.5 is not a prior"):
        Nowcast(coverage=0.5)  # type: ignore[arg-type]
    with pytest.raises(DataValidationError, match="needs a ReportingTriangle"):
        Nowcast().fit(pd.DataFrame({"a": [1]}))  # type: ignore[arg-type]
    assert Nowcast(coverage=(0.45, 0.65)).coverage_prior == BetaPrior.from_interval(0.45, 0.65)
    assert "coverage" in Nowcast(coverage=(0.45, 0.65)).priors()


def test_coverage_gives_true_deaths_on_a_small_triangle():
    """With coverage c ~ Beta (central 90% 45-65%), N - E | E, c ~ NegBin(E, c): the median
    of N / E is close to 1 / median(c) ~ 1 / 0.55, and N >= E >= reported everywhere."""
    rng = np.random.default_rng(3)
    rows = []
    for t in range(12):
        for _ in range(rng.poisson(15)):
            day = pd.Timestamp("2020-03-01") + pd.Timedelta(days=t)
            rows.append((day, day + pd.Timedelta(days=int(rng.integers(0, 4)))))
    df = pd.DataFrame(rows, columns=["event", "report"])
    tri = ReportingTriangle.from_line_list(df, event_date="event", report_date="report",
                                           now="2020-03-12", max_delay=3)
    model = Nowcast(coverage=(0.45, 0.65), coverage_drift=0.05, delay_drift=0.0)
    with warnings.catch_warnings():  # a rare divergence is checked as a rate below
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = model.fit(tri, draws=500, tune=500, chains=4, random_seed=2)
    # 12 periods barely inform the walk's sd: its funnel gives rare divergences (measured
    # 0-7 per 1,000 draws over 16 fits, seeds 1-8, diagonal and low-rank mass matrices);
    # more than 1% of the draws would be a sampler problem
    assert res.diagnostics()["divergences"] <= 20
    post = res.posterior
    n, e = post["N"].values, post["eventual"].values
    assert (n >= e).all() and (e >= tri.reported[None, None]).all()
    ratio = n.sum(axis=(2, 3)) / e.sum(axis=(2, 3))
    assert np.median(ratio) == pytest.approx(1 / 0.55, rel=0.05)
    assert post["coverage"].dims == ("chain", "draw", "period")
    np.testing.assert_array_equal(post["N_cumulative"].values, np.cumsum(n, axis=-1))
    pm_model = model.build_model(tri)
    # nothing reported yet for the last day: its eventual count and true deaths still get
    # a proper posterior from the intensity (issue 9: not N = 0 surely).  Known defect:
    # NUTS diverges often on this triangle (log m_t of a period with no report is not
    # pinned down by the data); only the posterior's support is checked here.
    quiet = df[df["event"] < "2020-03-12"]
    tri0 = ReportingTriangle.from_line_list(quiet, event_date="event", report_date="report",
                                            now="2020-03-12", max_delay=3)
    assert tri0.reported[0, -1] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res2 = model.fit(tri0, draws=500, tune=500, chains=2, random_seed=2)
    assert res2.posterior.sizes["draw"] == 500
    last = res2.posterior["N"].isel(stratum=0, period=-1).values
    ev_last = res2.posterior["eventual"].isel(stratum=0, period=-1).values
    assert np.mean(last > 0) > 0.95 and np.mean(ev_last > 0) > 0.5
    other = ReportingTriangle.from_line_list(df, event_date="event", report_date="report",
                                             now="2020-03-11", max_delay=3)
    with pytest.raises(DataValidationError, match="another layout"):
        model.fit(other, draws=10, tune=10, chains=1, model=pm_model)

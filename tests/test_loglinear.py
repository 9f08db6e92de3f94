"""Log-linear models for K lists: maximum likelihood, profile intervals, all models,
strata, sparse tables, the command line and the Bayesian fit."""

from __future__ import annotations

import json
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln
from scipy.stats import chi2

from casualty_models import CaptureTable
from casualty_models.cli import main
from casualty_models.datasets import load, load_capture_table
from casualty_models.errors import (
    DataValidationError,
    IdentifiabilityWarning,
    PriorError,
    SparseDataWarning,
)
from casualty_models.models._loglinear_fit import (
    all_patterns,
    batched_poisson_fit,
    design,
    enumerate_hierarchical,
    hierarchical_closure,
    profile_interval,
)
from casualty_models.models.loglinear import (
    LogLinear,
    all_models,
    model_range,
    posterior_predictive_check,
)

KOSOVO_BEST = ["EXH:ABA", "EXH:OSCE", "ABA:OSCE", "EXH:ABA:OSCE", "EXH:HRW", "OSCE:HRW"]
GAZA_ALL_TWO_WAY = ["hospital:survey", "hospital:social_media", "survey:social_media"]


@pytest.fixture(scope="module")
def gaza():
    return load_capture_table("gaza")


@pytest.fixture(scope="module")
def kosovo():
    return load_capture_table("kosovo")


@pytest.fixture
def disjoint():
    """A only 40, B only 30, C only 20, AB 6: list C overlaps nothing."""
    return CaptureTable.from_mapping({"A": 40, "B": 30, "C": 20, "AB": 6})


def simulate_table(rng, n_total, probs, lists=None, strata=None):
    """Independent capture with the given probabilities; one row per stratum."""
    k = len(probs)
    lists = lists or [f"L{j}" for j in range(k)]
    caught = rng.random((n_total, k)) < np.asarray(probs)
    caught = caught[caught.any(axis=1)]
    df = pd.DataFrame(caught.astype(int), columns=lists)
    return CaptureTable.from_records(df, lists=lists), len(df)


# ------------------------------------------------------------------ references
@pytest.mark.parametrize(
    ("interactions", "expected"),
    [([], 66_750), (["hospital:survey"], 51_533), (GAZA_ALL_TWO_WAY, 64_696),
     (["hospital:social_media"], 73_964), (["survey:social_media"], 69_249)],
)
def test_gaza_mle_references(gaza, interactions, expected):
    """Reference (R, Rcapture-style Poisson GLM on the 7 observed cells, brief.md):

        d <- as.data.frame(table(hospital, survey, social_media))[-1, ]   # 000 dropped
        glm(Freq ~ hospital + survey + social_media [+ interactions], poisson, data = d)
        N = 29271 + exp(coef(fit)[1])

    gives 66,750 (independence), 51,533 (hospital x survey), 64,696 (all three two-way),
    73,964 (hospital x social) and 69,249 (survey x social).
    """
    fit = LogLinear(interactions).fit_mle(gaza)
    assert fit.observed.sum() == 29_271
    assert fit.N_total == pytest.approx(expected, rel=0.005)
    assert fit.status == ["ok"]
    assert fit.N_low[0] < fit.N_total < fit.N_high[0]


def test_kosovo_bic_best_model_and_profile_interval(kosovo):
    """Reference (Rcapture, brief.md): closedpCI.t(kosovo, dfreq = TRUE,
    mX = ~ . + EXH:ABA + EXH:OSCE + ABA:OSCE + EXH:ABA:OSCE + EXH:HRW + OSCE:HRW)
    gives N = 10,356.5 with the 95% profile-likelihood interval about [8,994, 12,110]."""
    fit = LogLinear(KOSOVO_BEST).fit_mle(kosovo)
    assert fit.N_total == pytest.approx(10_356.5, abs=0.5)
    assert fit.N_low[0] == pytest.approx(8_994, rel=0.002)
    assert fit.N_high[0] == pytest.approx(12_110, rel=0.002)
    assert fit.extra["label"] == "[EXH ABA OSCE, EXH HRW, OSCE HRW]"
    assert fit.df == 15 - 11


def test_kosovo_all_models_bic_best(kosovo):
    """Reference: Rcapture closedpMS.t(kosovo, dfreq = TRUE) ranks
    [EXH ABA OSCE, EXH HRW, OSCE HRW] first by BIC (brief.md); 113 hierarchical models."""
    tab = all_models(kosovo, criterion="BIC")
    assert len(tab) == 113
    assert tab.iloc[0]["model"] == "[EXH ABA OSCE, EXH HRW, OSCE HRW]"
    assert tab.iloc[0]["N"] == pytest.approx(10_356.5, abs=0.5)
    assert tab.iloc[0]["delta_BIC"] == 0.0
    assert (tab["status"] == "ok").all()
    rng = model_range(tab, criterion="BIC", within=2.0)
    assert rng["best"] == "[EXH ABA OSCE, EXH HRW, OSCE HRW]"
    assert rng["N_min"] <= rng["N_best"] <= rng["N_max"]
    assert rng["n_models"] == len(rng["models"]) >= 1
    # the same table sorted by AIC; the ranges widen with the tolerance
    wide = model_range(tab, criterion="BIC", within=10.0)
    assert wide["N_min"] <= rng["N_min"] and wide["N_max"] >= rng["N_max"]


# ------------------------------------------------------------------ exact checks
def test_two_lists_independence_is_lincoln_petersen():
    """Closed form: with two lists the independence MLE is N = n1 n2 / m (500, 400, 100
    -> 2000), and the profile interval solves 2 (l(N_max) - l(N)) = chi2_1(0.95) for the
    binomial-product likelihood l(N) = log N!/(N - n)! + sum_j [n_j log(n_j/N) +
    (N - n_j) log(1 - n_j/N)], checked on a fine grid."""
    t = CaptureTable.from_mapping({"A": 400, "B": 300, "AB": 100})
    fit = LogLinear().fit_mle(t)
    assert fit.N_total == pytest.approx(2000.0, rel=1e-9)
    n = 800
    grid = np.arange(n, 4000, 0.25)

    def ll(N):
        out = gammaln(N + 1) - gammaln(N - n + 1)
        for nj in (500, 400):
            out += nj * np.log(nj / N) + (N - nj) * np.log1p(-nj / N)
        return out

    v = ll(grid)
    inside = grid[v >= v.max() - chi2.ppf(0.95, 1) / 2]
    assert fit.N_low[0] == pytest.approx(inside.min(), abs=0.5)
    assert fit.N_high[0] == pytest.approx(inside.max(), abs=0.5)


def test_three_lists_closed_form_conditional_independence():
    """Closed form: under [AB][C] (C independent of A, B), the missing cell is
    n001 * (n100 + n010 + n110) / (n101 + n011 + n111)."""
    counts = {"C": 61, "B": 1131, "BC": 69, "A": 2791, "AC": 149, "AB": 260, "ABC": 36}
    t = CaptureTable.from_mapping(counts)
    fit = LogLinear(["A:B"]).fit_mle(t)
    n0 = 61 * (2791 + 1131 + 260) / (149 + 69 + 36)
    assert fit.N_total == pytest.approx(sum(counts.values()) + n0, rel=1e-9)
    # the Poisson fit reproduces the sufficient statistics (list totals) exactly
    pats, y = t.dense()
    np.testing.assert_allclose(fit.fitted[0] @ pats, y[0] @ pats, rtol=1e-8)


def test_enumerated_hierarchical_model_counts():
    """The numbers of hierarchical models without the K-way term: 2 lists 1, 3 lists 8,
    4 lists 113, 5 lists 6,893 (Rcapture's closedpMS.t fits 6,893 models for 5 lists)."""
    assert [len(enumerate_hierarchical(k)) for k in (2, 3, 4, 5)] == [1, 8, 113, 6893]
    for m in enumerate_hierarchical(4):
        for t in m:
            if len(t) == 3:
                assert all(s in m for s in [(t[0], t[1]), (t[0], t[2]), (t[1], t[2])])


def test_batched_fit_matches_single_fits(kosovo):
    pats, y = kosovo.dense()
    models = enumerate_hierarchical(4)[:20]
    Xs = [design(pats, hierarchical_closure(m + [(j,) for j in range(4)])) for m in models]
    p = max(x.shape[1] for x in Xs)
    X = np.zeros((len(Xs), 15, p))
    mask = np.zeros((len(Xs), p), dtype=bool)
    for i, x in enumerate(Xs):
        X[i, :, : x.shape[1]] = x
        mask[i, : x.shape[1]] = True
    batch = batched_poisson_fit(X, y[0], mask)
    for i, x in enumerate(Xs):
        single = batched_poisson_fit(x[None], y[0][None])
        assert batch["beta"][i, 0] == pytest.approx(single["beta"][0, 0], abs=1e-7)
        assert batch["loglik"][i] == pytest.approx(single["loglik"][0], abs=1e-6)


def test_madigan_york_all_models_five_lists():
    tab = all_models(load_capture_table("madigan_york"), criterion="AIC")
    assert len(tab) == 6893 and tab.attrs["search"] == "all"
    assert np.all(np.diff(tab["AIC"].to_numpy()) >= 0)
    assert set(tab.columns) >= {"model", "interactions", "AIC", "BIC", "N", "status",
                                "deviance", "df", "delta_AIC", "delta_BIC"}
    indep = tab[tab["model"] == "[independence]"].iloc[0]
    direct = LogLinear().fit_mle(load_capture_table("madigan_york"), interval=False)
    assert indep["N"] == pytest.approx(direct.N_total, rel=1e-8)
    assert indep["AIC"] == pytest.approx(direct.aic[0], rel=1e-10)


def test_many_lists_recovery_and_stepwise_search():
    """Eight independent lists, N = 4,000 simulated: the independence MLE recovers N
    (its 95% profile interval covers the truth) and the stepwise search (K > 5) runs."""
    rng = np.random.default_rng(11)
    probs = [0.3, 0.25, 0.2, 0.35, 0.15, 0.3, 0.2, 0.25]
    table, _ = simulate_table(rng, 4000, probs)
    fit = LogLinear().fit_mle(table)
    assert fit.N_low[0] <= 4000 <= fit.N_high[0]
    assert fit.N_total == pytest.approx(4000, rel=0.05)
    fit2 = LogLinear(["L0:L1", "L2:L3:L4"]).fit_mle(table, interval=False)
    assert "L2:L3:L4" in fit2.terms and "L2:L3" in fit2.terms  # hierarchy closed
    six, _ = simulate_table(np.random.default_rng(3), 3000, probs[:6])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifiabilityWarning)
        tab = all_models(six, criterion="BIC")
    assert tab.attrs["search"] == "stepwise" and len(tab) > 10
    best = model_range(tab, criterion="BIC")
    assert best["N_best"] == pytest.approx(3000, rel=0.1)


# ------------------------------------------------------------------ strata
def test_stratified_fit_equals_separate_fits_and_flags_sparse_strata():
    table = load_capture_table("spina_bifida_ethnicity", stratum="ethnicity")
    with pytest.warns(SparseDataWarning, match="stratum 'other': 2 records"):
        with pytest.warns(IdentifiabilityWarning, match="'S2' records nobody"):
            fit = LogLinear().fit_mle(table)
    assert fit.status == ["ok", "ok", "sparse"]
    summ = fit.summary()
    assert list(summ.index) == ["afro-american", "caucasian", "other", "total"]  # not dropped
    one = LogLinear().fit_mle(table.select("caucasian"))
    assert fit.N[1] == pytest.approx(one.N_total, rel=1e-9)
    assert fit.N_total == pytest.approx(fit.N.sum())
    assert fit.N_total_low < fit.N_total < fit.N_total_high


def test_total_interval_of_two_identical_strata():
    """Two identical strata: the profile of the total is 2 l(T/2), so its 95% interval is
    twice the single-stratum interval at the level whose chi-square cut is halved."""
    k = load_capture_table("kosovo")
    df = k.to_frame()
    both = pd.concat([df.assign(stratum="a"), df.assign(stratum="b")])
    t2 = CaptureTable.from_counts(both, lists=list(k.lists), stratum="stratum")
    fit2 = LogLinear(KOSOVO_BEST).fit_mle(t2)
    level = chi2.cdf(chi2.ppf(0.95, 1) / 2, 1)
    one = LogLinear(KOSOVO_BEST, level=level).fit_mle(k)
    assert fit2.N_total_low == pytest.approx(2 * one.N_low[0], rel=0.002)
    assert fit2.N_total_high == pytest.approx(2 * one.N_high[0], rel=0.002)


# ------------------------------------------------------------------ sparse / disjoint
def test_disjoint_list_warns_and_unbounded_model_is_infinite(disjoint):
    with pytest.warns(IdentifiabilityWarning, match="list 'C' \\(20 records\\) overlaps no other"):
        ind = LogLinear().fit_mle(disjoint)
    assert ind.status == ["boundary"]
    with pytest.warns(IdentifiabilityWarning) as rec:
        ab = LogLinear(["A:B"]).fit_mle(disjoint)
    assert any("unbounded" in str(w.message) for w in rec)
    assert ab.status == ["unbounded"] and math.isinf(ab.N_total)
    assert ab.to_dict()["N"]["estimate"] == math.inf  # never a silent 10^12
    with pytest.warns(IdentifiabilityWarning) as rec:
        ac = LogLinear(["A:C"]).fit_mle(disjoint)
    assert any("'A:C' has an empty margin" in str(w.message) for w in rec)
    assert ac.status == ["boundary"]


def test_disjoint_list_all_models_and_range(disjoint):
    with pytest.warns(IdentifiabilityWarning, match="8 of 8 models are not usable"):
        tab = all_models(disjoint)
    assert set(tab["status"]) <= {"boundary", "unbounded"}
    assert np.isinf(tab.loc[tab["status"] == "unbounded", "N"]).all()
    with pytest.raises(DataValidationError, match="no usable model"):
        model_range(tab)


def test_implausible_total_is_flagged():
    t = CaptureTable.from_mapping({"A": 600, "B": 600, "AB": 6})
    with pytest.warns(IdentifiabilityWarning, match="times the"):
        fit = LogLinear().fit_mle(t)
    assert fit.status == ["implausible"]


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [({"interactions": ["A:Z"]}, DataValidationError, "unknown list\\(s\\) \\['Z'\\]"),
     ({"interactions": ["A:B:C"]}, DataValidationError, "highest-order \\(3-way\\)"),
     ({"interactions": ["A:A"]}, DataValidationError, "fewer than two distinct lists"),
     ({"interaction_sd": -1.0}, PriorError, "sigma"),
     ({"pooling": "full"}, DataValidationError, "pooling='full' is unknown"),
     ({"level": 1.5}, DataValidationError, "level=1.5")],
)
def test_bad_input(disjoint, kwargs, err, match):
    with pytest.raises(err, match=match):
        LogLinear(**kwargs).fit_mle(disjoint)


def test_bad_table_and_criterion(kosovo):
    with pytest.raises(DataValidationError, match="needs a CaptureTable, got dict"):
        LogLinear().fit_mle({"A": 1})
    with pytest.raises(DataValidationError, match="criterion='DIC' is unknown"):
        all_models(kosovo, criterion="DIC")
    with pytest.raises(DataValidationError, match="search='all' with 6 lists"):
        six, _ = simulate_table(np.random.default_rng(0), 500, [0.3] * 6)
        all_models(six, search="all")


def test_interactions_as_comma_string_and_tuples(kosovo):
    a = LogLinear("EXH:HRW,OSCE:HRW").fit_mle(kosovo, interval=False)
    b = LogLinear([("EXH", "HRW"), ("OSCE", "HRW")]).fit_mle(kosovo, interval=False)
    assert a.N_total == pytest.approx(b.N_total, rel=1e-12)
    assert a.model_config["interactions"] == ["EXH:HRW", "OSCE:HRW"]


# ------------------------------------------------------------------ command line
def test_cli_mle_json(capsys, tmp_path):
    argv = ["mse", "--dataset", "kosovo", "--method", "mle", "--interactions",
            "EXH:ABA:OSCE,EXH:HRW,OSCE:HRW", "--all-models", "--json", "--out", str(tmp_path)]
    assert main(argv) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["N"]["estimate"] == pytest.approx(10_356.5, abs=0.5)
    assert d["N"]["q025"] == pytest.approx(8_994, rel=0.002)
    assert d["N"]["q975"] == pytest.approx(12_110, rel=0.002)
    assert d["observed"] == 4400 and d["sampler"] == "mle" and d["diagnostics"] is None
    assert len(d["models"]) == 113
    assert set(d["models"][0]) >= {"terms", "AIC", "BIC", "N"}
    assert d["best_BIC"] == "[EXH ABA OSCE, EXH HRW, OSCE HRW]"
    for f in ("result.nc", "summary.json", "summary.csv", "posterior.png"):
        assert (tmp_path / f).stat().st_size > 0


def test_cli_mle_stratified_records_file(capsys, tmp_path):
    g = load("gaza")
    g = g.assign(region=g["gov_ns"])
    f = tmp_path / "gaza.csv"
    g[["hospital", "survey", "social_media", "region"]].to_csv(f, index=False)
    # the command line prints each warning once on stderr
    assert main(["mse", "--input", str(f), "--lists", "hospital,survey,social_media",
                 "--stratum-column", "region", "--method", "mle", "--json"]) == 0
    captured = capsys.readouterr()
    assert re.search(r"warning: IdentifiabilityWarning: .*stratum 'missing': list 'hospital'",
                     captured.err)
    d = json.loads(captured.out)
    assert set(d["strata"]) == set(g["gov_ns"].unique())
    assert sum(v["observed"] for v in d["strata"].values()) == 29_271
    assert d["N"]["q025"] < d["N"]["estimate"] < d["N"]["q975"]


def test_cli_mle_bad_interaction(capsys):
    assert main(["mse", "--dataset", "kosovo", "--method", "mle", "--interactions",
                 "EXH:FOO"]) == 2
    assert "unknown list(s) ['FOO']" in capsys.readouterr().err


# ------------------------------------------------------------------ Bayes
@pytest.fixture(scope="module")
def kosovo_bayes(kosovo):
    return LogLinear(KOSOVO_BEST).fit(kosovo, draws=300, tune=300, chains=2, random_seed=3)


def test_bayes_contract_and_agreement_with_mle(kosovo_bayes):
    res = kosovo_bayes
    post = res.posterior
    assert post["N"].dtype == np.int64 and post["N"].dims == ("chain", "draw", "stratum")
    assert post["beta"].dims == ("chain", "draw", "stratum", "term")
    assert post["log_lambda"].dims == ("chain", "draw", "stratum", "pattern")
    assert post["capture_prob"].dims == ("chain", "draw", "stratum", "list")
    assert list(post["capture_prob"]["list"].values) == ["EXH", "ABA", "OSCE", "HRW"]
    assert "EXH:ABA:OSCE" in list(post["term"].values)
    assert res.sampler == "nuts" and res.observed == 4400
    assert res.priors["interactions"]["sigma"] == 1.0
    np.testing.assert_array_equal(post["N"] - post["N_unobserved"], 4400)
    # a weak prior and 4,400 records: the posterior median sits near the MLE 10,356
    med = float(np.median(res.draws("N_total")))
    assert med == pytest.approx(10_356, rel=0.05)
    d = res.diagnostics()
    assert d["divergences"] == 0 and d["r_hat"] < 1.05


def test_posterior_predictive_check(kosovo_bayes, kosovo):
    ppc = posterior_predictive_check(kosovo_bayes)
    assert set(ppc["kind"]) == {"cell", "list_total", "overlap"}
    assert len(ppc) == 15 + 4 + 6
    row = ppc[(ppc["kind"] == "overlap") & (ppc["statistic"] == "EXH&ABA")].iloc[0]
    assert row["observed"] == 403
    assert (ppc["p_value"] > 0.01).all()  # the BIC-best model reproduces the table
    # the observed list totals are the table's own (computed by the container)
    totals = ppc[ppc["kind"] == "list_total"].set_index("statistic")["observed"]
    np.testing.assert_array_equal(totals[["EXH", "ABA", "OSCE", "HRW"]].to_numpy(),
                                  kosovo.list_totals[0])
    # replicates are Poisson draws around each posterior draw's cell means, so in closed
    # form E[count_rep - exp(log_lambda)] = 0 with sd sqrt(E[lambda] / n_draws) whatever
    # the chains' autocorrelation; 5 sd per cell (15 cells: false-failure rate < 1e-5)
    lam = np.exp(kosovo_bayes.posterior["log_lambda"])
    rep = kosovo_bayes.tree["posterior_predictive"]["count"]
    n_draws = lam.sizes["chain"] * lam.sizes["draw"]
    gap = (rep - lam).mean(("chain", "draw"))
    assert (np.abs(gap) < 5 * np.sqrt(lam.mean(("chain", "draw")) / n_draws)).all()


def test_ppc_needs_loglinear_results():
    from casualty_models import UnderReporting

    res = UnderReporting().fit(1000, draws=10, chains=1, random_seed=1)
    with pytest.raises(DataValidationError, match="no posterior predictive cell counts"):
        posterior_predictive_check(res)


def test_cli_bayes_json(capsys):
    assert main(["mse", "--dataset", "kosovo", "--method", "loglinear", "--interactions",
                 "EXH:ABA:OSCE,EXH:HRW,OSCE:HRW", "--draws", "150", "--chains", "2",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["model"] == "LogLinear" and d["sampler"] == "nuts" and d["seed"] == 1
    assert 8_000 < d["N"]["median"] < 13_000
    assert "ppc_failures" in d and d["model_label"] == "[EXH ABA OSCE, EXH HRW, OSCE HRW]"


@pytest.mark.slow
def test_bayes_recovers_simulated_total_with_dependence():
    """Simulated population of 3,000 with positive dependence between lists 0 and 1
    (a latent 'visibility' shared by both) and list 2 independent: the model with
    L0:L1 covers the truth; its posterior median is within 10%."""
    rng = np.random.default_rng(2024)
    n = 3000
    vis = rng.random(n) < 0.5
    p0 = np.where(vis, 0.5, 0.15)
    p1 = np.where(vis, 0.45, 0.1)
    caught = np.stack([rng.random(n) < p0, rng.random(n) < p1, rng.random(n) < 0.3], axis=1)
    caught = caught[caught.any(axis=1)]
    df = pd.DataFrame(caught.astype(int), columns=["L0", "L1", "L2"])
    table = CaptureTable.from_records(df, lists=["L0", "L1", "L2"])
    res = LogLinear(["L0:L1"]).fit(table, draws=1000, chains=4, random_seed=5)
    s = res.summary().loc["N_total"]
    assert s["q025"] <= n <= s["q975"]
    assert s["median"] == pytest.approx(n, rel=0.1)
    assert not res.check_convergence(ess_min=300, emit=False)


@pytest.mark.slow
def test_bayes_partial_pooling_strata_and_ppc_detects_misfit():
    """Gaza by north/south with partial pooling: N per stratum and total; the
    independence model misfits the hospital-survey overlap (posterior predictive
    p-value < 0.01), as the MLE's dependence on that interaction suggests."""
    g = load("gaza")
    table = CaptureTable.from_records(g, lists=["hospital", "survey", "social_media"],
                                      stratum="gov_ns")
    with pytest.warns(IdentifiabilityWarning, match="stratum 'missing': list 'hospital'"):
        res = LogLinear(pooling="partial").fit(table, draws=500, chains=2, random_seed=2)
    post = res.posterior
    assert "effect_sd" in post and post["N"].sizes["stratum"] == 3
    assert res.summary().loc["N_total", "median"] > 29_271
    ppc = posterior_predictive_check(res)
    hs = ppc[(ppc["kind"] == "overlap") & (ppc["statistic"] == "hospital&survey")]
    assert (hs["p_value"] < 0.01).any()
    assert res.priors["between_strata_sd"]["sigma"] == 0.5


def test_all_patterns_order_matches_capture_table(kosovo):
    pats, _ = kosovo.dense()
    np.testing.assert_array_equal(all_patterns(4), pats)


def test_profile_interval_brackets_mle(kosovo):
    pats, y = kosovo.dense()
    X = design(pats, hierarchical_closure([(0, 3), (2, 3), (0, 1, 2)]))
    fit = batched_poisson_fit(X[None], y)
    lo, hi, vmax = profile_interval(X, y[0], float(np.exp(fit["beta"][0, 0])))
    assert lo < vmax < hi


def test_bayes_result_round_trip(kosovo_bayes, tmp_path):
    from casualty_models import load_results

    path = tmp_path / "ll.nc"
    kosovo_bayes.save(path)
    back = load_results(path)
    assert back.model == "LogLinear"
    np.testing.assert_array_equal(back.draws("N_total"), kosovo_bayes.draws("N_total"))
    assert len(posterior_predictive_check(back)) == 25


@pytest.mark.slow
def test_bayes_independent_strata_spina_bifida():
    """Spina bifida by ethnicity, strata fitted independently: the sparse stratum is kept
    (warned about), and the caucasian stratum's posterior median is near its MLE (703)."""
    table = load_capture_table("spina_bifida_ethnicity", stratum="ethnicity")
    with pytest.warns(SparseDataWarning, match="stratum 'other'"):
        with pytest.warns(IdentifiabilityWarning):
            res = LogLinear().fit(table, draws=500, chains=2, random_seed=4)
    assert res.strata == ["afro-american", "caucasian", "other"]
    med = np.median(res.draws("N", stratum="caucasian"))
    assert med == pytest.approx(703, rel=0.05)
    assert res.to_dict()["strata"]["other"]["observed"] == 2


def test_lists_that_never_overlap_give_no_estimate_not_the_observed_count():
    never = CaptureTable.from_mapping({"A": 300, "B": 300})
    with pytest.warns(SparseDataWarning, match="none of its 600 records"):
        fit = LogLinear().fit_mle(never)
    assert fit.status == ["not estimable"] and fit.total_status == "not estimable"
    assert math.isnan(fit.N_total) and math.isnan(fit.N_total_low)
    assert math.isinf(fit.N_total_high)
    d = fit.to_dict()
    assert d["N_status"] == "not estimable" and math.isnan(d["N"]["q025"])
    # with strata, one stratum without overlaps leaves the total unknown (not its observed)
    two = CaptureTable(("A", "B"), np.array([[0, 1], [1, 0], [1, 1]]),
                       np.array([[30, 40, 10], [300, 300, 0]]), ("x", "y"))
    with pytest.warns((SparseDataWarning, IdentifiabilityWarning)):
        fit2 = LogLinear().fit_mle(two)
    assert fit2.N[0] == pytest.approx(50 * 40 / 10, rel=1e-9)  # Lincoln-Petersen in 'x'
    assert math.isnan(fit2.N_total) and fit2.summary().loc["total", "status"] == "not estimable"


def test_bayes_refuses_lists_that_never_overlap():
    """No record on two lists: the Bayesian posterior of N would be the prior's alone.

    It used to return a finite median (about 189,000 for 650 records, 95% up to 2 million);
    the total is not estimable, so the fit says so instead of reporting a number.
    """
    table = CaptureTable.from_mapping({"A": 300, "B": 200, "C": 150})
    with pytest.warns(SparseDataWarning, match="none of its 650 records"), \
            pytest.raises(DataValidationError, match="N is not estimable in stratum 'all'"):
        LogLinear().fit(table, draws=50, tune=50, chains=1, random_seed=1)

"""Latent-class (LCMCR) model: fast tier (short chains, exact checks, errors, CLI)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import special

from casualty_models import CaptureTable, ConvergenceWarning, DataValidationError, PriorError
from casualty_models.datasets import load_capture_table
from casualty_models.errors import IdentifiabilityWarning
from casualty_models.models.latent_class import (
    LatentClass,
    chain_disagreement,
)
from casualty_models.simulate import simulate_table

# 4 chains x 22,000 iterations: r-hat below 1.1 for 12 of 12 seeds tried (6,000 gave 8/12)
SHORT = {"draws": 400, "thin": 50, "burn_in": 2000}


@pytest.fixture(scope="module")
def kosovo():
    return load_capture_table("kosovo")


@pytest.fixture(scope="module")
def kosovo_fit(kosovo):
    return LatentClass().fit(kosovo, chains=4, random_seed=3, **SHORT)


def test_result_contract(kosovo_fit, kosovo):
    post = kosovo_fit.posterior
    assert kosovo_fit.sampler == "gibbs"
    assert kosovo_fit.model == "LatentClass"
    for name in ("N", "N_unobserved", "N_total", "occupied_classes", "class_sizes"):
        assert post[name].dtype == np.int64, name
    assert post["N"].dims == ("chain", "draw", "stratum")
    assert post["class_sizes"].dims == ("chain", "draw", "stratum", "class_rank")
    assert post["N"].shape == (4, 400, 1)
    np.testing.assert_array_equal(post["N"] - post["N_unobserved"], 4400)
    # class sizes are sorted (label invariant) and add up to N
    sizes = post["class_sizes"].values
    assert np.all(np.diff(sizes, axis=-1) <= 0)
    np.testing.assert_array_equal(sizes.sum(axis=-1), post["N"].values)
    assert np.all((post["prob_missed"] > 0) & (post["prob_missed"] < 1))
    assert kosovo_fit.observed == 4400
    priors = kosovo_fit.priors
    assert priors["alpha"]["shape"] == 0.25 and priors["alpha"]["rate"] == 0.25
    assert priors["capture_prob"]["alpha"] == 1.0
    assert priors["N"]["text"] == "p(N) proportional to 1/N"
    assert kosovo_fit.model_config["classes"] == 10
    assert kosovo_fit.random_seed == 3
    assert kosovo_fit.attrs["data_fingerprint"] == kosovo.fingerprint()
    d = kosovo_fit.diagnostics()
    assert d is not None and {"r_hat", "ess_bulk", "ess_tail", "wall_time_s"} <= set(d)


def test_kosovo_short_run_near_lcmcr(kosovo_fit):
    """Short chains (4 x 22,000 iterations) land near LCMCR's long-run answer.

    Reference: LCMCR 0.4.14, ``lcmCR(kosovo, K = 10, a_alpha = 0.25, b_alpha = 0.25)``,
    burn-in 100,000, 10,000 samples thinned by 100: median 10,442.  The slow tier
    checks 2% with long chains; here 6% allows for the Monte Carlo error of a short run.
    """
    med = kosovo_fit.summary().loc["N_total", "median"]
    assert med == pytest.approx(10_442, rel=0.06)


def test_same_seed_same_draws_different_seed_different(kosovo):
    kw = {"draws": 50, "thin": 2, "burn_in": 100, "chains": 2}
    with pytest.warns(ConvergenceWarning):  # far too short to agree, on purpose
        a = LatentClass().fit(kosovo, random_seed=11, **kw)
    with pytest.warns(ConvergenceWarning):
        b = LatentClass().fit(kosovo, random_seed=11, **kw)
    with pytest.warns(ConvergenceWarning):
        c = LatentClass().fit(kosovo, random_seed=12, **kw)
    np.testing.assert_array_equal(a.posterior["N"].values, b.posterior["N"].values)
    np.testing.assert_array_equal(a.posterior["alpha"].values, b.posterior["alpha"].values)
    assert not np.array_equal(a.posterior["N"].values, c.posterior["N"].values)
    # chains differ from each other (independent per-chain seeds)
    assert not np.array_equal(a.posterior["N"].values[0], a.posterior["N"].values[1])


def test_serial_and_parallel_chains_identical(kosovo):
    kw = {"draws": 30, "thin": 2, "burn_in": 50, "chains": 2, "random_seed": 5}
    with pytest.warns(ConvergenceWarning):
        a = LatentClass(parallel=True).fit(kosovo, **kw)
    with pytest.warns(ConvergenceWarning):
        b = LatentClass(parallel=False).fit(kosovo, **kw)
    np.testing.assert_array_equal(a.posterior["N"].values, b.posterior["N"].values)


def _two_list_grid(n1: int, n2: int, m: int, n_max: int = 6000) -> tuple[np.ndarray, np.ndarray]:
    n = n1 + n2 - m
    grid = np.arange(n, n_max)
    logp = (-np.log(grid) + special.gammaln(grid + 1) - special.gammaln(grid - n + 1)
            + special.betaln(1 + n1, 1 + grid - n1) + special.betaln(1 + n2, 1 + grid - n2))
    p = np.exp(logp - logp.max())
    return grid, p / p.sum()


def test_one_class_is_the_exact_two_list_posterior():
    """With one class the model is the independence model; on two lists its posterior is
    the exact grid posterior of the brief's two-list reference.

    Reference (brief, "Two lists"): n1 = 500, n2 = 400, overlap 100, Beta(1, 1) capture
    probabilities, p(N) proportional to 1/N: mean 1995.0, median 1985, 95% [1722, 2327].
    Grid: p(N | data) proportional to N^-1 N! / (N - n)! B(1 + n1, 1 + N - n1)
    B(1 + n2, 1 + N - n2), n = 800 (computed below).
    """
    grid, p = _two_list_grid(500, 400, 100)
    cdf = np.cumsum(p)
    assert float(grid @ p) == pytest.approx(1995.0, abs=0.5)
    assert grid[np.searchsorted(cdf, 0.5)] == pytest.approx(1985, abs=1)
    table = CaptureTable.from_mapping({"10": 400, "01": 300, "11": 100}, lists=["A", "B"])
    res = LatentClass(classes=1).fit(table, draws=2000, thin=5, burn_in=500, chains=4,
                                     random_seed=2)
    n = res.draws("N_total")
    assert np.median(n) == pytest.approx(1985, rel=0.01)
    assert np.mean(n) == pytest.approx(1995.0, rel=0.01)
    assert np.quantile(n, 0.025) == pytest.approx(1722, rel=0.015)
    assert np.quantile(n, 0.975) == pytest.approx(2327, rel=0.02)


def test_simulated_known_total_recovered():
    """A two-class population of 3,000 on 5 lists: the 95% interval covers the truth and
    the median is within 10% of it."""
    table = simulate_table([2000, 1000], [[0.5, 0.4, 0.45, 0.5, 0.35],
                                          [0.1, 0.15, 0.1, 0.2, 0.1]], random_seed=4)
    res = LatentClass().fit(table, draws=400, thin=10, burn_in=2000, chains=2,
                            random_seed=4)
    s = res.summary().loc["N_total"]
    assert s["q025"] <= 3000 <= s["q975"]
    assert s["median"] == pytest.approx(3000, rel=0.10)


def test_strata_fitted_separately_and_summed():
    table = load_capture_table("spina_bifida_ethnicity", stratum="ethnicity")
    assert len(table.strata) > 1
    res = LatentClass(classes=4).fit(table, draws=300, thin=10, burn_in=2000, chains=2,
                                     random_seed=1)
    post = res.posterior
    np.testing.assert_array_equal(post["N"].sum("stratum").values, post["N_total"].values)
    np.testing.assert_array_equal(post["N"].min(("chain", "draw")).values >= table.observed,
                                  True)
    assert res.to_dict()["strata"].keys() == set(table.strata)


def test_large_sparse_table_is_stored_by_pattern():
    """20 lists, 100,000 people: only the observed patterns are stored and a sweep
    touches each distinct pattern once."""
    rng = np.random.default_rng(0)
    probs = rng.uniform(0.02, 0.15, size=(3, 20))
    table = simulate_table([60_000, 30_000, 10_000], probs, random_seed=1)
    assert table.n_lists == 20
    assert table.patterns.shape[0] < 100_000
    assert table.patterns.nbytes + table.counts.nbytes < 20 * 100_000
    with pytest.warns(ConvergenceWarning):  # a token run: only shapes are checked
        res = LatentClass().fit(table, draws=5, thin=1, burn_in=5, chains=2, random_seed=1)
    assert res.posterior["N"].shape == (2, 5, 1)


def test_proper_prior_on_n_recorded():
    model = LatentClass(n_prior=(20.0, 0.002))
    assert model.priors()["N"]["shape"] == 20.0
    assert model.config()["n_prior"] == [20.0, 0.002]


def test_chain_disagreement_detects_a_stuck_chain():
    rng = np.random.default_rng(0)
    good = rng.normal(10_000, 800, size=(4, 500))
    assert chain_disagreement(good) is None
    bad = good.copy()
    bad[2] *= 2.0  # one chain in a mode at twice the others, as LCMCR's short runs do
    msg = chain_disagreement(bad)
    assert msg is not None and "per-chain medians" in msg and "r-hat" in msg


def test_disagreeing_chains_warn_with_meaning(kosovo):
    with pytest.warns(ConvergenceWarning, match="chains disagree.*stuck.*run longer"):
        LatentClass().fit(kosovo, draws=20, thin=1, burn_in=0, chains=4, random_seed=1)


def test_two_lists_with_classes_warn_not_identified():
    table = CaptureTable.from_mapping({"10": 40, "01": 30, "11": 10}, lists=["A", "B"])
    with pytest.warns(IdentifiabilityWarning, match="fewer than three lists"), \
            pytest.warns(ConvergenceWarning):
        LatentClass(classes=3).fit(table, draws=10, thin=1, burn_in=0, chains=2,
                                   random_seed=1)


@pytest.mark.parametrize(("kwargs", "err", "match"), [
    ({"classes": 0}, DataValidationError, r"classes=0 is not allowed: expected an integer"),
    ({"classes": 2.5}, DataValidationError, r"classes=2.5 is not allowed"),
    ({"alpha_prior": (0.25, -1)}, PriorError, r"alpha_prior=\(0.25, -1\) is not allowed"),
    ({"capture_prior": "flat"}, PriorError, r"capture_prior='flat' is not a pair"),
    ({"n_prior": (0.0, 0.0)}, PriorError, r"n_prior=\(0.0, 0.0\) is not allowed"),
    ({"collapsed_moves": -1}, DataValidationError, r"collapsed_moves=-1 is not allowed"),
    ({"label_swaps": True}, DataValidationError, r"label_swaps=True is not allowed"),
])
def test_bad_configuration_rejected(kwargs, err, match):
    with pytest.raises(err, match=match):
        LatentClass(**kwargs)


def test_bad_fit_arguments_rejected(kosovo):
    with pytest.raises(DataValidationError, match=r"draws=0 is not allowed"):
        LatentClass().fit(kosovo, draws=0)
    with pytest.raises(DataValidationError, match=r"thin=0 is not allowed|draws=0"):
        LatentClass().fit(kosovo, thin=0)
    with pytest.raises(DataValidationError, match=r"table must be a CaptureTable, got dict"):
        LatentClass().fit({"10": 3})  # type: ignore[arg-type]


def test_simulate_table_rejects_bad_shapes():
    with pytest.raises(DataValidationError, match=r"capture_probs has shape \(1, 3\)"):
        simulate_table([10, 20], [[0.1, 0.2, 0.3]])


def test_cli_json_contract():
    proc = subprocess.run(
        [sys.executable, "-m", "casualty_models.cli", "mse", "--dataset", "kosovo", "--method",
         "latent-class", "--classes", "10", "--chains", "4", "--draws", "300", "--thin", "10",
         "--burn-in", "2000", "--seed", "4", "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["model"] == "LatentClass" and out["sampler"] == "gibbs" and out["seed"] == 4
    assert out["observed"] == 4400
    d = out["diagnostics"]
    assert {"r_hat", "ess_bulk", "ess_tail", "wall_time_s"} <= set(d)
    assert out["classes"] == 10 and out["thin"] == 10 and out["burn_in"] == 2000
    assert len(out["chain_medians_N"]) == 4
    assert 9_000 < out["N"]["median"] < 12_500


def test_example_script_runs(tmp_path, load_example):
    ns = load_example("kosovo_latent_class.py")
    out = ns["main"](["--quick", "--chains", "2", "--out", str(tmp_path)])
    comp = out["comparison"]
    lc = comp.iloc[0]
    assert 9_000 < lc["N"] < 12_500
    # heterogeneity: one class (independence) estimates fewer deaths than ten
    assert comp.iloc[1]["N"] < lc["N"]
    assert (tmp_path / "kosovo_latent_class.png").exists()
    assert (tmp_path / "kosovo_model_comparison.csv").exists()


def test_unseeded_fit_records_the_seed_it_drew(kosovo):
    kw = {"draws": 20, "thin": 1, "burn_in": 10, "chains": 2}
    with pytest.warns(ConvergenceWarning):
        a = LatentClass().fit(kosovo, random_seed=None, **kw)
    assert isinstance(a.random_seed, int)
    with pytest.warns(ConvergenceWarning):
        b = LatentClass().fit(kosovo, random_seed=a.random_seed, **kw)
    np.testing.assert_array_equal(a.posterior["N"].values, b.posterior["N"].values)


@pytest.mark.parametrize(("n", "p"), [(7, 0.3), (40, 0.2), (60, 0.5), (1131, 0.37),
                                      (5000, 0.93), (20, 0.999)])
def test_binomial_sampler_matches_the_exact_pmf(n, p):
    # BTRS + inversion (hand-written for speed): a chi-square goodness-of-fit test
    # against the exact pmf; false-failure rate 1e-4 per case.
    from numba import njit
    from scipy import stats

    from casualty_models.models._lcmcr_gibbs import _binomial

    @njit
    def draw(g, n, p, size):  # type: ignore[no-untyped-def]
        out = np.empty(size, dtype=np.int64)
        for i in range(size):
            out[i] = _binomial(g, n, p)
        return out

    x = draw(np.random.default_rng(11), n, p, 200_000)
    pmf = stats.binom.pmf(np.arange(n + 1), n, p)
    lo, hi = stats.binom.ppf([1e-4, 1 - 1e-4], n, p).astype(int)
    edges = np.unique(np.r_[0, np.linspace(lo, hi + 1, 30).astype(int), n + 1])
    obs = np.histogram(x, bins=edges)[0]
    exp = np.add.reduceat(pmf, edges[:-1]) * x.size
    keep = exp > 5
    obs = np.r_[obs[keep], obs[~keep].sum()]
    exp = np.r_[exp[keep], exp[~keep].sum()]
    if exp[-1] == 0:
        obs, exp = obs[:-1], exp[:-1]
    chi2 = ((obs - exp) ** 2 / exp).sum()
    assert stats.chi2.sf(chi2, len(obs) - 1) > 1e-4, (chi2, len(obs))
    assert abs(x.mean() - n * p) < 5 * np.sqrt(n * p * (1 - p) / x.size)


def test_multinomial_sampler_matches_its_moments():
    from numba import njit

    from casualty_models.models._lcmcr_gibbs import _multinomial_into

    prob = np.array([0.02, 0.5, 0.001, 0.3, 0.179])

    @njit
    def draw(g, n, prob, size):  # type: ignore[no-untyped-def]
        out = np.empty((size, prob.shape[0]), dtype=np.int64)
        buf = np.empty(prob.shape[0], dtype=np.int64)
        order = np.empty(prob.shape[0], dtype=np.int64)
        for i in range(size):
            _multinomial_into(g, n, prob, buf, order)
            out[i] = buf
        return out

    for n in (9, 300):
        x = draw(np.random.default_rng(2), n, prob, 100_000)
        assert (x.sum(axis=1) == n).all()
        se = np.sqrt(n * prob * (1 - prob) / x.shape[0])
        np.testing.assert_array_less(np.abs(x.mean(axis=0) - n * prob), 5 * se + 1e-12)
        cov = np.cov(x.T)
        # sd of this covariance estimate is about 0.6% of it: 3% is 5 sd
        np.testing.assert_allclose(cov[1, 3], -n * prob[1] * prob[3], rtol=0.03)

"""Latent-class (LCMCR) model: fast tier (short chains, exact checks, errors, CLI)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import special

from casualty_models import CaptureTable, ConvergenceWarning, DataValidationError, PriorError
from casualty_models.datasets import load_capture_table
from casualty_models.errors import IdentifiabilityWarning, MultimodalityWarning
from casualty_models.models.latent_class import (
    LatentClass,
    chain_disagreement,
    dispersed_starts,
)
from casualty_models.simulate import simulate_table


@contextlib.contextmanager
def short_run():  # type: ignore[no-untyped-def]
    """Token runs check shapes and seeds; whether their chains agree is not the point."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


# 4 chains x 7,000 tempered iterations (4 rungs; about the cost of the 22,000 plain
# iterations used before, which gave r-hat below 1.1 for 12 of 12 seeds)
SHORT = {"draws": 400, "thin": 15, "burn_in": 1000}


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
    """Short tempered chains (4 x 7,000 iterations) land near LCMCR's long-run answer.

    Reference: LCMCR 0.4.14, ``lcmCR(kosovo, K = 10, a_alpha = 0.25, b_alpha = 0.25)``,
    burn-in 100,000, 10,000 samples thinned by 100: median 10,442.  The slow tier
    checks 2% with long chains; here 6% allows for the Monte Carlo error of a short run.
    """
    med = kosovo_fit.summary().loc["N_total", "median"]
    assert med == pytest.approx(10_442, rel=0.06)


def test_same_seed_same_draws_different_seed_different(kosovo):
    kw = {"draws": 50, "thin": 2, "burn_in": 100, "chains": 2}
    with short_run():  # far too short to agree (a warning may or may not come)
        a = LatentClass().fit(kosovo, random_seed=11, **kw)
    with short_run():
        b = LatentClass().fit(kosovo, random_seed=11, **kw)
    with short_run():
        c = LatentClass().fit(kosovo, random_seed=12, **kw)
    np.testing.assert_array_equal(a.posterior["N"].values, b.posterior["N"].values)
    np.testing.assert_array_equal(a.posterior["alpha"].values, b.posterior["alpha"].values)
    assert not np.array_equal(a.posterior["N"].values, c.posterior["N"].values)
    # chains differ from each other (independent per-chain seeds)
    assert not np.array_equal(a.posterior["N"].values[0], a.posterior["N"].values[1])


def test_serial_and_parallel_chains_identical(kosovo):
    kw = {"draws": 30, "thin": 2, "burn_in": 50, "chains": 2, "random_seed": 5}
    with short_run():
        a = LatentClass(parallel=True).fit(kosovo, **kw)
    with short_run():
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
    with short_run():  # a token run: only shapes are checked
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
    # chains from dispersed starts without burn-in: either message explains the trouble
    with pytest.warns(ConvergenceWarning, match="chains (disagree.*stuck.*run longer|sit in "
                                                "different modes.*not trustworthy)"):
        LatentClass(tempering=False).fit(kosovo, draws=20, thin=1, burn_in=0, chains=4,
                                         random_seed=1, progress=False)


def test_two_lists_with_classes_warn_not_identified():
    table = CaptureTable.from_mapping({"10": 40, "01": 30, "11": 10}, lists=["A", "B"])
    with pytest.warns(IdentifiabilityWarning, match="fewer than three lists"), short_run():
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
    with pytest.raises(DataValidationError, match=r"^thin=0 is not allowed"):
        LatentClass().fit(kosovo, thin=0)
    with pytest.raises(DataValidationError, match=r"^burn_in=-1 is not allowed"):
        LatentClass().fit(kosovo, burn_in=-1)
    with pytest.raises(DataValidationError, match=r"^chains=0 is not allowed"):
        LatentClass().fit(kosovo, chains=0)
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
    modes = out["modes"]["all"]
    assert len(modes) == 1 and modes[0]["weight"] == 1.0 and len(modes[0]["chain_weights"]) == 4
    assert out["tempering"]["all"]["used"] is True
    assert len(out["tempering"]["all"]["mean_swap_rate"]) == 3
    assert proc.stderr == ""  # no progress bar in --json mode
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
    with short_run():
        a = LatentClass().fit(kosovo, random_seed=None, **kw)
    assert isinstance(a.random_seed, int)
    with short_run():
        b = LatentClass().fit(kosovo, random_seed=a.random_seed, **kw)
    np.testing.assert_array_equal(a.posterior["N"].values, b.posterior["N"].values)


@pytest.mark.parametrize(("n", "p"), [(7, 0.3), (40, 0.2), (60, 0.5), (1131, 0.37),
                                      (5000, 0.93), (20, 0.999)])
def test_binomial_sampler_matches_the_exact_pmf(n, p):
    # BTRS + inversion (hand-written for speed): a chi-square goodness-of-fit test
    # against the exact pmf; false-failure rate 1e-4 per case.
    from numba import njit
    from scipy import stats

    from casualty_models.models._lc_random import _binomial

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

    from casualty_models.models._lc_random import _multinomial_into

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


# ---------------------------------------------------------------- exactness (issue 12)
def test_log_ndtr_matches_scipy_in_both_tails():
    from casualty_models.models._lc_random import _log_ndtr, _log_rounded_normal

    z = np.r_[-60.0, -38.0, -31.0, -29.0, -12.0, -3.0, 0.0, 0.7, 4.9, 5.1, 9.0, 30.0]
    got = np.array([_log_ndtr(v) for v in z])
    np.testing.assert_allclose(got, special.log_ndtr(z), rtol=1e-12, atol=1e-300)
    # the rounded normal is a probability distribution on the integers and its far tail
    # is the difference of two normal CDFs (no cancellation to zero)
    mode, sd = 103.3, 7.5
    ks = np.arange(-200, 400)
    p = np.exp([_log_rounded_normal(int(k), mode, sd) for k in ks])
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    far = _log_rounded_normal(500, mode, sd)
    a, b = (499.5 - mode) / sd, (500.5 - mode) / sd
    exact = special.log_ndtr(-a) + np.log1p(-np.exp(special.log_ndtr(-b) - special.log_ndtr(-a)))
    assert far == pytest.approx(exact, rel=1e-10)


@pytest.mark.parametrize(("a", "b"), [(1.0, 0.01), (1.0, 0.3), (3.0, 0.02), (40.0, 2.5)])
def test_sticks_drawn_in_log_space_have_the_exact_mean_log(a, b):
    """E[log(1 - V)] = psi(b) - psi(a + b) for V ~ Beta(a, b); with a = 1 and b = 0.01 it
    is -100, which a draw of V clamped at 1 - 1e-12 (log >= -27.6) cannot reach.
    Tolerance 5 standard errors (false-failure rate 6e-7 per case)."""
    from numba import njit

    from casualty_models.models._lc_random import _log_beta_pair

    @njit
    def draw(g, a, b, size):  # type: ignore[no-untyped-def]
        out = np.empty((size, 2))
        for i in range(size):
            lv, l1v = _log_beta_pair(g, a, b)
            out[i, 0] = lv
            out[i, 1] = l1v
        return out

    x = draw(np.random.default_rng(3), a, b, 200_000)
    for col, exact in ((1, special.digamma(b) - special.digamma(a + b)),
                       (0, special.digamma(a) - special.digamma(a + b))):
        se = x[:, col].std() / np.sqrt(x.shape[0])
        assert abs(x[:, col].mean() - exact) < 5 * se, (col, x[:, col].mean(), exact)
    # V and 1 - V add up to one
    np.testing.assert_allclose(np.exp(x[:1000, 0]) + np.exp(x[:1000, 1]), 1.0, rtol=1e-12)


@pytest.mark.parametrize("prior", [(1.0, 1.0), (0.25, 0.25)])
def test_prior_only_run_gives_the_prior_mean_of_alpha(prior):
    """With no data, LCMCR's update of alpha given the sticks (``collapsed_alpha=False``)
    samples the prior: E[alpha] = shape / rate = 1.  The old clamp of V at 1 - 1e-12 gave
    1.66 for Gamma(1, 1).  Tolerance 5 batch-means standard errors (false-failure rate
    about 1e-6 if the batch means are normal)."""
    from casualty_models.models._lcmcr_gibbs import run_chains

    out = run_chains(np.array([[1, 0, 0]], dtype=np.uint8), np.array([0]), n_classes=10,
                     alpha_prior=prior, capture_prior=(1.0, 1.0), n_prior=(0.0, 0.0),
                     draws=40_000, burn_in=1000, thin=2, seeds=np.array([1, 2]), n_moves=0,
                     n_swaps=0, collapsed_alpha=False)
    alpha = out["alpha"]
    assert (out["n0"] == 0).all()
    batch = alpha.reshape(alpha.shape[0], 40, -1).mean(axis=-1).ravel()
    se = batch.std(ddof=1) / np.sqrt(batch.size)
    assert abs(alpha.mean() - prior[0] / prior[1]) < 5 * se, (alpha.mean(), se)


def test_lists_that_never_overlap_warn():
    table = CaptureTable.from_mapping({"100": 300, "010": 200, "001": 100}, lists=["A", "B", "C"])
    with pytest.warns(IdentifiabilityWarning, match=r"no record of list\(s\) \['A', 'B', 'C'\]"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            LatentClass(tempering=False).fit(table, draws=10, thin=1, burn_in=10, chains=2,
                                             random_seed=1)


def test_gamma_prior_object_and_pair_give_the_same_model():
    from casualty_models.priors import GammaPrior, prior_from_dict

    a = LatentClass(alpha_prior=GammaPrior(0.5, 2.0))
    b = LatentClass(alpha_prior=(0.5, 2.0))
    assert a == b and isinstance(b.alpha_prior, GammaPrior)
    rec = a.priors()["alpha"]
    assert rec["distribution"] == "Gamma" and rec["shape"] == 0.5 and rec["rate"] == 2.0
    assert prior_from_dict(GammaPrior(0.5, 2.0).to_dict()) == GammaPrior(0.5, 2.0)
    assert GammaPrior(0.25, 0.25).mean == 1.0
    with pytest.raises(PriorError, match=r"rate=-1.0 is not allowed"):
        GammaPrior(1.0, -1.0)


def test_mode_finder_separates_two_modes_and_sees_stuck_chains():
    from casualty_models.models._lc_modes import chain_mode_spread, find_modes

    rng = np.random.default_rng(0)
    low = np.exp(rng.normal(np.log(50_000), 0.08, size=(4, 300)))
    high = np.exp(rng.normal(np.log(145_000), 0.06, size=(4, 700)))
    mixed = np.concatenate([low, high], axis=1)  # every chain explored both: 30% low
    modes = find_modes(mixed)
    assert len(modes) == 2
    assert modes[0]["weight"] == pytest.approx(0.3, abs=0.005)
    assert 60_000 < modes[0]["upper"] < 130_000
    assert modes[1]["median"] == pytest.approx(145_000, rel=0.02)
    assert chain_mode_spread(modes) < 0.01
    stuck = np.concatenate([low[:2, :], high[:2, :300]], axis=0)  # 2 chains low, 2 high
    modes = find_modes(stuck)
    assert len(modes) == 2 and chain_mode_spread(modes) == pytest.approx(1.0)
    # a skewed unimodal posterior (Kosovo's shape) is one mode
    one = np.exp(rng.gamma(4.0, 0.05, size=(4, 2000)) + np.log(9_000))
    assert len(find_modes(one)) == 1


def test_kosovo_fit_records_one_mode_and_no_multimodality_warning(kosovo_fit):
    modes = json.loads(kosovo_fit.attrs["modes"])["all"]
    assert len(modes) == 1 and modes[0]["weight"] == 1.0
    info = json.loads(kosovo_fit.attrs["tempering"])["all"]
    assert info["used"] is True and len(info["ladder"]) == 4
    assert np.all(np.array(info["mean_swap_rate"]) > 0.2)


def test_tempered_fit_records_ladder_and_exchange_rates(kosovo):
    res = LatentClass(tempering=True, rungs=3, beta_min=0.25).fit(
        kosovo, draws=200, thin=10, burn_in=1000, chains=2, random_seed=8, progress=False)
    info = json.loads(res.attrs["tempering"])["all"]
    assert info["used"] is True
    assert info["ladder"] == pytest.approx([1.0, 0.5, 0.25])
    # each pattern's count is rounded: round(0.25 * c) summed over 15 patterns
    expect = [int(np.rint(b * kosovo.counts[0]).sum()) for b in (1.0, 0.5, 0.25)]
    assert info["rung_observed"] == expect and abs(expect[2] - 1100) <= 8
    rates = np.array(info["swap_rate"])
    assert rates.shape == (2, 2) and np.all((rates > 0.05) & (rates < 1))
    assert 9_000 < res.summary().loc["N_total", "median"] < 12_500


def test_multimodality_warning_when_chains_sit_in_different_modes(monkeypatch, kosovo):
    """The warning is driven by the chains' shares per mode: fake two chains stuck apart."""
    from casualty_models.models import latent_class as lc

    real = lc.LatentClass._run

    def stuck(self, pats, cnt, **kw):  # type: ignore[no-untyped-def]
        out = real(self, pats, cnt, **kw)
        out["n0"][0] += 3 * int(cnt.sum()) + int(out["n0"].max())  # chain 0 far above
        return out

    monkeypatch.setattr(lc.LatentClass, "_run", stuck)
    with pytest.warns(MultimodalityWarning, match=r"sit in different modes.*per chain \[1.00, "
                                                   r"0.00\].*more rungs"):
        LatentClass(tempering=False).fit(kosovo, draws=100, thin=5, burn_in=500, chains=2,
                                         random_seed=1, progress=False)


def test_progress_bar_off_writes_nothing(kosovo, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        LatentClass(tempering=False).fit(kosovo, draws=20, thin=1, burn_in=10, chains=2,
                                         random_seed=1, progress=False)
    err = capsys.readouterr().err
    assert err == ""


def test_tempering_settings_rejected():
    with pytest.raises(DataValidationError, match=r"tempering='yes' is unknown"):
        LatentClass(tempering="yes")
    with pytest.raises(DataValidationError, match=r"rungs=1 is not allowed"):
        LatentClass(rungs=1)
    with pytest.raises(DataValidationError, match=r"beta_min=1.0 is not allowed"):
        LatentClass(beta_min=1.0)


# ------------------------------------------------------------ strata on an executor
POSTERIOR_VARS = ("N", "N_unobserved", "alpha", "prob_missed", "class_sizes",
                  "occupied_classes")
QUICK = dict(draws=40, thin=2, burn_in=100, chains=2)


def test_strata_on_a_process_pool_give_the_serial_draws():
    """Each stratum's seed comes from the base seed and its label: a 2-process pool gives
    bit-identical draws, and each stratum is reproduced alone from its recorded seed."""
    from casualty_models.parallel import local_executor, run_seed

    table = load_capture_table("spina_bifida_ethnicity", stratum="ethnicity")
    model = LatentClass(classes=3, parallel=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains warn in both fits alike
        serial = model.fit(table, **QUICK, random_seed=5, progress=False)
        with local_executor(2) as pool:
            pooled = model.fit(table, **QUICK, random_seed=5, executor=pool)
        seeds = json.loads(serial.tree.attrs["stratum_seeds"])
        label = table.strata[1]
        alone = model.fit(table.select(label), **QUICK, random_seed=seeds[label],
                          progress=False)
    for v in POSTERIOR_VARS:
        np.testing.assert_array_equal(serial.posterior[v].values, pooled.posterior[v].values,
                                      err_msg=v)
    assert seeds == {s: run_seed(5, {"stratum": s}) for s in table.strata}
    assert serial.tree.attrs["tempering"] == pooled.tree.attrs["tempering"]
    np.testing.assert_array_equal(serial.posterior["N"].sel(stratum=label).values,
                                  alone.posterior["N"].sel(stratum="all").values)


def test_unstratified_seeding_is_unchanged():
    """One stratum: the chains' seeds are SeedSequence(random_seed).generate_state(chains),
    as before strata could go to an executor (so existing results are reproduced)."""
    from casualty_models.models._lcmcr_gibbs import run_chains

    table = load_capture_table("kosovo")
    model = LatentClass(classes=3, tempering=False)
    with short_run():
        res = model.fit(table, **QUICK, random_seed=9, progress=False)
    seeds = np.random.SeedSequence(9).generate_state(2, dtype=np.uint32).astype(np.int64)
    ref = run_chains(table.patterns, table.counts[0], n_classes=3, alpha_prior=(0.25, 0.25),
                     capture_prior=(1.0, 1.0), n_prior=(0.0, 0.0), draws=40, burn_in=100,
                     thin=2, seeds=seeds, lam_scales=dispersed_starts(2))
    np.testing.assert_array_equal(res.posterior["N_unobserved"].values[..., 0], ref["n0"])


@dataclass(frozen=True)
class _FailsOnStratum(LatentClass):
    """Fails on the stratum whose table has ``fail_observed`` records."""

    fail_observed: int = -1

    def _run(self, pats, cnt, **kwargs):  # type: ignore[no-untyped-def]
        if int(cnt.sum()) == self.fail_observed:
            raise PriorError("boom")
        return super()._run(pats, cnt, **kwargs)


@pytest.mark.parametrize("executor", [None, "serial"])
def test_failed_stratum_is_named(executor):
    table = load_capture_table("spina_bifida_ethnicity", stratum="ethnicity")
    label = table.strata[1]
    model = _FailsOnStratum(classes=3, fail_observed=int(table.observed[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(PriorError, match=f"stratum '{label}'.*boom"):
            model.fit(table, **QUICK, random_seed=1, executor=executor, progress=False)

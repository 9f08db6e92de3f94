"""Under-reporting: exact posterior checks and the Russian named-list reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from casualty_models import (
    BetaPrior,
    ConfirmedCounts,
    DataValidationError,
    IdentifiabilityWarning,
    PriorError,
    UnderReporting,
)


def exact_cdf(n: float, confirmed: int, prior: BetaPrior) -> float:
    """P(N <= n) = E_p[ NegBin(N - C <= n - C; C, p) ], p ~ Beta: the exact posterior
    under p(N) ~ 1/N (brief: 'N = C + NegBin(C, p) with p drawn from its prior')."""
    def f(p: float) -> float:
        return stats.nbinom.cdf(n - confirmed, confirmed, p) * stats.beta.pdf(
            p, prior.alpha, prior.beta)
    return integrate.quad(f, 0, 1, limit=200, points=[0.45, 0.55, 0.65])[0]


def exact_quantile(q: float, confirmed: int, prior: BetaPrior) -> float:
    return optimize.brentq(lambda n: exact_cdf(n, confirmed, prior) - q, confirmed,
                           confirmed * 10)


def test_russian_reference_45287_names():
    """45,287 names, coverage 45-65% as a central 90% Beta interval (brief):
    q05 and q95 within 1% of 45287/0.65 = 69,672 and 45287/0.45 = 100,638; median near 82,000."""
    model = UnderReporting(coverage=(0.45, 0.65), mass=0.9)
    res = model.fit(45287, draws=5000, chains=4, random_seed=1)
    s = res.summary().loc["N_total"]
    assert s["q05"] == pytest.approx(69_672, rel=0.01)
    assert s["q95"] == pytest.approx(100_638, rel=0.01)
    assert s["median"] == pytest.approx(82_000, rel=0.01)
    # the draws follow the exact mixture, not just roughly: compare with quadrature
    prior = model.coverage_prior
    for q in (0.05, 0.5, 0.95):
        assert s[{0.05: "q05", 0.5: "median", 0.95: "q95"}[q]] == pytest.approx(
            exact_quantile(q, 45287, prior), rel=0.004)
    assert res.sampler == "exact" and res.diagnostics() is None
    assert res.observed == 45287
    assert (res.draws("N_unobserved_total") == res.draws("N_total") - 45287).all()
    assert res.posterior["N"].dtype == np.int64


def test_same_seed_same_draws_and_seed_recorded():
    m = UnderReporting(coverage=(0.4, 0.7))
    a = m.fit({"x": 100, "y": 250}, draws=200, chains=2, random_seed=7)
    b = m.fit({"x": 100, "y": 250}, draws=200, chains=2, random_seed=7)
    c = m.fit({"x": 100, "y": 250}, draws=200, chains=2, random_seed=8)
    np.testing.assert_array_equal(a.draws("N"), b.draws("N"))
    assert not np.array_equal(a.draws("N"), c.draws("N"))
    assert a.random_seed == 7


def test_pooling_controls_the_uncertainty_of_the_total():
    """Shared coverage: errors add up (total sd ~ C sd(1/p)); independent: they average out."""
    counts = ConfirmedCounts({f"r{i}": 1000 for i in range(10)})
    sd = {}
    for pooling in ("shared", "partial", "independent"):
        res = UnderReporting(coverage=(0.45, 0.65), pooling=pooling).fit(
            counts, draws=4000, chains=2, random_seed=3)
        sd[pooling] = res.summary().loc["N_total", "sd"]
        assert res.strata == [f"r{i}" for i in range(10)]
        assert res.posterior["N"].dims == ("chain", "draw", "stratum")
    assert sd["shared"] > 2 * sd["independent"]
    # partial pooling with no stratum-specific share is the shared model (logit-normal
    # instead of Beta coverage, hence the tolerance)
    nearly_shared = UnderReporting(coverage=(0.45, 0.65), pooling="partial",
                                   between_strata_share=0.0).fit(counts, draws=4000, chains=2,
                                                                 random_seed=3)
    assert nearly_shared.summary().loc["N_total", "sd"] == pytest.approx(sd["shared"], rel=0.06)
    # shared: N_total = 10,000 + NegBin(10,000, p): same law as a single count of 10,000
    single = UnderReporting(coverage=(0.45, 0.65)).fit(10000, draws=4000, chains=2,
                                                       random_seed=4)
    assert sd["shared"] == pytest.approx(single.summary().loc["N_total", "sd"], rel=0.05)


@pytest.mark.slow
def test_nuts_matches_exact_for_partial_pooling():
    """Without an audit, the NUTS posterior of coverage is its prior, so NUTS + NegBin
    must reproduce the exact sampler (same model, two samplers)."""
    counts = ConfirmedCounts({"a": 300, "b": 1200, "c": 50})
    exact = UnderReporting(pooling="partial", sampler="exact").fit(
        counts, draws=4000, chains=4, random_seed=1)
    nuts = UnderReporting(pooling="partial", sampler="nuts").fit(
        counts, draws=1000, chains=4, random_seed=1)
    assert nuts.sampler == "nuts"
    assert not nuts.check_convergence(ess_min=300, emit=False)
    for col in ("q05", "median", "q95"):
        assert nuts.summary().loc["N_total", col] == pytest.approx(
            exact.summary().loc["N_total", col], rel=0.04)


def test_coverage_audit_matches_the_exact_conjugate_posterior():
    r"""An audit finding f = 180 of k = 200 known deaths on the list, independent pooling.

    Exact answer.  With prior :math:`p \sim \mathrm{Beta}(a, b)`, :math:`C \mid N, p \sim
    \mathrm{Bin}(N, p)`, :math:`f \mid p \sim \mathrm{Bin}(k, p)` and :math:`p(N) \propto 1/N`,
    summing N out gives :math:`\sum_{N \ge C} N^{-1}\binom{N}{C}p^C(1-p)^{N-C} = 1/C`, free of p,
    so the posterior of coverage is the conjugate update

    .. math:: p \mid \text{data} \sim \mathrm{Beta}(a + f,\ b + k - f),

    with mean :math:`(a+f)/(a+b+k)` (= 0.813 for the 45-65% prior, not 0.85), and
    :math:`N - C \mid p \sim \mathrm{NegBin}(C, p)`, so
    :math:`E[N] = C\,E[1/p] = C (a' + b' - 1)/(a' - 1)` for :math:`p \sim \mathrm{Beta}(a', b')`.
    Stratum b has no audit (0 of 0): its posterior is the prior.
    Tolerance: 4.5 Monte Carlo standard errors (sd / sqrt(ESS) from the draws themselves),
    a false-failure rate below 1e-5 per comparison.
    """
    import arviz_stats as azs

    counts = ConfirmedCounts([900, 600], strata=("a", "b"), audit_found=[180, 0],
                             audit_checked=[200, 0])
    model = UnderReporting(coverage=(0.45, 0.65), pooling="independent")
    res = model.fit(counts, draws=500, chains=2, tune=500, random_seed=2)
    assert res.sampler == "nuts"
    a, b = model.coverage_prior.alpha, model.coverage_prior.beta
    exact = {
        "a": (stats.beta(a + 180, b + 20).mean(), 900 * (a + b + 200 - 1) / (a + 180 - 1)),
        "b": (stats.beta(a, b).mean(), 600 * (a + b - 1) / (a - 1)),
    }
    assert exact["a"][0] == pytest.approx(0.813, abs=5e-4)
    for s, (cov_mean, n_mean) in exact.items():
        for var, target in (("coverage", cov_mean), ("N", n_mean)):
            da = res.posterior[var].sel(stratum=s)
            mcse = float(da.std()) / np.sqrt(float(azs.ess(da, method="mean")))
            assert abs(float(da.mean()) - target) < 4.5 * mcse, (s, var, float(da.mean()), target)
    assert "audit_found" in res.tree["observed_data"].data_vars


def test_partial_pooling_keeps_the_experts_range_for_each_stratum():
    """Prior predictive check: with partial pooling every stratum's coverage prior is the
    expert's 45-65% (central 90%), whatever the between-strata share; the total differs
    from the shared model only through the correlation between strata.
    (The former parametrisation, independent priors on the mean and on the between-strata
    sd, gave each stratum about 40-69%.)  Tolerance: the 5% and 95% quantiles of 40,000
    exact draws have a Monte Carlo sd below 0.0015; 0.005 is > 3 sd."""
    counts = ConfirmedCounts({"a": 100, "b": 2000, "c": 40})
    for share in (BetaPrior(1.0, 1.0), 0.5, 1.0):
        res = UnderReporting(coverage=(0.45, 0.65), pooling="partial",
                             between_strata_share=share).fit(counts, draws=20_000, chains=2,
                                                             random_seed=11)
        for s in ("a", "b", "c"):
            q05, q95 = np.quantile(res.draws("coverage", stratum=s), [0.05, 0.95])
            assert q05 == pytest.approx(0.45, abs=0.005), (share, s)
            assert q95 == pytest.approx(0.65, abs=0.005), (share, s)
    # the recorded prior says so
    pri = res.priors["coverage"]
    assert pri["pooling"] == "partial" and "[0.450, 0.650]" in pri["text"]
    with pytest.raises(PriorError, match=r"between_strata_share=1.5 is not allowed"):
        UnderReporting(between_strata_share=1.5)


def test_counts_too_large_for_int64_draws_are_refused():
    """N = C + NegBin(C, p) must fit in int64 (9.2e18): a count of 5e18 used to wrap
    around to negative draws; a coverage prior with mass near 0 does it even for a
    modest count (Beta(0.05, 1) puts 32% of its mass below 1e-10)."""
    with pytest.raises(DataValidationError, match=r"5,000,000,000,000,000,000.*Fix: check"):
        UnderReporting().fit(5e18, draws=10, chains=1, random_seed=0)
    with pytest.raises(DataValidationError, match=r"coverage\) \d.*bounded away from 0"):
        UnderReporting(coverage=BetaPrior(0.05, 1.0)).fit(10**6, draws=200, chains=1,
                                                          random_seed=0)
    # large but representable: every draw is valid
    res = UnderReporting().fit(10**15, draws=200, chains=1, random_seed=0)
    assert (res.draws() >= 10**15).all()


def test_periods_keep_a_period_dim():
    counts = ConfirmedCounts([[10, 20, 30]], periods=("2023-01", "2023-02", "2023-03"))
    res = UnderReporting().fit(counts, draws=100, chains=2, random_seed=0)
    assert res.posterior["N"].dims == ("chain", "draw", "stratum", "period")
    assert res.posterior["N_total"].dims == ("chain", "draw", "period")
    assert (res.posterior["N"] >= np.array([10, 20, 30])).all()


def test_bad_configuration_and_zero_strata():
    with pytest.raises(DataValidationError, match=r"pooling='pooled' is unknown"):
        UnderReporting(pooling="pooled")  # type: ignore[arg-type]
    with pytest.raises(PriorError, match=r"empty or reversed"):
        UnderReporting(coverage=(0.65, 0.45))
    with pytest.raises(DataValidationError, match=r"draws=0 is not allowed"):
        UnderReporting().fit(10, draws=0)
    with pytest.raises(DataValidationError, match=r"cannot use a coverage audit"):
        UnderReporting(sampler="exact").fit(
            ConfirmedCounts([5], audit_found=[1], audit_checked=[2]))
    with pytest.warns(IdentifiabilityWarning, match=r"strata \['b'\] have no confirmed deaths"):
        res = UnderReporting().fit({"a": 10, "b": 0}, draws=50, chains=1, random_seed=0)
    assert (res.draws("N", stratum="b") == 0).all()


def test_interval_coverage_when_the_prior_is_right():
    """Simulate 400 lists with coverage drawn from the prior, N = 20,000 deaths each:
    the posterior 90% interval must contain 20,000 in about 90% of them.
    Declared false-failure rate: the acceptance band is +-4 binomial sd (p < 1e-4)."""
    rng = np.random.default_rng(2024)
    model = UnderReporting(coverage=(0.45, 0.65))
    prior = model.coverage_prior
    n_true, n_sim = 20_000, 400
    hits = 0
    for i in range(n_sim):
        c = rng.binomial(n_true, prior.rvs((), rng))
        draws = model.fit(int(c), draws=1000, chains=1, random_seed=i).draws()
        lo, hi = np.quantile(draws, [0.05, 0.95])
        hits += lo <= n_true <= hi
    sd = np.sqrt(0.9 * 0.1 / n_sim)
    assert abs(hits / n_sim - 0.9) < 4 * sd, hits / n_sim

"""Exact model averaging over decomposable graphs (Madigan & York 1997; R package dga)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.special import gammaln
from scipy.stats import dirichlet_multinomial

from casualty_models import CaptureTable
from casualty_models.datasets import load_capture_table
from casualty_models.errors import (
    DataValidationError,
    IdentifiabilityWarning,
    PriorError,
    SparseDataWarning,
)
from casualty_models.models._graphs import decomposable_graphs
from casualty_models.models.bma import (
    DecomposableBMA,
    bma_grid,
    grid_summary,
    log_joint,
    model_table,
)


def dense_y(table: CaptureTable, stratum: int = 0) -> np.ndarray:
    """Counts indexed by bitmask (bit j = list j), cell 0 = 0."""
    k = table.n_lists
    y = np.zeros(1 << k)
    codes = table.patterns.astype(np.int64) @ (1 << np.arange(k))
    np.add.at(y, codes, table.counts[stratum])
    return y


def inv_n(n: np.ndarray) -> np.ndarray:
    return -np.log(n)


# ------------------------------------------------------------------ graphs
@pytest.mark.parametrize(("k", "count"), [(2, 2), (3, 8), (4, 61), (5, 822)])
def test_number_of_decomposable_graphs(k, count):
    """Labelled chordal graphs on k vertices: 2, 8, 61, 822 (OEIS A058862); dga ships
    graphs3/4/5 with 8, 61 and 822 entries."""
    assert len(decomposable_graphs(k)) == count


def test_graph_structure_and_labels():
    g4 = decomposable_graphs(4)
    lists = ("EXH", "ABA", "OSCE", "HRW")
    labels = [g.label(lists) for g in g4]
    assert len(set(labels)) == 61
    assert labels[0] == "[EXH][ABA][OSCE][HRW]"
    assert labels[-1] == "[EXH,ABA,OSCE,HRW]"
    # the BIC-best hierarchical model for Kosovo, [EXH ABA OSCE, EXH HRW, OSCE HRW], is not
    # graphical (its edges make EXH-OSCE-HRW a triangle); its graphical closure is
    best = g4[labels.index("[EXH,ABA,OSCE][EXH,OSCE,HRW]")]
    assert best.separators == (0b0101,)  # {EXH, OSCE}
    assert best.n_components == 1
    assert "[EXH,ABA,OSCE][EXH,HRW][OSCE,HRW]" not in labels
    # the 4-cycle A-B-C-D-A is not chordal
    assert not any(set(g.edges) == {(0, 1), (1, 2), (2, 3), (0, 3)} for g in g4)
    chain = next(g for g in decomposable_graphs(3) if set(g.edges) == {(0, 1), (1, 2)})
    assert chain.cliques == (0b011, 0b110) and chain.separators == (0b010,)


def test_too_many_lists_is_refused():
    with pytest.raises(DataValidationError, match="2 to 6 lists"):
        decomposable_graphs(7)


# ------------------------------------------------------------ likelihood
@pytest.mark.parametrize("k", [3, 4])
def test_marginal_likelihood_matches_dirichlet_multinomials(k):
    """Closed form, computed independently with scipy's Dirichlet-multinomial:

    p(complete table | g) = N!/prod n_x! * prod_C DM(n_C; delta 2^(K-|C|)) / [N!/prod n_C!]
                                           / prod_S DM(n_S; delta 2^(K-|S|)) / [N!/prod n_S!]
    """
    rng = np.random.default_rng(3)
    y = rng.integers(0, 40, size=1 << k).astype(float)
    y[0] = 0.0
    delta = 0.3
    n0 = np.array([0.0, 7.0, 55.0])
    lj = log_joint(y, k, delta, n0, lambda n: np.zeros_like(n))
    codes = np.arange(1 << k)
    for i, n0_i in enumerate(n0):
        full = y.copy()
        full[0] = n0_i
        n = full.sum()
        base = gammaln(n + 1) - gammaln(full + 1).sum()

        def term(mask, full=full, n=n):
            marg = np.bincount(codes & mask, weights=full, minlength=1 << k)
            cells = marg[codes[(codes & mask) == codes]]
            a = np.full(cells.size, delta * 2.0 ** (k - bin(mask).count("1")))
            dm = dirichlet_multinomial.logpmf(cells, a, int(n))
            return dm - (gammaln(n + 1) - gammaln(cells + 1).sum())

        for g, graph in enumerate(decomposable_graphs(k)):
            want = base + sum(term(c) for c in graph.cliques) - sum(
                term(s) for s in graph.separators)
            assert lj[g, i] == pytest.approx(want, abs=1e-8)


def test_streaming_kernel_equals_dense_reference():
    """The numba grid scan gives the same posterior and model probabilities as the dense
    dga formula (log_joint, normalised), across the recurrence anchors."""
    t = load_capture_table("spina_bifida")
    y = dense_y(t)
    gp = bma_grid(y, 3, 1 / 8, log_prior=inv_n, n_max=1000)
    lj = log_joint(y, 3, 1 / 8, np.arange(1001), inv_n)
    w = np.exp(lj - lj.max())
    w /= w.sum()
    np.testing.assert_allclose(gp.posterior, w.sum(axis=0), rtol=1e-8, atol=1e-15)
    np.testing.assert_allclose(gp.model_prob, w.sum(axis=1), rtol=1e-8, atol=1e-15)
    cdf = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    med = np.argmax(cdf >= 0.5 - 1e-12, axis=1)
    np.testing.assert_array_equal(gp.model_quantiles[:, 1], med)


def test_dga_spina_bifida_test_case():
    """dga's own test (tests/testthat/test-BMAfunctions.R, '3 lists example against Madigan
    and York'):

        Y <- array(c(0, 60, 49, 4, 247, 112, 142, 12), dim = c(2, 2, 2))
        Nmissing <- 1:300; N <- Nmissing + sum(Y); a <- 13.14; b <- 55.17
        logprior <- N*log(b) - (N + a)*log(1 + b) + lgamma(N + a) - lgamma(N + 1) - lgamma(a)
        weights <- bma.cr(Y, Nmissing, delta = 1, graphs3, logprior)

    top model probability 0.37; its Bayes estimate mean(w/N)/mean(w/N^2) 731, mode 729;
    model-averaged Bayes estimate 731, mode 728.
    """
    t = load_capture_table("spina_bifida")
    n = 626 + np.arange(301.0)
    a, b = 13.14, 55.17
    logprior = n * np.log(b) - (n + a) * np.log(1 + b) + gammaln(n + a) - gammaln(n + 1) \
        - gammaln(a)
    logprior[0] = -np.inf  # Nmissing starts at 1
    model = DecomposableBMA(delta=1.0, prior_n=logprior)
    gp = model.fit_grid(t)
    assert gp.n0[-1] == 300
    top = int(np.argmax(gp.model_prob))
    assert round(float(gp.model_prob[top]), 2) == 0.37
    lj = log_joint(dense_y(t), 3, 1.0, np.arange(301.0), model_log_prior(model, 626))
    w = np.exp(lj - np.max(lj))
    w /= w.sum()
    np.testing.assert_allclose(w.sum(axis=1), gp.model_prob, rtol=1e-8)
    row = w[top]
    assert round(float((row / n).sum() / (row / n**2).sum())) == 731
    assert n[np.argmax(row)] == 729
    avg = gp.posterior
    assert round(float((avg / n).sum() / (avg / n**2).sum())) == 731
    assert n[np.argmax(avg)] == 728


def model_log_prior(model, n_obs):
    from casualty_models.models._bma_grid import log_prior_fn as _log_prior_fn

    return _log_prior_fn(model.prior_n, n_obs)[0]


# ------------------------------------------------------------ references
@pytest.mark.parametrize(
    ("name", "delta", "median", "lo", "hi"),
    [
        ("madigan_york", 1 / 32, 618, 590, 656),
        ("spina_bifida", 1 / 8, 731, 694, 787),
        ("kosovo", 1 / 16, 12_594, 9_828, 16_544),
    ],
)
def test_reproduces_dga(name, delta, median, lo, hi):
    """dga 2.0: ``w <- bma.cr(Y, Nmissing = 0:n_max, delta, graphsK)`` with the default
    log prior ``-log(N)``, ``post <- colSums(w)``; median and 95% equal-tailed interval of
    ``N = sum(Y) + Nmissing`` (the brief's reference numbers).  Tolerances: 1% (median),
    2% (interval ends); we agree to within one death."""
    res = DecomposableBMA(delta=delta).fit(load_capture_table(name), draws=1000, chains=4,
                                           random_seed=7)
    g = grid_summary(res).loc["all"]
    assert g["median"] == pytest.approx(median, rel=0.01)
    assert g["q025"] == pytest.approx(lo, rel=0.02)
    assert g["q975"] == pytest.approx(hi, rel=0.02)
    assert abs(g["median"] - median) <= 1 and abs(g["q025"] - lo) <= 1
    assert abs(g["q975"] - hi) <= 1
    # exact draws from that grid: their median is within sampling error
    s = res.summary().loc["N_total"]
    assert s["median"] == pytest.approx(median, rel=0.015)
    assert res.sampler == "grid" and res.diagnostics() is None
    assert res.posterior["N"].dtype == np.int64
    assert res.tree["constant_data"]["model_probability"].sum() == pytest.approx(1.0)


def _brute_force_dga(table: CaptureTable, delta: float, n0_max: int) -> dict[frozenset, float]:
    """Posterior probability of every decomposable graph, written from dga's closed form
    independently of the library: graphs by brute force over edge sets (chordal iff
    simplicial vertices can be removed one by one), maximal cliques by brute force,
    separators from a maximum-weight spanning tree of the cliques (Kruskal), the hyper-
    Dirichlet marginal likelihood of every clique and separator margin with n0 in its
    all-zero cell, the multinomial coefficient, the prior 1/N, summed over n0 = 0..n0_max.
    """
    from itertools import combinations

    k = table.n_lists
    y = {tuple(int(b) for b in p): int(c) for p, c in zip(table.patterns, table.counts[0],
                                                          strict=True)}
    n_obs = sum(y.values())
    n0 = np.arange(n0_max + 1.0)
    n = n_obs + n0
    alpha = delta * 2**k
    pairs = list(combinations(range(k), 2))

    def log_margin(a: tuple[int, ...]) -> np.ndarray:
        if not a:
            return np.zeros_like(n)  # the empty margin: Gamma(N + alpha)/Gamma(alpha) cancels
        d = delta * 2.0 ** (k - len(a))
        cells: dict[tuple[int, ...], int] = {}
        for pat, c in y.items():
            key = tuple(pat[j] for j in a)
            cells[key] = cells.get(key, 0) + c
        zero = cells.pop(tuple(0 for _ in a), 0)
        # cells with no count contribute gammaln(0 + d) - gammaln(d) = 0
        const = sum(gammaln(c + d) - gammaln(d) for c in cells.values())
        return gammaln(alpha) - gammaln(n + alpha) + const + gammaln(zero + n0 + d) - gammaln(d)

    cache: dict[tuple[int, ...], np.ndarray] = {}
    base = gammaln(n + 1) - sum(gammaln(c + 1) for c in y.values()) - gammaln(n0 + 1) - np.log(n)
    log_w: dict[frozenset, float] = {}
    for mask in range(1 << len(pairs)):
        edges = {pairs[i] for i in range(len(pairs)) if mask >> i & 1}
        adj = {v: {u for e in edges for u in e if v in e and u != v} for v in range(k)}
        left = set(range(k))
        while left:  # remove a simplicial vertex; none left to remove -> not chordal
            v = next((v for v in left if all(
                (min(a, b), max(a, b)) in edges for a, b in combinations(adj[v] & left, 2))),
                None)
            if v is None:
                break
            left.discard(v)
        if left:
            continue
        cliques = [set(c) for r in range(1, k + 1) for c in combinations(range(k), r)
                   if all(p in edges for p in combinations(c, 2))]
        cliques = [c for c in cliques if not any(c < d for d in cliques)]
        order = sorted(combinations(range(len(cliques)), 2),
                       key=lambda ij: -len(cliques[ij[0]] & cliques[ij[1]]))
        comp = list(range(len(cliques)))
        seps = []
        for i, j in order:
            ri, rj = comp[i], comp[j]
            if ri != rj:
                comp = [ri if c == rj else c for c in comp]
                seps.append(tuple(sorted(cliques[i] & cliques[j])))
        for key in [tuple(sorted(c)) for c in cliques] + seps:
            if key not in cache:
                cache[key] = log_margin(key)
        lj = base + sum(cache[tuple(sorted(c))] for c in cliques) - sum(cache[s] for s in seps)
        top = lj.max()
        log_w[frozenset(frozenset(table.lists[v] for v in c) for c in cliques)] = float(
            top + np.log(np.exp(lj - top).sum()))
    z = max(log_w.values())
    total = sum(np.exp(v - z) for v in log_w.values())
    return {g: float(np.exp(v - z) / total) for g, v in log_w.items()}


def _cliques(label: str) -> frozenset:
    return frozenset(frozenset(c.split(",")) for c in label.strip("[]").split("]["))


@pytest.fixture(scope="module")
def kosovo_dga_reference() -> dict[frozenset, float]:
    """Independent model probabilities for Kosovo, delta = 1/16, n0 <= 100,000 (extending
    the sum to 400,000 changes no probability by more than 3e-9)."""
    return _brute_force_dga(load_capture_table("kosovo"), 1 / 16, 100_000)


def test_kosovo_model_probabilities(kosovo_dga_reference):
    """Posterior model probabilities against the independent brute-force sum above
    (tolerance 2e-5: our grid stops where the mass left is below TAIL_TOL = 1e-5)."""
    res = DecomposableBMA(delta=1 / 16).fit(load_capture_table("kosovo"), draws=10,
                                            random_seed=1)
    assert len(kosovo_dga_reference) == 61
    table = model_table(res)
    for label, prob in zip(table["graph"], table["probability"], strict=True):
        assert prob == pytest.approx(kosovo_dga_reference[_cliques(label)], abs=2e-5), label
    top = model_table(res, top=3)
    assert list(top["graph"]) == ["[EXH,ABA,OSCE][EXH,OSCE,HRW]", "[EXH,ABA,OSCE][OSCE,HRW]",
                                  "[EXH,ABA,OSCE][ABA,OSCE,HRW]"]
    assert len(model_table(res)) == 61
    assert res.tree["constant_data"]["posterior_grid"].dims == ("stratum", "n_unobserved")


def test_default_delta_and_priors_recorded():
    res = DecomposableBMA().fit(load_capture_table("madigan_york"), draws=10, random_seed=1)
    assert res.tree.attrs["delta"] == 1 / 32
    assert res.tree.attrs["n_graphs"] == 822
    assert res.priors["N"] == {"distribution": "1/N", "text": "p(N) proportional to 1/N"}
    assert "hyper-Dirichlet" in res.describe_priors()


def test_same_seed_same_draws_and_save_load(tmp_path):
    t = load_capture_table("spina_bifida")
    a = DecomposableBMA(delta=1 / 8).fit(t, draws=200, chains=2, random_seed=5)
    b = DecomposableBMA(delta=1 / 8).fit(t, draws=200, chains=2, random_seed=5)
    np.testing.assert_array_equal(a.draws("N_total"), b.draws("N_total"))
    a.save(tmp_path / "r.nc")
    back = type(a).load(tmp_path / "r.nc")
    assert grid_summary(back).loc["all", "median"] == 731
    assert model_table(back).iloc[0]["graph"] == "[L1][L2,L3]"


# ------------------------------------------------------------ strata and warnings
def test_strata_are_fitted_independently_and_summed():
    """Spina bifida by ethnicity (conting's version): each stratum its own grid posterior,
    the total's draws the sum of the strata's exact draws; the 2-record stratum is sparse."""
    t = load_capture_table("spina_bifida_ethnicity", stratum="ethnicity")
    with pytest.warns(SparseDataWarning, match="'other' \\(2 records\\)"):
        res = DecomposableBMA().fit(t, draws=500, chains=2, random_seed=3)
    post = res.posterior
    np.testing.assert_array_equal(post["N_total"].values, post["N"].sum("stratum").values)
    gs = grid_summary(res)
    assert list(gs.index) == ["afro-american", "caucasian", "other", "total"]
    assert gs["sparse"].tolist() == [False, False, True, True]
    # the total's exact grid is the convolution of the strata's: means add up exactly
    assert gs.loc["total", "mean"] == pytest.approx(gs["mean"].iloc[:3].sum(), rel=1e-9)
    assert res.tree.attrs["sparse_strata"] == "other"
    for s in ("afro-american", "caucasian"):  # each agrees with its own unstratified fit
        alone = DecomposableBMA().fit_grid(t.select(s))
        assert gs.loc[s, "median"] == alone.quantile(0.5)
    obs = res.tree["constant_data"]["observed"]
    assert (post["N"] >= obs).all() and int(obs.sel(stratum="caucasian")) == 583
    assert set(model_table(res, top=2)["stratum"]) == set(gs.index) - {"total"}


def test_saturated_and_heavy_tail_warnings():
    t = load_capture_table("spina_bifida")
    with pytest.warns(IdentifiabilityWarning, match="heavy tail"):
        DecomposableBMA(delta=1 / 8, prior_n="uniform").fit(t, draws=10, random_seed=1)
    gaza_like = CaptureTable.from_mapping(
        {"A": 900, "B": 500, "C": 400, "AB": 30, "AC": 300, "BC": 20, "ABC": 200})
    with pytest.warns(IdentifiabilityWarning) as rec:
        res = DecomposableBMA().fit(gaza_like, draws=10, random_seed=1)
    assert any("saturated model [A,B,C]" in str(w.message) for w in rec)
    assert model_table(res).iloc[0]["graph"] == "[A,B,C]"


def test_user_prior_function_and_array():
    t = load_capture_table("spina_bifida")
    gp1 = DecomposableBMA(delta=1 / 8, n_max=3000).fit_grid(t)
    gp2 = DecomposableBMA(delta=1 / 8, prior_n=lambda n: -np.log(n), n_max=3000).fit_grid(t)
    gp3 = DecomposableBMA(delta=1 / 8, prior_n=-np.log(626 + np.arange(3001.0))).fit_grid(t)
    np.testing.assert_allclose(gp1.posterior, gp2.posterior)
    np.testing.assert_allclose(gp1.posterior, gp3.posterior)


def test_recovers_known_total_from_simulated_population():
    """A simulated population of 3,000 with list 0 and list 1 positively dependent
    (decomposable structure [0,1][2][3]); seed fixed, so the check is deterministic."""
    rng = np.random.default_rng(2024)
    n = 3000
    l0 = rng.random(n) < 0.3
    l1 = rng.random(n) < np.where(l0, 0.5, 0.2)
    l2 = rng.random(n) < 0.25
    l3 = rng.random(n) < 0.3
    bits = np.stack([l0, l1, l2, l3], axis=1).astype(int)
    seen = bits.sum(axis=1) > 0
    import pandas as pd

    df = pd.DataFrame(bits[seen], columns=["A", "B", "C", "D"])
    t = CaptureTable.from_records(df, lists=["A", "B", "C", "D"])
    res = DecomposableBMA().fit(t, draws=500, random_seed=1)
    g = grid_summary(res).loc["all"]
    assert g["q025"] <= n <= g["q975"]
    assert g["median"] == pytest.approx(n, rel=0.1)
    top = model_table(res, top=1).iloc[0]["graph"]
    assert "[A,B]" in top


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"delta": 0.0}, PriorError, "delta=0.0 is not allowed"),
        ({"delta": "big"}, PriorError, r"delta=.big. is not allowed: expected a number > 0"),
        ({"n_max": 0}, DataValidationError, "n_max=0 is not allowed"),
        ({"prior_n": "jeffreys"}, PriorError, "prior_n='jeffreys' is unknown"),
        ({"prior_n": [0.0]}, PriorError, "1-d array of log prior values"),
        ({"min_observed": -1}, DataValidationError, "min_observed=-1"),
    ],
)
def test_bad_configuration(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        DecomposableBMA(**kwargs)


def test_bad_inputs():
    with pytest.raises(DataValidationError, match="needs a CaptureTable"):
        DecomposableBMA().fit({"A": 3, "B": 4, "AB": 1})
    with pytest.raises(PriorError, match="covers n0 = 0..2 but n_max=10"):
        DecomposableBMA(prior_n=[0.0, 0.0, 0.0], n_max=10).fit_grid(
            load_capture_table("spina_bifida"))
    with pytest.raises(PriorError, match="returned shape"):
        DecomposableBMA(prior_n=lambda n: 0.0).fit_grid(load_capture_table("spina_bifida"))
    with pytest.raises(DataValidationError, match="draws=0"):
        DecomposableBMA().fit(load_capture_table("spina_bifida"), draws=0)
    with pytest.raises(DataValidationError, match="expected a DecomposableBMA result"):
        from casualty_models import UnderReporting

        grid_summary(UnderReporting().fit(1000, draws=10, random_seed=1))


# ------------------------------------------------------------ command line
def test_cli_bma_json(capsys, kosovo_dga_reference):
    """The command line's grid summary against dga 2.0's published Kosovo answer, median
    12,594 [9,828, 16,544] (delta = 1/16, p(N) ~ 1/N): dga and we both evaluate the
    posterior on the integers n0 = 0, 1, ..., so the quantiles can differ only by the
    grid's resolution, one death (where a quantile falls between two integers); and the top
    model's probability against the independent brute-force sum."""
    from casualty_models.cli import main

    code = main(["mse", "--dataset", "kosovo", "--method", "bma", "--delta", "0.0625",
                 "--json", "--draws", "200", "--all-models"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "DecomposableBMA" and out["sampler"] == "grid"
    grid = out["grid"]["all"]
    for key, dga in (("median", 12_594), ("q025", 9_828), ("q975", 16_544)):
        assert abs(grid[key] - dga) <= 1, (key, grid[key])
    assert out["top_models"][0]["graph"] == "[EXH,ABA,OSCE][EXH,OSCE,HRW]"
    assert out["top_models"][0]["probability"] == pytest.approx(
        kosovo_dga_reference[_cliques("[EXH,ABA,OSCE][EXH,OSCE,HRW]")], abs=2e-5)
    assert len(out["all_models"]) == 61
    assert {"stratum", "graph", "probability", "N_median"} <= set(out["all_models"][0])


def test_cli_bma_strata_text(capsys):
    from casualty_models.cli import main

    # the command line prints each warning once on stderr (it does not re-raise them)
    code = main(["mse", "--dataset", "spina_bifida_ethnicity", "--stratum-column",
                 "ethnicity", "--method", "bma", "--draws", "100", "--chains", "2"])
    assert code == 0
    captured = capsys.readouterr()
    text = captured.out
    assert "warning: SparseDataWarning:" in captured.err
    assert "most probable decomposable models" in text and "caucasian" in text


def test_short_user_grid_is_reported():
    """A user n_max that cuts the posterior (Kosovo: n0 <= 5,000, i.e. N <= 9,400, below
    most of the mass) is kept, and the mass beyond it is reported and warned about."""
    with pytest.warns(IdentifiabilityWarning, match="heavy tail"):
        res = DecomposableBMA(delta=1 / 16, n_max=5000).fit(load_capture_table("kosovo"),
                                                             draws=10, random_seed=1)
    cd = res.tree["constant_data"]
    assert int(cd["n_max"].item()) == 5000 and float(cd["tail_mass"].item()) > 0.5
    assert res.draws("N_unobserved_total").max() <= 5000


def test_two_lists():
    """K = 2: independence [A][B] and the saturated [A,B]; under independence the answer is
    close to the two-list exact grid (brief: 1,985 [1,722, 2,327] with uniform capture
    priors; here hyper-Dirichlet delta = 1/4)."""
    t = CaptureTable.from_mapping({"A": 400, "B": 300, "AB": 100})
    with pytest.warns(IdentifiabilityWarning):
        res = DecomposableBMA().fit(t, draws=10, random_seed=1)
    mt = model_table(res).set_index("graph")
    assert mt.loc["[A][B]", "N_median"] == pytest.approx(1985, rel=0.01)
    assert mt.loc["[A][B]", "N_q975"] == pytest.approx(2327, rel=0.02)


@pytest.mark.slow
def test_six_lists_recovery():
    """K = 6 (18,154 graphs): a simulated population of 2,000 with independent lists."""
    import pandas as pd

    rng = np.random.default_rng(6)
    bits = (rng.random((2000, 6)) < np.array([0.2, 0.3, 0.25, 0.15, 0.3, 0.2])).astype(int)
    df = pd.DataFrame(bits[bits.sum(axis=1) > 0], columns=list("ABCDEF"))
    t = CaptureTable.from_records(df, lists=list("ABCDEF"))
    res = DecomposableBMA().fit(t, draws=100, random_seed=1)
    assert len(decomposable_graphs(6)) == 18_154
    g = grid_summary(res).loc["all"]
    assert g["q025"] <= 2000 <= g["q975"]
    assert model_table(res, top=1).iloc[0]["graph"] == "[A][B][C][D][E][F]"


def test_mass_beyond_the_grid_is_reported_unbounded_not_truncated():
    """A grid ending at n0 = 9,000 leaves about a third of Kosovo's posterior beyond it: the
    total is unbounded (infinite mean and upper quantiles, a typed warning), and the quantiles
    the grid does reach account for the missing mass (they match the full grid's)."""
    t = load_capture_table("kosovo")
    full = DecomposableBMA().fit_grid(t)  # the full grid: 9,827 / 12,595 / 16,543
    with pytest.warns(IdentifiabilityWarning, match="reported as unbounded"):
        res = DecomposableBMA(n_max=9000).fit(t, draws=400, random_seed=1)
    g = grid_summary(res).loc["all"]
    assert g["status"] == "unbounded" and 0.2 < g["tail_mass"] < 0.5
    assert np.isinf([g["mean"], g["q95"], g["q975"]]).all()
    assert g["median"] == pytest.approx(float(full.quantile(0.5)), rel=0.005)
    assert g["q025"] == pytest.approx(float(full.quantile(0.025)), rel=0.005)
    s = res.summary().loc["N_total"]
    assert np.isinf([s["mean"], s["q975"]]).all()
    d = res.to_dict()
    assert d["N_status"] == "unbounded" and math.isinf(d["N"]["q975"])

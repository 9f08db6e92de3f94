"""The nowcast's hand-written Numba log density against PyTensor's autodiff of the PyMC model.

The default NUTS path (nutpie) samples ``Nowcast.density_kernel``; ``Nowcast.build_model``
is the reference.  At random points, the kernel's log density must differ from the PyMC
model's by the same constant everywhere, and its gradient must equal PyTensor's, to
rounding: an exact check of every branch (hazard / lognormal delay, with and without delay
drift, line lists and snapshots, several strata, no delay at all).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from casualty_models import ConvergenceWarning, Nowcast, ReportingTriangle
from casualty_models.datasets import load
from casualty_models.models import _nowcast_kernel as nk
from casualty_models.simulate import simulate_line_list

HUS = dict(event_date="hospitalisation_date", report_date="report_date")


def _hus(max_delay: int = 15) -> ReportingTriangle:
    return ReportingTriangle.from_line_list(load("hus_o104"), now="2011-06-10",
                                            max_delay=max_delay, long_delays="drop", **HUS)


def _snapshots() -> ReportingTriangle:
    return ReportingTriangle.from_snapshot(
        load("russia_weekly_snapshot"), period_column="week_start",
        count_column="confirmed_deaths", as_of="2023-11-17", max_delay=26)


def _snapshot_ranges() -> ReportingTriangle:
    snaps = {"2020-01-14": {"2020-01-01": 10, "2020-01-08": 3},
             "2020-01-21": {"2020-01-01": 15, "2020-01-08": 3, "2020-01-15": 1},
             "2020-02-04": {"2020-01-01": 19, "2020-01-08": 9, "2020-01-15": 4,
                            "2020-01-22": 6, "2020-01-29": 2}}
    return ReportingTriangle.from_snapshots(snaps, max_delay=4, period="week")


def _strata() -> ReportingTriangle:
    rng = np.random.default_rng(3)
    pmf = np.tile([0.3, 0.3, 0.2, 0.1, 0.05, 0.03, 0.01, 0.005, 0.005], (40, 1))
    frames = []
    for name, lam in (("north", 6.0), ("south", 2.0)):
        df, _, _ = simulate_line_list(rng, np.full(40, lam), pmf)
        frames.append(df.assign(region=name))
    import pandas as pd

    return ReportingTriangle.from_line_list(pd.concat(frames), event_date="event",
                                            report_date="report", stratum="region",
                                            now="2020-02-09", max_delay=8)


CASES = {
    "hus hazard drift": (_hus, Nowcast()),
    "hus lognormal drift": (_hus, Nowcast(delay="lognormal")),
    "hus hazard fixed delay": (_hus, Nowcast(delay_drift=0.0)),
    "hus knots 1": (_hus, Nowcast(delay_knots=1)),
    "snapshot lognormal": (_snapshots, Nowcast(delay="lognormal", delay_median=(2.0, 8.0))),
    "snapshot ranges hazard": (_snapshot_ranges, Nowcast()),
    "two strata": (_strata, Nowcast(intensity_drift=0.3)),
    "no delay": (lambda: _hus(0), Nowcast()),
}


@pytest.mark.parametrize("case", list(CASES))
def test_kernel_equals_the_pymc_density(case):
    make, model = CASES[case]
    tri = make()
    kernel = model.density_kernel(tri)
    pm_model = model.build_model(tri)
    # PyTensor's Python implementations: no C compilation for five evaluations
    logp = pm_model.compile_logp(mode="FAST_COMPILE")
    dlogp = pm_model.compile_dlogp(mode="FAST_COMPILE")
    start = pm_model.initial_point()
    names = [v.name for v in pm_model.value_vars]
    shapes = [np.shape(start[n]) for n in names]
    assert kernel.n_dim == sum(int(np.prod(s)) for s in shapes)
    rng = np.random.default_rng(0)
    diffs, grads = [], []
    scale = 1.0
    for i in range(5):
        x = kernel.initial_point(i) + rng.normal(0.0, 0.3, kernel.n_dim)
        point, o = {}, 0
        for n, s in zip(names, shapes, strict=True):
            size = int(np.prod(s))
            point[n] = x[o:o + size].reshape(s)
            o += size
        g = np.zeros(kernel.n_dim)
        ours = nk.logp_grad(x, g, kernel.data)
        ref = float(logp(point))
        scale = max(scale, abs(ref))
        diffs.append(ours - ref)
        grads.append((g, dlogp(point)))
    # the same constant everywhere (the kernel drops normalising constants), to rounding:
    # PyTensor's Python implementations (FAST_COMPILE) differ from its C ones by ~5e-9 of
    # the density on sharply peaked lognormal delays; the kernel equals the C ones there
    np.testing.assert_allclose(diffs, diffs[0], rtol=0, atol=1e-8 * scale)
    for g, ref in grads:
        np.testing.assert_allclose(g, ref, rtol=1e-8, atol=1e-8)


def test_derive_gives_the_pymc_deterministics():
    """delay_pmf, intensity and dispersion of a draw equal the PyMC model's deterministics,
    and derive() gives every declared variable in its declared shape, draw by draw."""
    tri = _hus()
    model = Nowcast()
    kernel = model.density_kernel(tri)
    pm_model = model.build_model(tri)
    x = kernel.initial_point(7)
    x2 = kernel.initial_point(8)
    both = nk.derive(np.stack([x, x2])[None], kernel.data)  # (chain 1, draw 2, n_dim)
    assert set(both) == set(kernel.names)
    for n, s in zip(kernel.names, kernel.shapes, strict=True):
        assert both[n].shape == (1, 2, *s), n
    values = {n: v[0, 0] for n, v in both.items()}
    # each draw is derived on its own: the second equals a derivation of it alone
    alone = nk.derive(x2[None, None], kernel.data)
    for n in kernel.names:
        np.testing.assert_array_equal(both[n][0, 1], alone[n][0, 0])
    point, o = {}, 0
    for v in pm_model.value_vars:
        size = int(np.prod(pm_model.initial_point()[v.name].shape))
        point[v.name] = x[o:o + size].reshape(pm_model.initial_point()[v.name].shape)
        o += size
    import pytensor

    outs = pm_model.replace_rvs_by_values([pm_model["delay_pmf"], pm_model["intensity"],
                                           pm_model["dispersion"]])
    fn = pytensor.function(pm_model.value_vars, outs, on_unused_input="ignore",
                           mode="FAST_COMPILE")
    ref = fn(*[point[v.name] for v in pm_model.value_vars])
    np.testing.assert_allclose(values["delay_pmf"], ref[0], rtol=1e-10)
    np.testing.assert_allclose(values["intensity"], ref[1], rtol=1e-10)
    np.testing.assert_allclose(values["dispersion"], ref[2], rtol=1e-10)
    np.testing.assert_allclose(values["delay_pmf"].sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.slow
def test_kernel_and_pymc_sampler_agree_on_the_hus_nowcast():
    """Both samplers target one posterior: medians of the recent eventual counts agree within
    Monte Carlo error (4 x 300 draws each; a difference of 4 SE of the median fails,
    false-failure rate about 1e-4 per day)."""
    tri = _hus()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = Nowcast().fit(tri, draws=300, tune=300, chains=4, random_seed=2)
        b = Nowcast().fit(tri, draws=300, tune=300, chains=4, random_seed=2,
                          nuts_sampler="pymc")
    assert a.tree.attrs["nuts_sampler"] == "nutpie" and b.tree.attrs["nuts_sampler"] == "pymc"
    ea = a.posterior["eventual"].isel(stratum=0, period=slice(-10, -2))
    eb = b.posterior["eventual"].isel(stratum=0, period=slice(-10, -2))
    da = ea.stack(s=("chain", "draw")).values
    db = eb.stack(s=("chain", "draw")).values
    for ra, rb in zip(da, db, strict=True):
        se = 1.2533 * np.hypot(ra.std(), rb.std()) / np.sqrt(1200 / 4)  # ESS ~ n/4
        assert abs(np.median(ra) - np.median(rb)) <= 4 * se + 1

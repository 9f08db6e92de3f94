"""The hand-written excess log density equals the PyMC model's, value for value.

``ExcessBayes`` samples with nutpie through Numba callbacks written by hand
(``models/_excess_kernel.py``); the PyMC model (``build_model``) is the
reference.  These checks are exact: at random points of the unconstrained
space, the kernel's log density (normalising constants included) and gradient
must equal PyTensor's compiled ``logp``/``dlogp`` to rounding (rtol 1e-10 on
the log density, a few 1e-11 expected from summation order; 1e-8 on the
gradient), and the expanded draws must equal PyMC's own constrained values
and deterministics.  A wrong sign, a missing Jacobian, a dropped cell or a
permuted block fails by many orders of magnitude.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from casualty_models.datasets import load_death_table
from casualty_models.models import _excess_kernel as K
from casualty_models.models.excess_bayes import (
    ExcessBayes,
    excess_arrays,
    simulate_excess_tables,
)


@pytest.fixture(scope="module")
def rosstat():
    return load_death_table()


def _case(rosstat, case):
    if case == "national":
        return excess_arrays(rosstat), ExcessBayes()
    # zeros (Chukotka), a flagged baseline year (Krasnoyarsk 2016), big counts (Moscow),
    # and a second, simulated replicate table on the rep axis
    regions = ["Москва", "Чукотский АО", "Красноярский край"]
    real = excess_arrays(rosstat, regions=regions, baseline=(2013, 2019))
    sim, _ = simulate_excess_tables(1, n_regions=3, female_deaths=0.5, excess=1.0,
                                    baseline_years=real.baseline_years, years=real.years,
                                    rng=np.random.default_rng(4))
    arrays = replace(real, baseline=np.concatenate([real.baseline, sim.baseline]),
                     target=np.concatenate([real.target, sim.target]),
                     use=np.concatenate([real.use, sim.use]))
    b = arrays.baseline
    assert not arrays.use.all() and (b[..., 0] == 0).any() and (b[..., 1] == 0).any()
    assert (b.sum(axis=-1) == 0).any()  # cells with no deaths at all
    return arrays, ExcessBayes(between_region_sd=0.2, dispersion_prior=(6.0, 1.5),
                               level_prior=(0.5, 2.0), trend_prior_sd=0.3)


def _point(layout, x):
    out, o = {}, 0
    for name, shape in layout:
        size = int(np.prod(shape))
        out[name] = x[o:o + size].reshape(shape)
        o += size
    assert o == x.size
    return out


@pytest.mark.parametrize("case", ["national", "regions and replicates"])
def test_kernel_equals_pymc_log_density_gradient_and_values(rosstat, case):
    arrays, model = _case(rosstat, case)
    kernel = model.density_kernel(arrays)
    pm_model = model.build_model(arrays)
    R, G, A = arrays.baseline.shape[:3]
    layout = K.value_layout(R, G, A)
    assert [n for n, _ in layout] == [v.name for v in pm_model.value_vars]
    assert kernel.n_dim == sum(int(np.prod(s)) for _, s in layout)
    values = pm_model.unobserved_value_vars
    # one compiled function (compiling PyTensor graphs is what this module costs)
    fn = pm_model.compile_fn([pm_model.logp(), pm_model.dlogp(), *values],
                             inputs=pm_model.value_vars, point_fn=False,
                             on_unused_input="ignore", mode="FAST_COMPILE")
    rng = np.random.default_rng(123)
    for i in range(5):
        x = kernel.initial_point(i) + rng.normal(0.0, 0.5, kernel.n_dim)
        point = _point(layout, x)
        want_lp, want_grad, *want_values = fn(*[point[n] for n, _ in layout])
        lp, grad, status = K.evaluate(kernel.data, x)
        assert status == 0
        np.testing.assert_allclose(lp, want_lp, rtol=1e-10, err_msg=f"{case} logp")
        np.testing.assert_allclose(grad, want_grad, rtol=1e-8,
                                   atol=1e-8 * np.abs(want_grad).max(),
                                   err_msg=f"{case} gradient")
        ref = dict(zip([v.name for v in values], want_values, strict=True))
        out, o = K.expand(kernel.data, x, kernel.n_expanded), 0
        for var, shape in zip(kernel.names, kernel.shapes, strict=True):
            size = int(np.prod(shape))
            np.testing.assert_allclose(out[o:o + size].reshape(shape), ref[var], rtol=1e-13,
                                       err_msg=var)
            assert kernel.dims[var][0] == "rep" and len(kernel.dims[var]) == len(shape)
            o += size
        assert o == out.size


def test_kernel_callbacks_are_independent_of_the_data(rosstat):
    """Other counts, same callbacks: the data array carries the whole layout."""
    arrays = excess_arrays(rosstat)
    a = ExcessBayes().density_kernel(arrays)
    b = ExcessBayes(level_prior=(0.0, 3.0)).density_kernel(arrays)
    assert a.logp is b.logp and a.expand is b.expand
    assert a.data[0] == a.data.size and a.data.dtype == np.float64
    x = a.initial_point(1)
    # only the level-mean prior differs: its log density and gradient in that coordinate
    la, ga, _ = K.evaluate(a.data, x)
    lb, gb, _ = K.evaluate(b.data, x)
    mu = x[0]
    want = (-0.5 * ((mu - 1.0) / 1.0) ** 2 - np.log(1.0)) - (-0.5 * (mu / 3.0) ** 2 - np.log(3.0))
    np.testing.assert_allclose(la - lb, want, rtol=1e-9)
    np.testing.assert_allclose(ga[0] - gb[0], -(mu - 1.0) + mu / 9.0, rtol=1e-9)
    np.testing.assert_array_equal(ga[1:], gb[1:])
    # starts are deterministic in the seed and differ between chains
    np.testing.assert_array_equal(a.initial_point(3), a.initial_point(3))
    assert not np.array_equal(a.initial_point(3), a.initial_point(4))


def test_joint_lgamma_digamma_matches_scipy():
    """The shared Stirling series (from x = 10) and the direct branch (below) agree with SciPy."""
    from scipy.special import digamma, gammaln

    xs = np.concatenate([np.logspace(-6, 1, 60), np.linspace(9.5, 10.5, 41),
                         np.logspace(1, 9, 120)])
    got = np.array([K._lgamma_digamma(x) for x in xs])
    np.testing.assert_allclose(got[:, 0], gammaln(xs), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(got[:, 1], digamma(xs), rtol=1e-13, atol=1e-13)


def test_kernel_reports_overflow_instead_of_raising(rosstat):
    """Far out in the tails (a concentration of e^-800 = 0) the callback returns a status."""
    kernel = ExcessBayes().density_kernel(excess_arrays(rosstat))
    x = kernel.initial_point(0)
    x[2] = -800.0  # dispersion_mean: every kappa underflows to 0
    lp, grad, status = K.evaluate(kernel.data, x)
    assert status in (3, 4) and not (np.isfinite(lp) and np.isfinite(grad).all())
    x[2] = 7.0
    assert K.evaluate(kernel.data, x)[2] == 0

"""The log-linear model's hand-written Numba log density against PyTensor's autodiff.

The default NUTS path (nutpie) samples ``LogLinear.density_kernel``; the PyMC model
(``_pymc_model``) is the reference.  At random points the two log densities differ by one
constant and their gradients agree to rounding: one stratum with an interaction, strata
with independent terms, and partial pooling (effect means and between-strata sds).
"""

from __future__ import annotations

import numpy as np
import pytest

from casualty_models import LogLinear
from casualty_models.containers import pattern_label
from casualty_models.datasets import load_capture_table
from casualty_models.models import _loglinear_kernel as lk
from casualty_models.models._loglinear_fit import design
from casualty_models.models._loglinear_terms import term_name

CASES = {
    "gaza, one interaction": (LogLinear(["hospital:survey"]), ("gaza", None)),
    "strata, independent": (LogLinear(["S1:S2"]), ("spina_bifida_ethnicity", "ethnicity")),
    "strata, partial": (LogLinear(["S1:S2"], pooling="partial"),
                        ("spina_bifida_ethnicity", "ethnicity")),
}


def _inputs(case):
    model, (name, stratum) = CASES[case]
    table = load_capture_table(name, stratum=stratum)
    terms = model.terms(table.lists)
    pats, y = table.dense()
    X = design(pats, terms)
    names = ["(Intercept)"] + [term_name(t, table.lists) for t in terms]
    kernel = model.density_kernel(X, y, terms, list(table.strata), names)
    pm_model = model._pymc_model(X, y, terms, list(table.strata), names,
                                 [pattern_label(p) for p in pats])
    return kernel, pm_model


def _point(pm_model, x):
    start = pm_model.initial_point()
    point, o = {}, 0
    for v in pm_model.value_vars:
        shape = np.shape(start[v.name])
        size = int(np.prod(shape))
        point[v.name] = x[o:o + size].reshape(shape)
        o += size
    assert o == x.size
    return point


@pytest.mark.parametrize("case", list(CASES))
def test_kernel_equals_the_pymc_density(case):
    kernel, pm_model = _inputs(case)
    logp = pm_model.compile_logp(mode="FAST_COMPILE")
    dlogp = pm_model.compile_dlogp(mode="FAST_COMPILE")
    rng = np.random.default_rng(1)
    diffs = []
    for i in range(5):
        x = kernel.initial_point(i) + rng.normal(0.0, 0.5, kernel.n_dim)
        point = _point(pm_model, x)
        g = np.zeros(kernel.n_dim)
        diffs.append(lk.logp_grad(x, g, kernel.data) - float(logp(point)))
        np.testing.assert_allclose(g, dlogp(point), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(diffs, diffs[0], rtol=0, atol=1e-9 * max(1.0, abs(diffs[0])))


@pytest.mark.parametrize("case", ["gaza, one interaction", "strata, partial"])
def test_derive_gives_the_pymc_deterministics(case):
    kernel, pm_model = _inputs(case)
    x = kernel.initial_point(3)
    derived = lk.derive(x[None, None], kernel.data)
    assert set(derived) == set(kernel.names)
    import pytensor

    names = [n for n in ("beta", "effect_sd") if n in kernel.names]
    outs = pm_model.replace_rvs_by_values([pm_model[n] for n in names])
    fn = pytensor.function(pm_model.value_vars, outs, mode="FAST_COMPILE",
                           on_unused_input="ignore")
    point = _point(pm_model, x)
    ref = dict(zip(names, fn(*[point[v.name] for v in pm_model.value_vars]), strict=True))
    for n, s in zip(kernel.names, kernel.shapes, strict=True):
        assert derived[n].shape == (1, 1, *s), n
    for n in names:
        np.testing.assert_allclose(derived[n][0, 0], ref[n], rtol=1e-12, err_msg=n)

"""Under-reporting's hand-written Numba log density against PyTensor's autodiff of the PyMC model.

The default NUTS path (nutpie) samples ``UnderReporting.density_kernel``; the PyMC model
(``_pymc_model``) is the reference.  At random points the two log densities differ by one
constant and their gradients agree to rounding, for every pooling, with and without an
audit, with a fixed or a Beta between-strata share.
"""

from __future__ import annotations

import numpy as np
import pytest

import casualty_models as cm
from casualty_models.models import _underreporting_kernel as uk

AUDIT = dict(audit_found=[180, 0, 40], audit_checked=[200, 0, 60])
CASES = {
    "one stratum, audit": (cm.UnderReporting(), cm.ConfirmedCounts([45287], audit_found=[90],
                                                                   audit_checked=[150])),
    "one stratum, no audit": (cm.UnderReporting(sampler="nuts"), cm.ConfirmedCounts([45287])),
    "shared": (cm.UnderReporting(pooling="shared"),
               cm.ConfirmedCounts([900, 600, 300], strata=("a", "b", "c"), **AUDIT)),
    "independent": (cm.UnderReporting(pooling="independent"),
                    cm.ConfirmedCounts([900, 600, 300], strata=("a", "b", "c"), **AUDIT)),
    "partial": (cm.UnderReporting(pooling="partial"),
                cm.ConfirmedCounts([900, 600, 300], strata=("a", "b", "c"), **AUDIT)),
    "partial, fixed share": (cm.UnderReporting(pooling="partial", between_strata_share=0.3),
                             cm.ConfirmedCounts([900, 600, 300], strata=("a", "b", "c"),
                                                **AUDIT)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_kernel_equals_the_pymc_density(case):
    model, counts = CASES[case]
    kernel = model.density_kernel(counts)
    pm_model = model._pymc_model(counts)
    logp = pm_model.compile_logp(mode="FAST_COMPILE")
    dlogp = pm_model.compile_dlogp(mode="FAST_COMPILE")
    start = pm_model.initial_point()
    names = [v.name for v in pm_model.value_vars]
    shapes = [np.shape(start[n]) for n in names]
    assert kernel.n_dim == sum(int(np.prod(s)) for s in shapes)
    rng = np.random.default_rng(1)
    diffs = []
    for i in range(5):
        x = kernel.initial_point(i) + rng.normal(0.0, 0.5, kernel.n_dim)
        point, o = {}, 0
        for n, s in zip(names, shapes, strict=True):
            size = int(np.prod(s))
            point[n] = x[o:o + size].reshape(s)
            o += size
        g = np.zeros(kernel.n_dim)
        diffs.append(uk.logp_grad(x, g, kernel.data) - float(logp(point)))
        np.testing.assert_allclose(g, dlogp(point), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(diffs, diffs[0], rtol=0, atol=1e-9 * max(1.0, abs(diffs[0])))


def test_derive_gives_the_pymc_deterministics():
    model = cm.UnderReporting(pooling="partial")
    counts = cm.ConfirmedCounts([900, 600, 300], strata=("a", "b", "c"), **AUDIT)
    kernel = model.density_kernel(counts)
    pm_model = model._pymc_model(counts)
    x = kernel.initial_point(3)
    derived = uk.derive(x[None, None], kernel.data)
    assert set(derived) == set(kernel.names)
    import pytensor

    names = ["coverage", "coverage_mean", "between_strata_sd", "between_strata_share"]
    outs = pm_model.replace_rvs_by_values([pm_model[n] for n in names])
    fn = pytensor.function(pm_model.value_vars, outs, mode="FAST_COMPILE",
                           on_unused_input="ignore")
    sizes = [int(np.prod(pm_model.initial_point()[v.name].shape)) for v in pm_model.value_vars]
    args = np.split(x, np.cumsum(sizes)[:-1])
    args = [a.reshape(pm_model.initial_point()[v.name].shape)
            for a, v in zip(args, pm_model.value_vars, strict=True)]
    ref = dict(zip(names, fn(*args), strict=True))
    got = {}
    for n, s in zip(kernel.names, kernel.shapes, strict=True):
        assert derived[n].shape == (1, 1, *s), n
        got[n] = derived[n][0, 0]
    for n in names:
        np.testing.assert_allclose(got[n], ref[n], rtol=1e-12, err_msg=n)


def test_a_kernel_names_its_draws_one_way():
    """A DensityKernel takes exactly one of a C expansion callback and a Python derive."""
    from casualty_models.models._base import DensityKernel

    kernel = cm.UnderReporting(sampler="nuts").density_kernel(cm.ConfirmedCounts([100]))
    fields = dict(n_dim=kernel.n_dim, logp=kernel.logp, data=kernel.data, names=kernel.names,
                  shapes=kernel.shapes, dims=kernel.dims, coords=kernel.coords,
                  initial_point=kernel.initial_point)
    with pytest.raises(ValueError, match="exactly one of expand and derive"):
        DensityKernel(**fields)
    with pytest.raises(ValueError, match="exactly one of expand and derive"):
        DensityKernel(**fields, expand=object(), derive=uk.derive)

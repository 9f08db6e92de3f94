"""The expansion callback of kernels that name their draws in Python (``derive``).

It copies the unconstrained draw: nutpie stores it, and
:func:`~casualty_models.models._base.run_kernel_nuts` hands the draws to the
kernel's ``derive``.  Its own module so that it compiles (once, cached on
disk) only when such a kernel is first sampled.
"""

from __future__ import annotations

from numba import carray, cfunc

from ._base import KERNEL_EXPAND_SIGNATURE


@cfunc(KERNEL_EXPAND_SIGNATURE, cache=True, nogil=True)
def identity_expand(dim, n_out, x_, out_, blob_):
    """C callback for nutpie: ``out = x``."""
    x = carray(x_, (dim,))
    out = carray(out_, (n_out,))
    for i in range(dim):
        out[i] = x[i]
    return 0

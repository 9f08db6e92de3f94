"""Every ``>>>`` example in the library's docstrings runs and gives the output shown."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil

import pytest

import casualty_models


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(casualty_models.__path__, "casualty_models."):
        if info.name.endswith("__main__"):
            continue
        spec = importlib.util.find_spec(info.name)
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            continue
        with open(spec.origin, encoding="utf-8") as fh:
            if ">>>" in fh.read():
                names.append(info.name)
    return sorted(names)


MODULES = _modules_with_examples()


def test_the_validation_vocabulary_has_examples():
    # the list is found by reading the sources; make sure it is not silently empty
    assert "casualty_models.validation" in MODULES
    assert "casualty_models.priors" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    mod = importlib.import_module(name)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"

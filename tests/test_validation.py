"""The validation vocabulary: one error type and one message shape for every setting."""

from __future__ import annotations

import numpy as np
import pytest

from casualty_models.errors import CasualtyModelsError, ConfigurationError, PriorError
from casualty_models.models._base import check_sampling_args
from casualty_models.models.bma import DecomposableBMA
from casualty_models.models.loglinear import LogLinear
from casualty_models.validation import check_choice, check_int, check_number, check_seed


def test_configuration_error_is_a_library_error():
    assert issubclass(ConfigurationError, CasualtyModelsError)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: check_int("classes", 2.0, low=1), r"classes=2\.0 is not allowed: expected an integer >= 1"),
    (lambda: check_int("classes", True, low=1), r"classes=True is not allowed"),
    (lambda: check_int("k", 7, low=2, high=6), r"k=7 is not allowed: expected an integer between 2 and 6"),
    (lambda: check_number("delta", float("nan"), low=0, low_open=True), r"delta=nan .* a number > 0"),
    (lambda: check_number("level", 1, low=0, high=1, low_open=True, high_open=True),
     r"level=1 is not allowed: expected a number in \(0, 1\)"),
    (lambda: check_number("x", "3"), r"x='3' is not allowed: expected a finite number"),
    (lambda: check_choice("method", ["a"], ("a", "b")), r"method=\['a'\] is unknown"),
    (lambda: check_seed(1.5), r"seed=1\.5 is not allowed"),
])
def test_messages_name_parameter_value_expectation_and_fix(call, match):
    with pytest.raises(ConfigurationError, match=match) as info:
        call()
    assert "Fix:" in str(info.value)


def test_values_come_back_normalised():
    assert check_int("n", np.int64(3)) == 3 and type(check_int("n", np.int64(3))) is int
    assert check_seed(None) is None and check_seed(np.int32(4)) == 4


def test_model_settings_use_the_vocabulary():
    with pytest.raises(ConfigurationError, match=r"pooling='pooled' is unknown"):
        LogLinear(pooling="pooled")
    with pytest.raises(ConfigurationError, match=r"level=1\.5 is not allowed"):
        LogLinear(level=1.5)
    with pytest.raises(ConfigurationError, match=r"n_max=0 is not allowed"):
        DecomposableBMA(n_max=0)
    with pytest.raises(PriorError, match=r"delta=-1 is not allowed"):
        DecomposableBMA(delta=-1)
    with pytest.raises(ConfigurationError, match=r"random_seed=-1 is not allowed"):
        check_sampling_args(10, 1, random_seed=-1)
    with pytest.raises(ConfigurationError, match=r"tune=-1 is not allowed"):
        check_sampling_args(10, 1, -1)

"""The one rule for numbers (qnext_lab/checks.py): numpy and torch integers yes; bools, floats, strings no."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qnext_lab.checks import as_float, as_int, as_int_list, is_int


@pytest.mark.parametrize("value", [3, np.int64(3), np.int8(3), torch.tensor(3), torch.tensor(3, dtype=torch.int16)])
def test_integers_of_every_library_are_accepted(value):
    assert as_int(value, "n") == 3 and type(as_int(value, "n")) is int and is_int(value)


@pytest.mark.parametrize("value", [True, np.True_, torch.tensor(True), 3.0, 1.7, np.float32(2), "3", None, [3]])
def test_non_integers_are_refused_not_truncated(value):
    with pytest.raises(TypeError, match="n must be an integer"):
        as_int(value, "n")
    assert not is_int(value)


def test_bounds_are_inclusive_and_named():
    assert as_int(0, "layer", low=0, high=3) == 0 and as_int(3, "layer", low=0, high=3) == 3
    with pytest.raises(ValueError, match=r"layer must be in \[0, 3\], got 4; the trace has 4 layers"):
        as_int(4, "layer", low=0, high=3, hint="; the trace has 4 layers")
    with pytest.raises(ValueError, match="top_k must be >= 1, got 0"):
        as_int(0, "top_k", low=1)


def test_lists_accept_ranges_arrays_and_tensors_and_name_the_bad_item():
    assert as_int_list(2, "layers") == [2]
    assert as_int_list(range(3), "layers") == [0, 1, 2]
    assert as_int_list(np.array([1, 2]), "layers") == [1, 2]
    assert as_int_list(torch.tensor([4]), "layers") == [4]
    with pytest.raises(TypeError, match=r"layers\[1\] must be an integer"):
        as_int_list([1, 2.0], "layers")
    with pytest.raises(TypeError, match="an integer or a list"):
        as_int_list("12", "layers")
    with pytest.raises(ValueError, match="1-D"):
        as_int_list(torch.zeros(2, 2, dtype=torch.long), "layers")


def test_floats_are_finite_and_bounded():
    assert as_float(1, "eps") == 1.0 and as_float(np.float32(0.5), "eps") == 0.5
    assert as_float(torch.tensor(0.25), "eps") == 0.25
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="eps must be a"):
            as_float(bad, "eps")
    assert as_float(math.inf, "eps", finite=False) == math.inf
    with pytest.raises(ValueError, match="must be a number, got NaN"):
        as_float(math.nan, "eps", finite=False)
    with pytest.raises(TypeError):
        as_float(True, "eps")
    with pytest.raises(TypeError):
        as_float("1e-6", "eps")
    with pytest.raises(ValueError, match=r"eps must be >= 0.0"):
        as_float(-1, "eps", low=0.0)

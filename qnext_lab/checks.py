"""The one rule for numbers a user (or a file, or a model's tool call) hands the kit, below every layer.

Integers: Python, numpy and torch integers are accepted (``operator.index``); bools, floats (even ``2.0``)
and strings are refused, never truncated (``0.7`` is not layer 0, ``True`` is not 1). Floats: any real number
but bools, finite unless said otherwise. Bounds are inclusive and named in the message, which also says what
to do. Knows nothing about models, traces or widgets; imports only numpy and torch (to recognise their scalars).

    layer = as_int(layer, "layer", low=0)
    top_k = as_int(top_k, "top_k", low=1, high=num_experts)
    eps = as_float(eps, "rms_norm_eps", low=0.0)
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

__all__ = ["as_int", "as_int_list", "as_float", "is_int"]


def _is_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, torch.Tensor):
        return value.dtype == torch.bool
    return isinstance(value, np.bool_)


def is_int(value: Any) -> bool:
    """True for an integral scalar the kit accepts (int, numpy or torch integer; not bool)."""
    if _is_bool(value):
        return False
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def _bounds(what: str, value: float, low: float | None, high: float | None, hint: str) -> None:
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            bound = f"in [{low}, {high}]"
        elif low is not None:
            bound = f">= {low}"
        else:
            bound = f"<= {high}"
        raise ValueError(f"{what} must be {bound}, got {value}{hint}")


def as_int(value: Any, what: str, *, low: int | None = None, high: int | None = None, hint: str = "") -> int:
    """``value`` as an int in [low, high]; TypeError for a non-integer, ValueError out of bounds.

    ``hint`` is appended to either message (e.g. "; the trace has 4 layers").
    """
    if _is_bool(value):
        raise TypeError(f"{what} must be an integer, got the bool {value!r}{hint}")
    try:
        out = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{what} must be an integer (int, numpy or torch integer), got {type(value).__name__} {value!r:.80}{hint}"
        ) from None
    _bounds(what, out, low, high, hint)
    return out


def as_int_list(
    values: Any, what: str, *, low: int | None = None, high: int | None = None, hint: str = ""
) -> list[int]:
    """One integer or an iterable of them (a list, tuple, range, 1-D array or tensor) as a list of ints."""
    if is_int(values):
        return [as_int(values, what, low=low, high=high, hint=hint)]
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{what} must be an integer or a list of integers, got {type(values).__name__}{hint}")
    if isinstance(values, torch.Tensor) and values.dim() != 1:
        raise ValueError(f"{what} must be 1-D, got a tensor of shape {tuple(values.shape)}{hint}")
    return [as_int(v, f"{what}[{i}]", low=low, high=high, hint=hint) for i, v in enumerate(values)]


def as_float(
    value: Any,
    what: str,
    *,
    low: float | None = None,
    high: float | None = None,
    finite: bool = True,
    hint: str = "",
) -> float:
    """``value`` as a float in [low, high] (finite unless ``finite=False``); bools and strings refused."""
    if _is_bool(value):
        raise TypeError(f"{what} must be a number, got the bool {value!r}{hint}")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise TypeError(f"{what} must be a number, got a tensor of shape {tuple(value.shape)}{hint}")
        value = value.item()
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number, got {type(value).__name__} {value!r:.80}{hint}")
    out = float(value)
    if finite and not math.isfinite(out):
        raise ValueError(f"{what} must be a finite number, got {out}{hint}")
    if math.isnan(out):
        raise ValueError(f"{what} must be a number, got NaN{hint}")
    _bounds(what, out, low, high, hint)
    return out

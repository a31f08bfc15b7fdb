"""The vocabulary of the evaluation report, shared by its writer (``eval``) and its reader (``card``).

Modes are columns: ``thinking``, ``non_thinking``, budgets ``bN`` (by N), ``two_turn``, then the tool families'
``no_tools_*`` modes. A value the report lacks (None in JSON, NaN in a DataFrame) is *missing*. Knows nothing
about models, generation or markdown.

    columns = ordered_modes(["b16", "non_thinking", "thinking", "b4"])   # thinking, non_thinking, b4, b16
    missing(float("nan")), missing(None), missing(0.0)                    # True, True, False
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["missing", "ordered_modes"]


def _is_budget(mode: str) -> bool:
    return mode.startswith("b") and mode[1:].isdigit()


def ordered_modes(modes: Iterable[str]) -> list[str]:
    """``modes`` (each once) in the report's column order; modes it does not know keep their order, last."""
    modes = list(dict.fromkeys(modes))
    budgets = sorted((m for m in modes if _is_budget(m)), key=lambda m: int(m[1:]))
    head = ["thinking", "non_thinking", *budgets, "two_turn"]
    tools = [m for m in modes if m.startswith("no_tools")]
    known = [m for m in head if m in modes] + sorted(tools, key=lambda m: (m != "no_tools_thinking", m))
    return known + [m for m in modes if m not in known]


def missing(value: Any) -> bool:
    """True for a value the report lacks: None or a float NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))

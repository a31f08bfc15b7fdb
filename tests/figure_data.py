"""Small hand-made frames the figure tests draw (one copy for tests/figures and tests/browser)."""

from __future__ import annotations

import pandas as pd


def sweep_frame() -> pd.DataFrame:
    """A budget sweep as ``sweep_budget`` returns it: four thinking budgets (one unlimited) and non-thinking."""
    return pd.DataFrame(
        {
            "budget": pd.array([0, 4, 16, None, None], dtype="Int64"),
            "mode": ["thinking"] * 4 + ["non-thinking"],
            "accuracy": [0.1, 0.4, 0.8, 0.9, 0.2],
            "mean_thinking_tokens": [0, 4, 12, 14, 0],
        }
    )

"""The check every table-drawing builder makes first: is this the DataFrame of the call it draws?

A builder that draws a metric's or a sweep's table names the call that makes it and the columns it reads; a
table of another call (or no DataFrame at all) is refused with that call's name, so the message says what to
pass. Knows nothing about plotly or what the columns mean.

    frame = need_frame(frame, ("layer", "share"), "expert_load")
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = ["need_frame"]


def need_frame(frame: object, columns: Sequence[str], call: str) -> pd.DataFrame:
    """``frame`` if it is a DataFrame with ``columns``; else TypeError / ValueError naming ``call``."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected the DataFrame returned by {call}, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"this is not the DataFrame of {call}: missing columns {missing}")
    return frame

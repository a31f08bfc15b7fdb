"""The words on a figure: a builder's English ``LABELS`` with a view's language laid over them.

Each builder that writes words on its figure keeps a ``LABELS`` table (key -> English text, ``{name}`` slots
for values); a view passes its language's words as ``words=`` (``widgets.i18n.figure_labels``) and keys it does
not give stay English. A key the builder does not know is refused, so a typo never passes silently. Knows
nothing about plotly, widgets or languages.

    words = with_words(LABELS, {"expert": "Experte"})   # every key of LABELS, "expert" in German
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["with_words"]


def with_words(labels: Mapping[str, str], words: Mapping[str, str] | None) -> dict[str, str]:
    """``labels`` with ``words`` laid over them; a key of ``words`` not in ``labels`` is a ValueError."""
    unknown = set(words or {}) - set(labels)
    if unknown:
        raise ValueError(f"unknown label keys {sorted(unknown)}; expected some of {sorted(labels)}")
    return {**labels, **(words or {})}

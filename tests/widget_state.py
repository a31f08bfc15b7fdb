"""What a saved notebook's widget state must hold for the notebook to show its views when reopened: every widget
model its outputs (and the outputs inside its Output widgets, and its widgets' children) refer to, each in its
final state. Used by the headless notebook run (tests/test_notebooks.py) and the browser test; pure, reads the
notebook's JSON only.

    missing_widget_models(book)   # [] when every model an output shows is in the saved state
    busy_statuses(book)           # [] when no saved view still says "generating…" or "working…"
"""

from __future__ import annotations

import re
from typing import Any

STATE = "application/vnd.jupyter.widget-state+json"
VIEW = "application/vnd.jupyter.widget-view+json"


def saved_models(book: Any) -> dict[str, Any]:
    """model id -> saved model (``metadata.widgets``), empty when the notebook was saved without widget state."""
    return dict(book.get("metadata", {}).get("widgets", {}).get(STATE, {}).get("state", {}))


def missing_widget_models(book: Any) -> list[str]:
    """Model ids that the outputs, the Output widgets' outputs or the widgets' children of a saved notebook refer
    to but its saved widget state lacks: each one renders "Error displaying widget: model not found"."""
    models = saved_models(book)
    wanted: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str) and value.startswith("IPY_MODEL_"):
            wanted.add(value.removeprefix("IPY_MODEL_"))
        elif isinstance(value, dict):
            view = value.get(VIEW)
            if isinstance(view, dict) and "model_id" in view:
                wanted.add(view["model_id"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk([cell.get("outputs", []) for cell in book.get("cells", [])])
    walk(models)
    return sorted(wanted - set(models))


def busy_statuses(book: Any) -> list[str]:
    """The text of every saved label or HTML widget that still announces work in progress (ends in "…")."""
    busy = []
    for model in saved_models(book).values():
        value = model.get("state", {}).get("value")
        if model.get("model_name") in ("HTMLModel", "LabelModel") and isinstance(value, str):
            plain = re.sub(r"<[^>]+>", "", value).strip()
            if plain.endswith("…"):
                busy.append(plain[-80:])
    return busy

"""lab(): one dashboard for a prompt the user types: both thinking modes, the budget, the routing.

A prompt box and an "Ask" button over four tabs: ``ThinkCompare`` (thinking vs non-thinking, streaming,
with routing and the expert-use difference), ``BudgetTuner`` (the live thinking budget, with the
accuracy curve when problems are given), a full ``RoutingHeatmap`` of the thinking run (with the text
coloured by expert) and ``ExpertLab`` (switch experts off and see the answer change). The widgets share one model; a per-model lock runs their generations one at a time.
Knows nothing beyond the widgets it combines.

    import qnext_lab as ql
    model, tok = ql.load("tiny"); ql.lab(model, tok)
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go

from ..figures.escape import escape_text
from ..figures.export import write_html
from .budget_tuner import BudgetTuner
from .closing import close_tree
from .expert_lab import ExpertLab
from .routing_heatmap import RoutingHeatmap
from .think_compare import ThinkCompare

DEFAULT_PROMPT = "What is 478 + 356?"


class Lab(widgets.VBox):
    """The dashboard returned by :func:`lab`; its parts are ``compare``, ``tuner``, ``routing`` and ``experts``."""

    _qnext_closable = True

    def __init__(self, model: Any, tokenizer: Any, prompt: str = DEFAULT_PROMPT, *,
                 problems: Sequence[Any] | None = None, budget: int = 32, max_budget: int = 128,
                 max_new_tokens: int | None = None, **kwargs: Any) -> None:
        self.prompt_box = widgets.Text(value=prompt, description="prompt", layout=widgets.Layout(width="70%"),
                                       continuous_update=False)
        self.ask_button = widgets.Button(description="Ask", button_style="primary", icon="play")
        self.compare = ThinkCompare(model, tokenizer, prompt, max_new_tokens=max_new_tokens, autorun=False,
                                    show_prompt=False)  # the dashboard's prompt box drives it
        self.tuner = BudgetTuner(model, tokenizer, prompt, problems, budget=budget, max_budget=max_budget,
                                 max_new_tokens=max_new_tokens)
        self.routing: RoutingHeatmap | None = None
        self.routing_box = widgets.VBox([widgets.HTML("<i>the routing of the thinking run appears here</i>")])
        self.experts = ExpertLab(model, tokenizer, prompt)  # runs when its own button is pressed
        self.errors = widgets.Output()
        self.tabs = widgets.Tab(children=[self.compare, self.tuner, self.routing_box, self.experts],
                                titles=("thinking vs non-thinking", "thinking budget", "routing", "switch experts off"))
        super().__init__(children=[
            widgets.HTML("<h3 style='margin:4px 0'>qnext-lab</h3>"),
            widgets.HBox([self.prompt_box, self.ask_button]), self.tabs, self.errors,
        ], **kwargs)
        self.ask_button.on_click(lambda _: self.ask(self.prompt_box.value))
        self.prompt_box.observe(lambda change: self.ask(change["new"]), names=["value"])
        self.compare.observe(self._on_compare_done, names=["runs"])
        self.compare.run(prompt)

    def ask(self, prompt: str) -> None:
        """Ask every part the new question (runs in the background)."""
        try:
            if not prompt.strip():
                raise ValueError("type a question in the prompt box first")
            self.compare.run(prompt)
            self.tuner.prompt = prompt
            self.experts.prompt = prompt
        except Exception:  # noqa: BLE001 - shown in the dashboard
            self.errors.append_stderr(traceback.format_exc())

    def _on_compare_done(self, change: dict) -> None:
        gen = self.compare.results[0]
        if gen is None or gen.trace is None:
            return
        if self.routing is None:
            self.routing = RoutingHeatmap(gen.trace, title=f"Routing — {self.compare.sides[0].label}")
            self.routing_box.children = [self.routing]
        else:
            self.routing.set_trace(gen.trace)

    def wait(self, timeout: float = 300.0) -> bool:
        """Block until every part has finished its current work (for scripts and tests)."""
        return self.compare.wait(timeout) and self.tuner.wait(timeout) and self.experts.worker.wait_idle(timeout)

    def close(self) -> None:
        """Close every part (their workers stop; a running generation is cancelled), then the dashboard."""
        for part in (self.compare, self.tuner, self.experts, self.routing):
            if part is not None:
                part.close()
        close_tree(self)
        super().close()

    def to_html(self, path: str | Path) -> Path:
        """Everything on screen as one standalone offline HTML file."""
        parts: list[Any] = [f"<h3>Prompt: {escape_text(self.compare.prompt)}</h3>"]
        for side in self.compare.sides:
            parts.append(f'<div class="qnext-pane"><h3>{escape_text(side.label)}</h3>{side.stats.value}'
                         f"{side.text.value}</div>")
        if self.compare.difference is not None:
            parts.append(go.Figure(self.compare.difference))
        parts += [self.tuner.counts.value, self.tuner.thinking_pane.value, self.tuner.answer_pane.value]
        if self.tuner.curve is not None and self.tuner.sweep is not None:
            parts.append(go.Figure(self.tuner.curve))
        if self.routing is not None:
            parts += [go.Figure(self.routing.heatmap), go.Figure(self.routing.load_bars),
                      self.routing.legend.value + self.routing.text_html()]
        return write_html(path, parts, title="qnext-lab")


def lab(model: Any, tokenizer: Any, prompt: str = DEFAULT_PROMPT, *, problems: Sequence[Any] | None = None,
        budget: int = 32, max_budget: int = 128, max_new_tokens: int | None = None) -> Lab:
    """The qnext-lab dashboard for ``model`` (see :class:`Lab`)."""
    return Lab(model, tokenizer, prompt, problems=problems, budget=budget, max_budget=max_budget,
               max_new_tokens=max_new_tokens)

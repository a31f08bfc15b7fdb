"""ThinkCompare: the same prompt answered two ways, side by side, streaming.

Two panes: by default one model with thinking on and off; or two models (e.g. Qwen3-Next Instruct vs
Thinking) with ``model_b=``. Each pane streams its text as it is generated (thinking greyed, forced budget
text marked), then shows token counts, time and its own :class:`RoutingHeatmap`; below, the expert-use
difference between the two runs. Generation runs on a :class:`LatestWorker`; a new prompt cancels the run
in progress. Knows nothing about how routing is drawn (``figures``) or generated (``thinking``).

    cmp = ThinkCompare(model, tok, "What is 478 + 356?")
    cmp.wait(); cmp.results[0].thinking_tokens, cmp.results[1].thinking_tokens
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
import traitlets

from ..figures.compare import expert_use_difference
from ..figures.escape import escape_text, text_html
from ..figures.export import write_html
from .figure_sync import sync_figure
from .routing_heatmap import RoutingHeatmap
from .worker import LatestWorker

_STREAM_EVERY_S = 0.08  # redraw a streaming pane at most this often
_PANE = ("border:1px solid #ddd;border-radius:4px;padding:6px;font-family:monospace;white-space:normal;"
         "max-height:260px;overflow:auto")


@dataclass
class _Side:
    """One pane: what it runs and the widgets it fills."""

    label: str
    model: Any
    tokenizer: Any
    thinking: bool
    text: widgets.HTML = field(default_factory=lambda: widgets.HTML(layout=widgets.Layout(width="100%")))
    stats: widgets.HTML = field(default_factory=widgets.HTML)
    routing: widgets.VBox = field(default_factory=lambda: widgets.VBox(layout=widgets.Layout(width="100%")))
    heatmap: RoutingHeatmap | None = None
    box: widgets.VBox | None = None


def stream_html(segments: list[tuple[str, bool, str]]) -> str:
    """Escaped HTML of streamed ``(phase, forced, text)`` segments: thinking grey, forced text orange."""
    out = []
    for phase, forced, text in segments:
        body = text_html(text)
        if forced:
            out.append(f'<span class="qnext-forced" style="color:#c05800;font-weight:bold">{body}</span>')
        elif phase == "thinking":
            out.append(f'<span class="qnext-thinking" style="color:#777;font-style:italic">{body}</span>')
        else:
            out.append(f'<span class="qnext-answer">{body}</span>')
    return f'<div style="{_PANE}">{"".join(out) or "&nbsp;"}</div>'


class ThinkCompare(widgets.VBox):
    """Two generations of one prompt side by side (see module docstring)."""

    prompt = traitlets.Unicode("")
    status = traitlets.Unicode("")
    runs = traitlets.Int(0, help="how many runs have been shown (observe it to react to new results)")

    def __init__(self, model: Any, tokenizer: Any, prompt: str, *, model_b: Any = None, tokenizer_b: Any = None,
                 labels: tuple[str, str] | None = None, thinking: tuple[bool, bool] | None = None,
                 budget: int | None = None, max_new_tokens: int | None = None, autorun: bool = True,
                 show_prompt: bool = True, **kwargs: Any) -> None:
        two_models = model_b is not None
        modes = thinking or ((True, True) if two_models else (True, False))
        names = labels or (("model A", "model B") if two_models else ("thinking", "non-thinking"))
        self.sides = [
            _Side(names[0], model, tokenizer, modes[0]),
            _Side(names[1], model_b if two_models else model, tokenizer_b or tokenizer, modes[1]),
        ]
        self.budget, self.max_new_tokens = budget, max_new_tokens
        self.results: list[Any] = [None, None]
        self.worker = LatestWorker(name="qnext-compare")

        self.prompt_box = widgets.Text(value=prompt, description="prompt", layout=widgets.Layout(width="70%"),
                                       continuous_update=False)
        self.run_button = widgets.Button(description="Run both", button_style="primary", icon="play")
        self.status_label = widgets.Label()
        self.difference: go.FigureWidget | None = None  # created with the first result (see figure_sync)
        self.difference_box = widgets.VBox()
        self.difference_box.layout.display = "none"
        self.errors = widgets.Output()
        panes = []
        for side in self.sides:
            side.box = widgets.VBox([widgets.HTML(f"<b>{escape_text(side.label)}</b>"), side.stats, side.text,
                                     side.routing], layout=widgets.Layout(width="50%"))
            panes.append(side.box)
        prompt_row = [widgets.HBox([self.prompt_box, self.run_button])] if show_prompt else []
        super().__init__(children=[*prompt_row, self.status_label, widgets.HBox(panes), self.difference_box,
                                   self.errors], **kwargs)
        self.add_class("qnext-think-compare")
        self.observe(lambda change: setattr(self.status_label, "value", change["new"]), names=["status"])
        self.run_button.on_click(lambda _: self.run(self.prompt_box.value))
        self._syncing_box = False
        self.prompt_box.observe(lambda change: None if self._syncing_box else self.run(change["new"]), names=["value"])
        self.prompt = prompt
        if autorun:
            self.run(prompt)

    # ------------------------------------------------------------------ work
    def run(self, prompt: str | None = None) -> int:
        """Start both generations for ``prompt`` (default: the current one); cancels a run in progress."""
        prompt = self.prompt if prompt is None else prompt
        if not prompt.strip():
            self.status = "type a prompt first"
            return self.worker.ticket
        self.prompt = prompt
        if self.prompt_box.value != prompt:
            self._syncing_box = True  # the box's observer would call run() a second time
            try:
                self.prompt_box.value = prompt
            finally:
                self._syncing_box = False
        ticket = self.worker.ticket + 1
        self.status = "generating…"
        return self.worker.submit(lambda cancel: self._work(prompt, ticket, cancel), on_result=self._show_results,
                                  on_error=self._show_error)

    def _work(self, prompt: str, ticket: int, cancel: threading.Event) -> list[Any]:
        results = []
        for side in self.sides:
            if cancel.is_set():
                return []
            results.append(self._stream_side(side, prompt, ticket, cancel))
        return results

    def _stream_side(self, side: _Side, prompt: str, ticket: int, cancel: threading.Event) -> Any:
        from ..thinking.streaming import stream_generate

        segments: list[tuple[str, bool, str]] = []
        last_draw, started = 0.0, time.perf_counter()
        budget = self.budget if side.thinking else None
        # no model lock here: the stream's own generation thread takes it (holding it here would block that one)
        with stream_generate(side.model, side.tokenizer, prompt, thinking=side.thinking, budget=budget,
                             max_new_tokens=self.max_new_tokens, capture=True) as stream:
            for piece in stream:
                if cancel.is_set():
                    stream.close()
                    return None
                key = (piece.phase, piece.forced)
                if segments and segments[-1][:2] == key:
                    segments[-1] = (*key, segments[-1][2] + piece.text)
                else:
                    segments.append((*key, piece.text))
                now = time.perf_counter()
                if now - last_draw >= _STREAM_EVERY_S and self.worker.is_latest(ticket):
                    last_draw = now
                    side.text.value = stream_html(segments)
                    side.stats.value = (f"thinking {piece.thinking_tokens} · answer {piece.answer_tokens} tokens"
                                        f" · {now - started:.1f} s")
        result = stream.result
        if self.worker.is_latest(ticket):
            side.text.value = stream_html(segments)
        return result

    # ------------------------------------------------------------------ results -> view (worker thread, locked)
    def _show_results(self, results: list[Any]) -> None:
        if len(results) != 2 or any(r is None for r in results):
            return
        self.results = results
        for side, gen in zip(self.sides, results):
            side.stats.value = (f"thinking <b>{gen.thinking_tokens}</b> · answer <b>{gen.answer_tokens}</b> tokens · "
                                f"{gen.seconds:.2f} s ({gen.tokens_per_s:.0f} tok/s) · finish "
                                f"{escape_text(str(gen.finish_reason))}")
            if gen.trace is None:
                continue
            if side.heatmap is None:
                side.heatmap = RoutingHeatmap(gen.trace, title=f"Routing — {side.label}", show_text=False)
                side.routing.children = [side.heatmap]
            else:
                side.heatmap.set_trace(gen.trace)
        traces = [gen.trace for gen in results]
        if all(t is not None for t in traces):
            title = widgets.HTML("<b>How expert use differs</b>")
            try:
                figure = expert_use_difference(*traces, labels=(self.sides[0].label, self.sides[1].label))
                if self.difference is None:
                    self.difference = go.FigureWidget(figure)
                else:
                    sync_figure(self.difference, figure)
                self.difference_box.children = [title, self.difference]
            except ValueError as exc:  # two models of different shapes: say so instead of a figure
                self.difference_box.children = [title, widgets.HTML(f"<i>{escape_text(str(exc))}</i>")]
            self.difference_box.layout.display = None
        self.status = "done"
        self.runs += 1

    def _show_error(self, exc: BaseException) -> None:
        self.status = "error (see below)"
        self.errors.append_stderr("".join(traceback.format_exception(exc)))

    # ------------------------------------------------------------------ scripting
    def wait(self, timeout: float = 300.0) -> bool:
        """Block until both generations are shown. True if they finished in time."""
        return self.worker.wait_idle(timeout)

    def to_html(self, path: str | Path) -> Path:
        """Both panes (text, counts, routing heatmaps) and the difference view as one offline HTML file."""
        parts: list[Any] = []
        for side in self.sides:
            parts.append(f'<div class="qnext-pane"><h3>{escape_text(side.label)}</h3>{side.stats.value}'
                         f"{side.text.value}</div>")
            if side.heatmap is not None:
                parts.append(go.Figure(side.heatmap.heatmap))
        if self.difference is not None and self.difference in self.difference_box.children:
            parts.append(go.Figure(self.difference))
        return write_html(path, parts, title=f"Thinking vs non-thinking — {self.prompt}")

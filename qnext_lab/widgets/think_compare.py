"""ThinkCompare: the same prompt answered two ways, side by side, streaming.

Two panes: by default one model with thinking on and off; or two models (e.g. Qwen3-Next Instruct vs
Thinking) with ``model_b=``. Each pane streams its thinking as it is generated (forced budget text marked)
and, below it in a box of its own that never scrolls away, the labelled answer with its right/wrong mark
(where the expected answer is known: ``expected=`` or a question of the bundled model's task generator).
The two routing heatmaps follow as stacked full-width rows (one expert axis each, the same experts on the
same rows) and then the expert-use difference. With the bundled model, a note says what it was trained on
and flags a prompt that is none of it before answering; an example picker offers questions it knows.
Generation runs on a :class:`LatestWorker`; a new prompt cancels the run in progress. Knows nothing about
how routing is drawn (``figures``) or generated (``thinking``).

    cmp = ThinkCompare(model, tok, "What is 478 + 356?")
    cmp.wait(); cmp.results[0].thinking_tokens, cmp.results[1].thinking_tokens
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
import traitlets

from ..checks import as_int
from ..figures.answers import answer_html, stream_html
from ..figures.compare import LABELS as COMPARE_LABELS
from ..figures.compare import expert_use_difference
from ..figures.fragments import bold, filled, heading, italic, paragraph, side_pane
from ..figures.numbers import rate_text, seconds_text
from .i18n import figure_labels, finish_label, text
from .knowledge import Expectation, example_options, split_expected
from .page import let_shrink
from .plot_pane import PlotPane
from .routing_heatmap import RoutingHeatmap
from .view import KitView
from .worker import LatestWorker

_STREAM_EVERY_S = 0.08  # redraw a streaming pane at most this often
_FILL = dict(flex="1 1 0%", min_width="0")  # a flex child that may shrink below its content's width


@dataclass
class _Side:
    """One pane: what it runs and the widgets it fills."""

    label: str
    model: Any
    tokenizer: Any
    thinking: bool
    # no width: 100% on HTML panes (their 2 px widget margins would overflow the box by 4 px)
    text: widgets.HTML = field(default_factory=widgets.HTML)
    answer: widgets.HTML = field(default_factory=widgets.HTML)
    stats: widgets.HTML = field(default_factory=widgets.HTML)
    routing: widgets.VBox = field(default_factory=lambda: widgets.VBox(layout=widgets.Layout(width="100%")))
    heatmap: RoutingHeatmap | None = None
    box: widgets.VBox | None = None


def generation_stats_html(gen: Any, language: str | None = None) -> str:
    """One line of counts and times for a finished generation: thinking and answer tokens as the budget counts
    them, every generated token over the model's own time (not the time spent waiting for the model), and
    when the first token came (a slow first token is the prompt's prefill or a cold start)."""
    return filled(
        text("generation_stats", language),
        bold=("thinking", "answer"),
        thinking=gen.thinking_tokens,
        answer=gen.answer_tokens,
        total=gen.total_tokens,
        time=seconds_text(gen.seconds),
        rate=rate_text(gen.total_tokens, gen.seconds, text("per_second", language)),
        first=seconds_text(gen.ttft_s),
        finish=finish_label(gen.finish_reason, language),
    )


class ThinkCompare(KitView):
    """Two generations of one prompt side by side (see module docstring)."""

    VIEW_NAME = "ThinkCompare"
    prompt = traitlets.Unicode("")
    runs = traitlets.Int(0, help="how many runs have been shown (observe it to react to new results)")
    budget = traitlets.Int(None, allow_none=True, help="thinking budget of the thinking side(s) (None: no limit)")
    max_new_tokens = traitlets.Int(None, allow_none=True, help="most new tokens per side (None: the default)")
    expected = traitlets.Any(None, allow_none=True, help="the right answer to `prompt`, for the marks (None: unknown)")
    labels = traitlets.Tuple(traitlets.Unicode(), traitlets.Unicode(), read_only=True, help="the two panes' names")

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        prompt: str,
        *,
        model_b: Any = None,
        tokenizer_b: Any = None,
        labels: tuple[str, str] | None = None,
        thinking: tuple[bool, bool] | None = None,
        budget: int | None = None,
        max_new_tokens: int | None = None,
        autorun: bool = True,
        show_prompt: bool = True,
        expected: Any = None,
        show_note: bool = True,
        language: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._begin(language)
        two_models = model_b is not None
        modes = thinking or ((True, True) if two_models else (True, False))
        names = labels or (
            ("model A", "model B")
            if two_models
            else (text("thinking", self.language), text("non_thinking", self.language))
        )
        self.set_trait("labels", tuple(names))
        self.sides = [
            _Side(names[0], model, tokenizer, modes[0]),
            _Side(names[1], model_b if two_models else model, tokenizer_b or tokenizer, modes[1]),
        ]
        self.budget, self.max_new_tokens = budget, max_new_tokens
        self.answer_key, self.expected = split_expected(expected)  # a key holds for every prompt, an answer for one
        self.expectation = Expectation.of(prompt, model, self.expected, self.language, self.answer_key)
        self.results: list[Any] = [None, None]
        self.worker = LatestWorker(name="qnext-compare")

        self.prompt_box = widgets.Text(
            value=prompt,
            description=text("prompt", self.language),
            layout=widgets.Layout(flex="1 1 0%", min_width="16em"),  # narrower panes wrap the controls instead
            continuous_update=False,
        )
        self.run_button = widgets.Button(
            description=text("run_both", self.language),
            button_style="primary",
            icon="play",
            layout=widgets.Layout(width="auto"),
        )
        self.examples = widgets.Dropdown(
            options=example_options(self.language, self.expectation.key),
            value="",
            layout=widgets.Layout(width="auto", max_width="40%"),
        )
        self.note = widgets.HTML(self.expectation.note_html())
        self.note.layout.display = None if show_note else "none"  # lab() shows it once, under its own prompt box
        self.difference: PlotPane | None = None  # created with the first result
        self.difference_box = widgets.VBox()
        self.difference_box.layout.display = "none"
        panes, rows = [], []
        for side in self.sides:
            side.box = widgets.VBox(
                [widgets.HTML(bold(side.label)), side.stats, side.text, side.answer],
                layout=widgets.Layout(**_FILL),
            )
            panes.append(side.box)
            rows.append(side.routing)
        controls = [self.prompt_box, self.run_button]
        if len(self.examples.options) > 1:  # a key with example questions (the bundled model's)
            controls.insert(1, self.examples)
        prompt_row = (
            [widgets.HBox(controls, layout=widgets.Layout(width="100%", flex_flow="row wrap"))] if show_prompt else []
        )
        super().__init__(
            [
                *prompt_row,
                self.note,
                self.status_label,
                widgets.HBox(panes, layout=widgets.Layout(width="100%", grid_gap="8px")),
                *rows,
                self.difference_box,
            ],
            css_class="qnext-think-compare",
            loose=[self.prompt_box, self.run_button, self.examples],  # not children in every layout
            **kwargs,
        )
        self.run_button.on_click(lambda _: self.run(self.prompt_box.value))
        self.examples.observe(self._on_example, names=["value"])
        self._syncing_box = False
        self.prompt_box.observe(lambda change: None if self._syncing_box else self.run(change["new"]), names=["value"])
        self.prompt = prompt
        if autorun:
            self.run(prompt)

    @traitlets.validate("budget")
    def _valid_budget(self, proposal: dict) -> int | None:
        return None if proposal["value"] is None else as_int(proposal["value"], "budget", low=0)

    @traitlets.validate("max_new_tokens")
    def _valid_max_new(self, proposal: dict) -> int | None:
        return None if proposal["value"] is None else as_int(proposal["value"], "max_new_tokens", low=1)

    def _on_example(self, change: dict) -> None:
        if change["new"]:
            self.prompt_box.value = change["new"]  # runs it, like typing it
            self.examples.value = ""

    # ------------------------------------------------------------------ work
    def run(self, prompt: str | None = None, expected: Any = None) -> int:
        """Start both generations for ``prompt`` (default: the current one); cancels a run in progress.

        ``expected``: the right answer, for the right/wrong marks (default: the constructor's for the first
        prompt; then what the task generator's formats imply, if anything).
        """
        prompt = self.prompt if prompt is None else prompt
        if not prompt.strip():
            self.status = text("type_prompt", self.language)
            return self.worker.ticket
        if expected is None and prompt == self.prompt:
            expected = self.expected
        self.expected = expected
        self.expectation = Expectation.of(prompt, self.sides[0].model, expected, self.language, self.answer_key)
        self.note.value = self.expectation.note_html()  # before answering: what the model can know
        self.prompt = prompt
        if self.prompt_box.value != prompt:
            self._syncing_box = True  # the box's observer would call run() a second time
            try:
                self.prompt_box.value = prompt
            finally:
                self._syncing_box = False
        ticket = self.worker.ticket + 1
        self.status = text("generating", self.language)
        for side in self.sides:
            side.answer.value = ""
        return self.worker.submit(
            lambda cancel: self._work(prompt, ticket, cancel), on_result=self._show_results, on_error=self.fail
        )

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
        answer_label = text("answer", self.language)
        # no model lock here: the stream's own generation thread takes it (holding it here would block that one)
        with stream_generate(
            side.model,
            side.tokenizer,
            prompt,
            thinking=side.thinking,
            budget=budget,
            max_new_tokens=self.max_new_tokens,
            capture=True,
        ) as stream:
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
                    side.text.value = stream_html(segments, text("thinking", self.language))
                    side.answer.value = answer_html(segments, answer_label)
                    side.stats.value = filled(
                        text("stream_stats", self.language),
                        thinking=piece.thinking_tokens,
                        answer=piece.answer_tokens,
                        time=seconds_text(now - started),
                    )
        result = stream.result
        if self.worker.is_latest(ticket):
            side.text.value = stream_html(segments, text("thinking", self.language))
            side.answer.value = answer_html(segments, answer_label, self.expectation.verdict_html(result.answer))
        return result

    # ------------------------------------------------------------------ results -> view (worker thread, locked)
    def _show_results(self, results: list[Any]) -> None:
        if len(results) != 2 or any(r is None for r in results):
            return
        self.results = results
        for side, gen in zip(self.sides, results):
            side.stats.value = generation_stats_html(gen, self.language)
            if gen.trace is None:
                continue
            if side.heatmap is None:
                side.heatmap = RoutingHeatmap(
                    gen.trace,
                    title=text("routing_of", self.language, label=side.label),
                    show_text=False,
                    language=self.language,
                )
                side.routing.children = [side.heatmap]
                let_shrink(side.routing)
            else:
                side.heatmap.set_trace(gen.trace)
        traces = [gen.trace for gen in results]
        if all(t is not None for t in traces):
            title = widgets.HTML(bold(text("difference", self.language)))
            try:
                figure = expert_use_difference(
                    *traces,
                    labels=self.labels,
                    words=figure_labels(COMPARE_LABELS, self.language),
                )
                if self.difference is None:
                    self.difference = self.new_plot(figure)
                else:
                    self.difference.show(figure)
                self.difference_box.children = [title, self.difference]
            except ValueError as exc:  # two models of different shapes: say so instead of a figure
                self.difference_box.children = [title, widgets.HTML(italic(str(exc)))]
            self.difference_box.layout.display = None
        self.status = text("done", self.language)
        self.runs += 1

    # ------------------------------------------------------------------ scripting
    def snapshot_parts(self) -> list[Any]:
        """What is on screen, as figures and escaped HTML fragments (for ``to_html`` and saved notebooks)."""
        note = self.note.value if self.note.layout.display != "none" else ""
        parts: list[Any] = [heading(self.prompt), note]
        if not self.runs:
            parts.append(paragraph(self.status, italic=True))
        for side in self.sides:
            parts.append(side_pane(side.label, side.stats.value, side.text.value, side.answer.value))
        for side in self.sides:
            if side.heatmap is not None:
                parts.append(side.heatmap.heatmap.figure)
        if self.difference is not None and self.difference in self.difference_box.children:
            parts.append(self.difference.figure)
        return parts

    def snapshot_title(self) -> str:
        return f"{text('compare_title', self.language)} — {self.prompt}"

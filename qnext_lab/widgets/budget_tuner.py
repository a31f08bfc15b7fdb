"""BudgetTuner: a thinking-budget slider that re-answers live.

Moving the slider asks the model to answer again with at most that many thinking tokens; the truncated
thinking and the answer appear beside it, with token counts and time. With a problem set, the
accuracy-vs-budget curve is drawn once (``sweep_budget`` on a worker, or the table passed as ``sweep=``)
and the current budget is marked on it.

Never stale: requests go to a :class:`LatestWorker` (debounced; a newer value cancels the running
generation), results are shown under the worker's lock only if their budget is still the slider's, and
a slider move clears the panes under the same lock. ``shown_budget`` always names the budget of the answer
on screen (-1 while none is). Where the expected answer is known (``expected=``, or a question of the bundled
model's task generator) the answer is marked right or wrong and the view counts at how many of the budgets
tried so far it was right; with the bundled model a note flags a prompt it was never trained on. Knows
nothing about how the answer is computed beyond ``answer_fn``.

    tuner = BudgetTuner(model, tok, "What is 478 + 356?", problems=make_problems(20, seed=0))
    tuner.budget = 8; tuner.wait(); tuner.answer
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import traitlets

from ..checks import as_int
from ..figures.answers import answer_box_html, budget_cut_html, tally_html, thinking_pane_html, waiting_html
from ..figures.fragments import filled, paragraph, title_line
from ..figures.numbers import seconds_text
from ..thinking.verdict import is_right
from ..trace.lock import hold
from .i18n import figure_labels, finish_label, text
from .knowledge import Expectation, example_options, split_expected
from .plot_pane import PlotPane
from .view import KitView
from .worker import LatestWorker

# (prompt, budget, cancel event) -> a Generation-like result (thinking, answer, thinking_tokens,
# answer_tokens, finish_reason, seconds; budget_hit and reused when it has them), or None when cancelled.
AnswerFn = Callable[[Any, int, threading.Event], Any]


def prefix_answer_fn(
    model: Any, tokenizer: Any, *, max_new_tokens: int | None = None, stop_text: str | None = None
) -> AnswerFn:
    """The default ``AnswerFn``: one unlimited greedy run per prompt (cached), then each budget is only the
    truncated thinking + stop text prefilled and the short answer decoded (``thinking.prefix``); budgets the
    model never reaches cost nothing. Equal to ``generate(..., budget=b)`` under greedy decoding.
    """
    from ..thinking.generation import generate
    from ..thinking.prefix import answer_at_budget

    cache: dict[str, Any] = {}

    def answer(prompt: Any, budget: int, cancel: threading.Event) -> Any:
        with hold(model, what="BudgetTuner"):  # the cached run and the answer from it, with no one between
            key = repr(prompt)
            if key not in cache:
                if cancel.is_set():
                    return None
                cache[key] = generate(
                    model,
                    tokenizer,
                    prompt,
                    thinking=True,
                    budget=None,
                    max_new_tokens=max_new_tokens,
                    stop_text=stop_text,
                )
            if cancel.is_set():
                return None
            return answer_at_budget(model, tokenizer, cache[key], budget, stop_text=stop_text)

    answer.unlimited = lambda prompt: cache.get(repr(prompt))  # type: ignore[attr-defined]  # the cached full run
    return answer


def streaming_answer_fn(
    model: Any, tokenizer: Any, *, max_new_tokens: int | None = None, stop_text: str | None = None
) -> AnswerFn:
    """An ``AnswerFn`` that generates from scratch at each budget and stops at the next token when cancelled
    (use it with sampling-free models where a prefix cache is not wanted, or as a slow reference)."""
    from ..thinking.streaming import stream_generate

    def answer(prompt: Any, budget: int, cancel: threading.Event) -> Any:
        # no model lock here: the stream's own generation thread takes it (holding it here would block that one)
        if cancel.is_set():
            return None
        with stream_generate(
            model, tokenizer, prompt, thinking=True, budget=budget, max_new_tokens=max_new_tokens, stop_text=stop_text
        ) as stream:
            for _ in stream:
                if cancel.is_set():
                    stream.close()
                    return None
        return stream.result

    return answer


class BudgetTuner(KitView):
    """Budget slider, truncated thinking, answer and (with problems) the accuracy curve."""

    VIEW_NAME = "BudgetTuner"
    budget = traitlets.Int(32, help="the requested thinking budget (the slider)")
    shown_budget = traitlets.Int(-1, help="budget of the answer on screen; -1 while none is shown")
    thinking = traitlets.Unicode("", help="thinking text on screen (plain, unescaped)")
    answer = traitlets.Unicode("", help="answer text on screen (plain, unescaped)")
    prompt = traitlets.Any(help="the question (a string or chat messages); changing it re-answers")
    expected = traitlets.Any(None, allow_none=True, help="the right answer to the prompt set with it (None: unknown)")
    # fixed when built: the default answer function was made with them
    max_new_tokens = traitlets.Int(None, allow_none=True, read_only=True, help="most new tokens per answer")
    stop_text = traitlets.Unicode(None, allow_none=True, read_only=True, help="text forced when the budget ends")

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        prompt: Any,
        problems: Sequence[Any] | None = None,
        *,
        budget: int = 32,
        max_budget: int = 128,
        step: int = 1,
        debounce_s: float = 0.12,
        max_new_tokens: int | None = None,
        curve_budgets: Sequence[int | None] | None = None,
        answer_fn: AnswerFn | None = None,
        stop_text: str | None = None,
        sweep: Any = None,
        expected: Any = None,
        score: Callable[[Any, str], Any] | None = None,
        show_note: bool = True,
        language: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not 0 <= budget <= max_budget:
            raise ValueError(f"budget must be in 0..max_budget ({max_budget}), got {budget}")
        self._begin(language)
        self.model, self.tokenizer, self.problems = model, tokenizer, problems
        self.answer_key, expected = split_expected(expected)  # a key holds for every prompt, an answer for one
        self.expected, self._expected_for = expected, prompt
        self.expectation = Expectation.of(prompt, model, expected, self.language, self.answer_key)
        self.score = curve_score(problems, score, self.expectation.found.exact) if problems else score
        self.verdicts: dict[int, bool] = {}  # budget -> right? for the current prompt (where it is known)
        self.set_trait("max_new_tokens", max_new_tokens)
        self.set_trait("stop_text", stop_text)
        self._answer_fn = answer_fn or prefix_answer_fn(
            model, tokenizer, max_new_tokens=max_new_tokens, stop_text=stop_text
        )
        self.worker = LatestWorker(debounce_s=debounce_s, name="qnext-budget")
        self.curve_worker = LatestWorker(name="qnext-budget-curve")
        self.last_result: Any = None
        self._requested = budget  # changes only under the worker lock
        self.sweep: Any = None
        self._curve_budgets: list[int | None] | None = None  # waiting for the first answer

        self.header = widgets.HTML(self._header_html(prompt))
        self.note = widgets.HTML(self.expectation.note_html())
        self.examples = widgets.Dropdown(
            options=example_options(self.language, self.expectation.key), value="", layout=widgets.Layout(width="auto")
        )
        self.examples.layout.display = None if len(self.examples.options) > 1 and show_note else "none"
        self.note.layout.display = None if show_note else "none"  # lab() shows it once, under its own prompt box
        self.slider = widgets.IntSlider(
            value=budget,
            min=0,
            max=max_budget,
            step=step,
            description=text("budget", self.language),
            continuous_update=True,
            layout=widgets.Layout(width="60%", min_width="16em"),
        )
        self.status_label.layout.flex = "1 1 12em"  # beside the slider; wraps a long status instead of clipping it
        self.counts = widgets.HTML()
        self.tally = widgets.HTML()
        self.thinking_pane = widgets.HTML(layout=widgets.Layout(flex="1 1 0%", min_width="0"))
        self.answer_pane = widgets.HTML(layout=widgets.Layout(flex="1 1 0%", min_width="0"))
        self._with_curve = bool(problems) or sweep is not None
        self.curve: PlotPane | None = None  # created with the first sweep
        self.curve_box = widgets.VBox()
        self.curve_status = widgets.Label()
        children: list[widgets.Widget] = [
            widgets.HBox(
                [self.header, self.examples], layout=widgets.Layout(width="100%", justify_content="space-between")
            ),
            self.note,
            widgets.HBox([self.slider, self.status_label], layout=widgets.Layout(width="100%", flex_flow="row wrap")),
            self.counts,
            widgets.HBox([self.thinking_pane, self.answer_pane], layout=widgets.Layout(width="100%", grid_gap="8px")),
            self.tally,
        ]
        if self._with_curve:
            children += [self.curve_status, self.curve_box]
        super().__init__(children, css_class="qnext-budget-tuner", **kwargs)

        self.budget, self.prompt = budget, prompt
        self.observe(self._on_prompt, names=["prompt"])
        self.slider.observe(self._on_slider, names=["value"])
        self.observe(self._on_budget, names=["budget"])
        self.examples.observe(self._on_example, names=["value"])
        with self.worker.lock:
            self._clear_panes(budget)
            self._request(budget)
        if sweep is not None:  # a sweep_budget table the caller already has: draw it, sweep nothing
            with self.curve_worker.lock:
                self._show_curve(sweep)
        elif problems:  # swept once the first answer is on screen, so that answer never waits behind the sweep
            self._curve_budgets = list(curve_budgets) if curve_budgets else _default_curve_budgets(max_budget)
            self.curve_status.value = text("curve_after_answer", self.language)

    # ------------------------------------------------------------------ controls -> work
    @traitlets.validate("max_new_tokens")
    def _valid_max_new(self, proposal: dict) -> int | None:
        return None if proposal["value"] is None else as_int(proposal["value"], "max_new_tokens", low=1)

    @traitlets.validate("budget")
    def _valid_budget(self, proposal: dict) -> int:
        value = int(proposal["value"])
        if not 0 <= value <= self.slider.max:
            raise traitlets.TraitError(f"budget must be in 0..{self.slider.max}, got {value}")
        return value

    def _on_slider(self, change: dict) -> None:
        self.budget = change["new"]

    def _on_budget(self, change: dict) -> None:
        value = change["new"]
        with self.worker.lock:
            self._requested = value
            if self.slider.value != value:
                self.slider.value = value
            self._clear_panes(value)
            self._request(value)  # under the lock: no older result can slip in between clear and submit
        self._mark_curve(value)

    def _on_example(self, change: dict) -> None:
        if change["new"]:
            self.prompt = change["new"]
            self.examples.value = ""

    def set_prompt(self, prompt: Any, expected: Any = None) -> None:
        """Ask another question (``expected``: its right answer, for the marks; default: what the task
        generator's formats imply)."""
        self.expected, self._expected_for = expected, prompt
        if prompt == self.prompt:
            self._on_prompt({"new": prompt})
        else:
            self.prompt = prompt

    def _on_prompt(self, change: dict) -> None:
        expected = self.expected if self._expected_for == change["new"] else None
        self.expectation = Expectation.of(change["new"], self.model, expected, self.language, self.answer_key)
        self.verdicts = {}
        self.tally.value = ""
        self.header.value = self._header_html(change["new"])
        self.note.value = self.expectation.note_html()
        with self.worker.lock:
            self._clear_panes(self.budget)
            self._request(self.budget)

    def _clear_panes(self, budget: int) -> None:
        """Called under the worker lock: nothing on screen may belong to another budget."""
        self.shown_budget = -1
        self.thinking, self.answer = "", ""
        waiting = waiting_html(text("budget_working", self.language, budget=budget))
        self.thinking_pane.value = waiting
        self.answer_pane.value = waiting
        self.counts.value = ""
        self.status = f"budget {budget}: working…"

    def _request(self, budget: int) -> None:
        started, prompt = time.perf_counter(), self.prompt
        self.worker.submit(
            lambda cancel: self._answer_fn(prompt, budget, cancel),
            on_result=lambda result: self._show(budget, result, started),
            on_error=lambda exc: self._show_error(budget, exc),
            is_current=lambda: self._requested == budget,
        )

    # ------------------------------------------------------------------ results -> view (worker thread, locked)
    def _show(self, budget: int, result: Any, started: float) -> None:
        if result is None:  # cancelled
            return
        self.last_result = result
        lang, cut = self.language, ""
        if getattr(result, "budget_hit", False):  # a Generation's: the one rule (thinking.verdict.budget_closed)
            complete = self._cut_a_complete_thinking(result)
            cut = budget_cut_html(
                text("budget_cut", lang, budget=budget),
                text("cut_complete", lang, stop=_stop_words(result)) if complete else "",
            )
        self.thinking_pane.value = thinking_pane_html(
            result.thinking, text("thinking", lang), tokens=result.thinking_tokens, cut=cut
        )
        self.answer_pane.value = answer_box_html(
            result.answer,
            text("answer", lang),
            verdict=self.expectation.verdict_html(result.answer),
            tokens=result.answer_tokens,
        )
        right = self.expectation.is_right(result.answer)
        if right is not None:
            self.verdicts[budget] = right
            self.tally.value = self._tally_html()
        waited = time.perf_counter() - started
        self.counts.value = filled(
            text("budget_counts", lang),
            bold=("budget",),
            budget=budget,
            thinking=result.thinking_tokens,
            answer=result.answer_tokens,
            finish=finish_label(result.finish_reason, lang),
        )
        self.thinking, self.answer = result.thinking, result.answer
        self.shown_budget = budget
        # one time, the one the user waited (slider move to answer); what of it was the model's own work
        reused = bool(getattr(result, "reused", False))
        model_s = text("reused", self.language) if reused else seconds_text(result.seconds)
        self.status = text("budget_answered", self.language, budget=budget, waited=seconds_text(waited), model=model_s)
        if self._curve_budgets is not None:  # the first answer is on screen: now sweep
            budgets, self._curve_budgets = self._curve_budgets, None
            self._start_curve(budgets)

    def _show_error(self, budget: int, exc: BaseException) -> None:
        self.status = f"budget {budget}: {text('error', self.language)}"
        self.show_error(exc)
        if self._curve_budgets is not None:  # the curve does not wait for an answer that failed
            budgets, self._curve_budgets = self._curve_budgets, None
            self._start_curve(budgets)

    def _cut_a_complete_thinking(self, result: Any) -> bool:
        """Whether the budget ran out just as the model's own thinking ended: the shown thinking is the whole
        of the unlimited run's, yet the stop text came before the model's own ``</think>``."""
        unlimited = getattr(self._answer_fn, "unlimited", None)
        full = unlimited(self.prompt) if callable(unlimited) else None
        return full is not None and bool(full.thinking.strip()) and full.thinking.strip() == result.thinking.strip()

    def _tally_html(self) -> str:
        """How often the answer was right over the budgets tried for this prompt."""
        tried = sorted(self.verdicts)
        wrong = [b for b in tried if not self.verdicts[b]]
        if not wrong:
            line = text("tally_all", self.language, tried=len(tried))
        else:
            wrong_list = text("wrong_at", self.language, budgets=", ".join(map(str, wrong)))
            line = text("tally", self.language, right=len(tried) - len(wrong), tried=len(tried), wrong_list=wrong_list)
        return tally_html(line)

    def _header_html(self, prompt: Any) -> str:
        return title_line(text("budget_title", self.language), str(prompt))

    # ------------------------------------------------------------------ accuracy curve
    def _start_curve(self, budgets: list[int | None]) -> None:
        from ..thinking.sweep import sweep_budget

        def work(cancel: threading.Event) -> Any:
            # no hold around the sweep: each of its batches takes the model lock, so a slider answer waits
            # for one batch at most, never for the whole sweep
            return sweep_budget(
                self.model,
                self.tokenizer,
                list(self.problems),
                budgets,
                self.score,
                max_new_tokens=self.max_new_tokens,
                stop_text=self.stop_text,
                progress=lambda message: setattr(
                    self.curve_status, "value", text("curve_progress", self.language, message=message)
                ),
            )

        self.curve_status.value = text(
            "curve_sweeping", self.language, budgets=len(budgets), problems=len(self.problems)
        )
        self.curve_worker.submit(work, on_result=self._show_curve, on_error=self._show_curve_error)

    def _show_curve(self, sweep: Any) -> None:
        from ..figures.budget import LABELS as CURVE_LABELS
        from ..figures.budget import budget_curve

        self.sweep = sweep
        n = int(sweep["n"].iloc[0]) if "n" in sweep else len(self.problems or ())
        figure = budget_curve(
            sweep,
            current_budget=self.budget,
            title=text("accuracy_curve", self.language, n=n),
            words=figure_labels(CURVE_LABELS, self.language),
        )
        self.curve = self.show_figure(self.curve_box, self.curve, figure)
        self.curve_status.value = ""

    def _show_curve_error(self, exc: BaseException) -> None:
        self.curve_status.value = text("curve_error", self.language)
        self.show_error(exc)

    def _mark_curve(self, budget: int) -> None:
        from ..figures.budget import mark_budget

        with self.curve_worker.lock:  # not while the curve itself is being drawn
            if self.curve is None or self.sweep is None:
                return
            self.curve.edit(lambda figure: mark_budget(figure, budget))

    # ------------------------------------------------------------------ scripting (wait: KitView's)
    def snapshot_parts(self) -> list[Any]:
        """The question, the answer on screen with its thinking and counts, the tally and the curve."""
        parts: list[Any] = [
            paragraph(self.header.value, escaped=True),
            self.note.value if self.note.layout.display != "none" else "",
            paragraph(self.status),
            self.counts.value,
            self.thinking_pane.value,
            self.answer_pane.value,
            self.tally.value,
        ]
        if self.curve is not None and self.sweep is not None:
            parts.append(self.curve.figure)
        return parts

    def snapshot_title(self) -> str:
        return f"Thinking budget — {self.prompt}"


def _default_curve_budgets(max_budget: int) -> list[int | None]:
    """0, powers of two up to ``max_budget``, ``max_budget``, and None (unlimited)."""
    budgets = {0, max_budget}
    b = 1
    while b < max_budget:
        budgets.add(b)
        b *= 2
    return [*sorted(budgets), None]


def _stop_words(result: Any) -> str:
    """The words of the forced stop text, for the explanation (``</think>`` and blank lines left out)."""
    stop = getattr(result, "stop_text", None) or ""
    return " ".join(stop.replace("</think>", " ").split())


def curve_score(
    problems: Sequence[Any], score: Callable[[Any, str], Any] | None, exact: bool = False
) -> Callable[[Any, str], Any]:
    """The function the accuracy curve judges answers with: the caller's ``score(problem, answer_text)``, else
    (problems that carry their ``answer``, such as the task generator's) ``thinking.verdict.is_right`` against
    it (``exact`` as the view's answer key says: the bundled model answers tersely).

    TypeError at once, not deep inside the sweep, when the problems carry no answer and no ``score`` is given.
    """
    if score is not None:
        if not callable(score):
            raise TypeError(f"score must be a function score(problem, answer_text) -> bool, got {type(score).__name__}")
        return score
    lacking = [p for p in problems if not isinstance(getattr(p, "answer", None), str)]
    if lacking:
        raise TypeError(
            f"problems such as {lacking[0]!r} carry no expected answer: pass score=(problem, answer_text) -> bool "
            "to judge them (qnext_lab.tiny.score for the task generator's problems)"
        )
    return lambda problem, answer: is_right(problem.answer, answer, exact=exact)

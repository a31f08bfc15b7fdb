"""lab(): one dashboard for a prompt the user types: both thinking modes, the budget, the routing.

A prompt box and an "Ask" button over four tabs: ``ThinkCompare`` (thinking vs non-thinking, streaming,
with routing and the expert-use difference), ``BudgetTuner`` (the live thinking budget, with the
accuracy curve when problems are given), a full ``RoutingHeatmap`` of the thinking run (with the text
coloured by expert) and ``ExpertSwitchboard`` (switch experts off and see the answer change, starting from the
thinking answer, which the bundled model gets right). The widgets share one model; a per-model lock runs
their generations one at a time. Every answer carries its right/wrong mark where the expected answer is
known; with the bundled model, example questions and a note on what it knows sit by the prompt box.
Labels follow ``language=`` ("en" or "ja"). Knows nothing beyond the widgets it combines.

    import qnext_lab as ql
    model, tok = ql.load("tiny"); ql.lab(model, tok)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import traitlets

from ..figures.fragments import heading, italic
from .budget_tuner import BudgetTuner
from .expert_switchboard import ExpertSwitchboard
from .i18n import text
from .knowledge import Expectation, example_options, split_expected
from .page import let_shrink
from .routing_heatmap import RoutingHeatmap
from .think_compare import ThinkCompare
from .view import KitView

DEFAULT_PROMPT = "What is 478 + 356?"


class Dashboard(KitView):
    """The dashboard returned by :func:`lab`; its parts are ``compare``, ``tuner``, ``routing`` and ``experts``."""

    VIEW_NAME = "lab()"
    prompt = traitlets.Unicode("", help="the question every part answers (the prompt box); setting it asks it")

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        prompt: str = DEFAULT_PROMPT,
        *,
        problems: Sequence[Any] | None = None,
        budget: int = 32,
        max_budget: int = 128,
        max_new_tokens: int | None = None,
        expected: Any = None,
        language: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._begin(language)
        lang = self.language
        self.model = model
        self.prompt_box = widgets.Text(
            value=prompt,
            description=text("prompt", lang),
            continuous_update=False,
            layout=widgets.Layout(flex="1 1 0%", min_width="16em"),  # narrower panes wrap the controls instead
        )
        self.ask_button = widgets.Button(
            description=text("ask", lang), button_style="primary", icon="play", layout=widgets.Layout(width="auto")
        )
        self.answer_key, first_expected = split_expected(expected)
        first = Expectation.of(prompt, model, expected, lang)
        self.examples = widgets.Dropdown(
            options=example_options(lang, first.key), value="", layout=widgets.Layout(width="auto", max_width="40%")
        )
        self.note = widgets.HTML(first.note_html())
        common = dict(expected=expected, language=lang)
        # the dashboard's prompt box drives its parts and shows the note once, under the box
        self.compare = ThinkCompare(
            model,
            tokenizer,
            prompt,
            max_new_tokens=max_new_tokens,
            autorun=False,
            show_prompt=False,
            show_note=False,
            **common,
        )
        self.tuner = BudgetTuner(
            model,
            tokenizer,
            prompt,
            problems,
            budget=budget,
            max_budget=max_budget,
            max_new_tokens=max_new_tokens,
            show_note=False,
            **common,
        )
        self.routing: RoutingHeatmap | None = None
        self.routing_box = widgets.VBox([widgets.HTML(italic(text("routing_wait", lang)))])
        # thinking on: the bundled model gets the tour's questions right, so switching experts off can break it
        self.experts = ExpertSwitchboard(
            model, tokenizer, prompt, thinking=True, max_new_tokens=max_new_tokens or 96, autorun=True, **common
        )
        self.tabs = widgets.Tab(
            children=[self.compare, self.tuner, self.routing_box, self.experts],
            titles=(
                text("compare_tab", lang),
                text("budget_tab", lang),
                text("routing", lang),
                text("experts_tab", lang),
            ),
        )
        controls = (
            [self.prompt_box, self.examples, self.ask_button]
            if len(self.examples.options) > 1
            else [self.prompt_box, self.ask_button]
        )
        super().__init__(
            [
                widgets.HTML(heading("qnext-lab", style="margin:4px 0")),
                widgets.HBox(controls, layout=widgets.Layout(width="100%", flex_flow="row wrap")),
                self.note,
                self.tabs,
            ],
            css_class="qnext-lab",
            loose=[self.examples],  # not a child for models other than the bundled one
            **kwargs,
        )
        self._asked: tuple[str, Any] = (prompt, first_expected)  # a prompt and the right answer it came with
        self.prompt = prompt
        self.ask_button.on_click(lambda _: self.ask(self.prompt_box.value))
        self.prompt_box.observe(lambda change: setattr(self, "prompt", change["new"]), names=["value"])
        self.observe(self._on_prompt, names=["prompt"])
        self.examples.observe(self._on_example, names=["value"])
        self.compare.observe(self._on_compare_done, names=["runs"])
        self.compare.run(prompt)

    def _on_example(self, change: dict) -> None:
        if change["new"]:
            self.prompt_box.value = change["new"]  # asks it, like typing it
            self.examples.value = ""

    def ask(self, prompt: str, expected: Any = None) -> None:
        """Ask every part the question (runs in the background; the prompt box shows it); ``expected``: its right
        answer, if known. Setting ``prompt`` asks it too."""
        self._asked = (prompt, expected)
        if prompt == self.prompt:
            self._ask(prompt)
        else:
            self.prompt = prompt  # -> _on_prompt

    def _on_prompt(self, change: dict) -> None:
        if self.prompt_box.value != change["new"]:
            self.prompt_box.value = change["new"]  # its observer sets the same prompt: no second ask
        self._ask(change["new"])

    def _ask(self, prompt: str) -> None:
        asked, expected = self._asked
        expected = expected if asked == prompt else None
        try:
            if not prompt.strip():
                raise ValueError("type a question in the prompt box first")
            self.note.value = Expectation.of(prompt, self.model, expected, self.language, self.answer_key).note_html()
            self.compare.run(prompt, expected=expected)
            self.tuner.set_prompt(prompt, expected)
            self.experts.set_prompt(prompt, expected)
            self.experts.run()
        except Exception as exc:  # shown in the dashboard
            self.show_error(exc)

    def _on_compare_done(self, change: dict) -> None:
        gen = self.compare.results[0]
        if gen is None or gen.trace is None:
            return
        if self.routing is None:
            self.routing = RoutingHeatmap(
                gen.trace,
                title=text("routing_of", self.language, label=self.compare.labels[0]),
                language=self.language,
            )
            self.routing_box.children = [self.routing]
            let_shrink(self.routing_box)
        else:
            self.routing.set_trace(gen.trace)

    def snapshot_parts(self) -> list[Any]:
        """Each part's own snapshot, under the question and what the model is known to know about it."""
        parts: list[Any] = [heading(self.prompt), self.note.value]
        for part in (self.compare, self.tuner, self.routing, self.experts):
            if part is not None:
                parts += part.snapshot_parts()
        return parts

    def snapshot_title(self) -> str:
        return "qnext-lab"


def lab(model: Any, tokenizer: Any, prompt: str = DEFAULT_PROMPT, **options: Any) -> Dashboard:
    """The qnext-lab dashboard for ``model``: ``Dashboard(model, tokenizer, prompt, **options)``, whose keywords
    (``problems``, ``budget``, ``max_budget``, ``max_new_tokens``, ``expected``, ``language``) it takes."""
    return Dashboard(model, tokenizer, prompt, **options)

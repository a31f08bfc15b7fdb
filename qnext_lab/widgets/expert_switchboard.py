"""ExpertSwitchboard: switch experts off (or on) per layer, re-run a prompt, see the answer and how routing moved.

Thin: the state lives in traitlets (``prompt``, ``layer``, ``ablate``, ``force``, ``top_k``, ``thinking``,
``max_new_tokens``); controls only write those traits. ``run`` greedily generates twice through the
thinking engine (``thinking.generation.generate`` with the chat template's thinking mode, as the model is and inside
``qnext_lab.intervene``), each with its routing captured, on a background ``LatestWorker`` holding the model lock.
The answers are shown escaped; the difference in expert use over the generated tokens is drawn by
``figures.compare.expert_use_difference``. Both answers carry a right/wrong mark where the expected answer is
known (``expected=`` or a question of the bundled model's task generator): start from a question the model
gets right and watch it break. Errors (e.g. ablating every expert) appear in the view's error pane.

    lab = ExpertSwitchboard(model, tok, "What is 478 + 356?")
    lab.ablate = {0: [3, 5]}; lab.run()
"""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as widgets
import traitlets

from ..figures.answers import answer_box_html, answers_row_html
from ..figures.compare import LABELS as COMPARE_LABELS
from ..figures.compare import expert_use_difference, expert_use_figure
from ..figures.fragments import italic, paragraph, small
from ..thinking.generation import generate
from ..thinking.result import Generation
from ..trace.interventions import intervene
from ..trace.lock import hold
from ..trace.moe_layers import find_moe_layers
from ..trace.routing_trace import RoutingTrace
from .i18n import figure_labels, text
from .knowledge import Expectation, split_expected
from .plot_pane import PlotPane
from .view import KitView
from .worker import LatestWorker


def _generated_part(trace: RoutingTrace, prompt_len: int) -> RoutingTrace:
    return trace.select(mask=trace.position >= prompt_len)


class ExpertSwitchboard(KitView):
    """Toggle experts per MoE layer and compare the model's answer with and without the change."""

    VIEW_NAME = "ExpertSwitchboard"
    prompt = traitlets.Unicode("")
    layer = traitlets.Int(0, help="decoder-layer index whose experts the toggles edit")
    ablate = traitlets.Dict(help="{layer: [experts]} never chosen")
    force = traitlets.Dict(help="{layer: [experts]} always chosen")
    top_k = traitlets.Int(0, help="experts per token; 0 = the model's own")
    thinking = traitlets.Bool(False, help="enable_thinking passed to the chat template")
    max_new_tokens = traitlets.Int(48)
    expected = traitlets.Any(None, allow_none=True, help="the right answer to `prompt`, for the marks (None: unknown)")

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        prompt: str = "",
        *,
        max_new_tokens: int = 48,
        thinking: bool = False,
        autorun: bool = False,
        expected: Any = None,
        language: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._begin(language)
        self.model, self.tokenizer = model, tokenizer
        self.answer_key, expected = split_expected(expected)  # a key holds for every prompt, an answer for one
        self._expected_for = prompt  # the user's expected answer belongs to one prompt
        self.moe_layers = {m.index: m.num_experts for m in find_moe_layers(model)}
        self.worker = LatestWorker(name="qnext-expert-lab")
        self.result: dict[str, Any] | None = None
        first = min(self.moe_layers)

        lang = self.language
        wide = {"description_width": "initial"}  # labels never cut to "top-k (0=…"
        self.prompt_box = widgets.Textarea(
            value=prompt, description=text("prompt", lang), rows=2, layout=widgets.Layout(flex="1 1 0%", min_width="0")
        )
        self.layer_box = widgets.Dropdown(
            options=sorted(self.moe_layers),
            value=first,
            description=text("layer", lang),
            style=wide,
            layout=widgets.Layout(width="auto"),
        )
        options = list(range(self.moe_layers[first]))
        self.ablate_box = widgets.SelectMultiple(
            options=options, description=text("ablate", lang), rows=6, style=wide, layout=widgets.Layout(width="auto")
        )
        self.force_box = widgets.SelectMultiple(
            options=options, description=text("force", lang), rows=6, style=wide, layout=widgets.Layout(width="auto")
        )
        self.top_k_box = widgets.BoundedIntText(
            value=0,
            min=0,
            max=max(self.moe_layers.values()),
            description=text("top_k", lang),
            style=wide,
            tooltip=text("top_k_own", lang),
            layout=widgets.Layout(width="auto"),
        )
        self.thinking_box = widgets.Checkbox(
            value=thinking, description=text("thinking", lang), indent=False, layout=widgets.Layout(width="auto")
        )
        self.run_button = widgets.Button(description=text("run", lang), button_style="primary", icon="play")
        self.reset_button = widgets.Button(description=text("reset_experts", lang), icon="undo")
        self.answers = widgets.HTML()
        self.moved: PlotPane | None = None  # created with the first result
        self.moved_box = widgets.VBox([widgets.HTML(italic(text("press_run", lang)))])
        super().__init__(
            [
                widgets.HBox(
                    [self.prompt_box, widgets.VBox([self.run_button, self.reset_button])],
                    layout=widgets.Layout(width="100%"),
                ),
                widgets.HBox(
                    [
                        self.layer_box,
                        self.ablate_box,
                        self.force_box,
                        widgets.VBox(
                            [
                                self.top_k_box,
                                self.thinking_box,
                                widgets.HTML(small(text("top_k_own", lang))),
                            ]
                        ),
                    ],
                    layout=widgets.Layout(width="100%", flex_flow="row wrap"),
                ),
                self.status_label,
                self.answers,
                self.moved_box,
            ],
            css_class="qnext-expert-lab",
            **kwargs,
        )
        self.expected = expected

        # controls -> traits
        self.prompt_box.observe(lambda c: setattr(self, "prompt", c["new"]), names=["value"])
        self.layer_box.observe(lambda c: setattr(self, "layer", c["new"]), names=["value"])
        self.ablate_box.observe(lambda c: self._set_experts("ablate", c["new"]), names=["value"])
        self.force_box.observe(lambda c: self._set_experts("force", c["new"]), names=["value"])
        self.top_k_box.observe(lambda c: setattr(self, "top_k", c["new"]), names=["value"])
        self.thinking_box.observe(lambda c: setattr(self, "thinking", c["new"]), names=["value"])
        self.observe(lambda c: setattr(self.thinking_box, "value", c["new"]), names=["thinking"])
        self.run_button.on_click(lambda _: self.run())
        self.reset_button.on_click(lambda _: self.reset())
        # traits -> controls
        self.observe(self._show_layer, names=["layer", "ablate", "force"])
        self.observe(lambda c: setattr(self.prompt_box, "value", c["new"]), names=["prompt"])
        self.prompt, self.layer = prompt, first
        self.max_new_tokens, self.thinking = max_new_tokens, thinking
        if autorun and prompt.strip():
            self.run()

    # ------------------------------------------------------------------ state
    @traitlets.validate("layer")
    def _valid_layer(self, proposal: dict) -> int:
        if proposal["value"] not in self.moe_layers:
            raise traitlets.TraitError(f"layer must be one of the MoE layers {sorted(self.moe_layers)}")
        return proposal["value"]

    @traitlets.validate("max_new_tokens")
    def _valid_max_new(self, proposal: dict) -> int:
        if proposal["value"] < 1:
            raise traitlets.TraitError("max_new_tokens must be at least 1")
        return proposal["value"]

    def _set_experts(self, name: str, experts: tuple) -> None:
        current = {k: list(v) for k, v in getattr(self, name).items()}
        if experts:
            current[self.layer] = sorted(int(e) for e in experts)
        else:
            current.pop(self.layer, None)
        setattr(self, name, current)

    def _show_layer(self, change: dict | None = None) -> None:
        E = self.moe_layers[self.layer]
        if self.layer_box.value != self.layer:
            self.layer_box.value = self.layer
        for box, chosen in ((self.ablate_box, self.ablate), (self.force_box, self.force)):
            if list(box.options) != list(range(E)):
                box.options = list(range(E))
            wanted = tuple(chosen.get(self.layer, ()))
            if tuple(box.value) != wanted:
                box.value = wanted

    def set_prompt(self, prompt: str, expected: Any = None) -> None:
        """Ask another question (``expected``: its right answer, for the marks; default: what the task
        generator's formats imply); ``run()`` answers it."""
        self.expected, self._expected_for = expected, prompt
        self.prompt = prompt

    def reset(self) -> None:
        """Clear every ablated / forced expert and the top-k override."""
        self.ablate, self.force, self.top_k = {}, {}, 0
        self.top_k_box.value = 0

    # ------------------------------------------------------------------ work
    def run(self, wait: bool = False) -> int:
        """Generate with and without the current changes (in the background); ``wait`` blocks until shown."""
        settings = dict(
            prompt=self.prompt,
            ablate=dict(self.ablate),
            force=dict(self.force),
            top_k=self.top_k or None,
            thinking=self.thinking,
            max_new_tokens=self.max_new_tokens,
            expected=self.expected if self._expected_for == self.prompt else None,
        )
        self.clear_error()
        if not settings["prompt"].strip():
            self.status = text("type_prompt", self.language)
            return self.worker.ticket
        self.status = text("generating", self.language)
        ticket = self.worker.submit(
            lambda cancel: self._work(settings, cancel), on_result=self._show, on_error=self.fail
        )
        if wait:
            self.wait()
        return ticket

    def _generate(self, s: dict) -> Generation:
        return generate(
            self.model,
            self.tokenizer,
            s["prompt"],
            thinking=s["thinking"],
            max_new_tokens=s["max_new_tokens"],
            capture=True,
        )

    def _work(self, s: dict, cancel: threading.Event) -> dict[str, Any]:
        change = intervene(self.model, ablate=s["ablate"], force=s["force"], top_k=s["top_k"])  # validates first
        with hold(self.model, what="ExpertSwitchboard"):  # both runs back to back, with no one between
            plain = self._generate(s)
            if cancel.is_set():
                return {}
            with change:
                changed = self._generate(s)
        return dict(
            settings=s,
            plain=plain,  # the Generations: their .answer is the answer (thinking.verdict)
            changed=changed,
            plain_trace=_generated_part(plain.trace, len(plain.prompt_ids)),
            changed_trace=_generated_part(changed.trace, len(changed.prompt_ids)),
            same=plain.token_ids == changed.token_ids,
        )

    def _show(self, result: dict[str, Any]) -> None:
        if not result:
            return
        self.result = result
        lang = self.language
        verdict = text("same_answer", lang) if result["same"] else text("answer_changed", lang)
        check = Expectation.of(
            result["settings"]["prompt"], self.model, result["settings"]["expected"], lang, self.answer_key
        )
        self.answers.value = answers_row_html(
            [
                answer_box_html(
                    result[key].answer,
                    label,
                    verdict=check.verdict_html(result[key].answer),
                    style="flex:1 1 0;min-width:0;",
                )
                for key, label in (("plain", text("as_trained", lang)), ("changed", text("with_changes", lang)))
            ]
        )
        if len(result["plain_trace"]) and len(result["changed_trace"]):
            asked = result["settings"]
            if asked["ablate"] or asked["force"] or asked["top_k"]:
                figure = expert_use_difference(
                    result["changed_trace"],
                    result["plain_trace"],
                    labels=(text("with_changes", lang), text("as_trained", lang)),
                    words=figure_labels(COMPARE_LABELS, lang),
                )
            else:  # nothing switched off yet: a difference of zero says nothing; show which experts it uses
                figure = expert_use_figure(
                    result["plain_trace"],
                    label=text("as_trained", lang),
                    title=text("use_title", lang),
                    words=figure_labels(COMPARE_LABELS, lang),
                )
            self.moved = self.show_figure(self.moved_box, self.moved, figure)
        self.status = f"{text('done', lang)}: {verdict}"

    def snapshot_parts(self) -> list[Any]:
        """The question, the status, both answers with their marks and the expert-use figure."""
        parts: list[Any] = [paragraph(f"{self.prompt} — {self.status}"), self.answers.value]
        if self.moved is not None:
            parts.append(self.moved.figure)
        return parts

    def snapshot_title(self) -> str:
        return f"ExpertSwitchboard — {self.prompt}"

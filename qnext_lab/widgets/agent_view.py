"""AgentView: run the tool loop on a prompt and watch the episode: thinking, tool calls, tool results and
the answer as they stream, then the episode turn by turn and which experts each phase leans on.

Thin: the state lives in traitlets (``prompt``, ``budget``, ``max_turns``); controls only write them. ``run``
streams ``thinking.agent.stream_agent`` on a background ``LatestWorker`` (a newer run supersedes an older one
and stops its generation at the next token); the views are ``figures.agent.agent_episode_html`` and
``figures.agent.phase_lift_figure`` (one ``PlotPane``, created with its first figure). ``close()`` stops the
worker and closes every part. Errors appear in the view's error pane.

    view = AgentView(model, tok, "What is 4785 * 356?", [multiply])
    view.run(wait=True); view.result.answer
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import traitlets

from ..checks import as_int
from ..figures.agent import agent_episode_html, agent_live_html, agent_view_parts, phase_lift_figure
from ..thinking.agent import AgentRun, stream_agent
from .knowledge import Expectation, split_expected
from .plot_pane import PlotPane
from .view import KitView
from .worker import LatestWorker

_REDRAW_EVERY_S = 0.1


class AgentView(KitView):
    """The agent loop on one prompt, streamed, with the episode and its routing by phase."""

    VIEW_NAME = "AgentView"
    prompt = traitlets.Unicode("")
    budget = traitlets.Int(-1, help="thinking tokens over the whole episode; -1 = no limit")
    max_turns = traitlets.Int(4, help="tool-call rounds allowed")
    verdict = traitlets.Unicode("", help="the shown answer's mark: 'right', 'wrong', 'unchecked' ('' before one)")
    max_new_tokens = traitlets.Int(None, allow_none=True, help="most new tokens per turn (None: the default)")
    thinking = traitlets.Bool(True, help="enable_thinking passed to the chat template")
    expected = traitlets.Any(None, allow_none=True, help="the right answer to the prompt set with it (None: unknown)")

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        prompt: str = "",
        tools: Sequence[Callable[..., Any]] = (),
        *,
        budget: int | None = None,
        max_turns: int = 4,
        max_new_tokens: int | None = None,
        thinking: bool = True,
        autorun: bool = False,
        expected: Any = None,
        language: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._begin(language)
        self.answer_key, self.expected = split_expected(expected)  # a key holds for every prompt, an answer for one
        self._expected_for, self._ran = prompt, prompt
        self.model, self.tokenizer, self.tools = model, tokenizer, list(tools)
        self.max_new_tokens, self.thinking = max_new_tokens, thinking
        self.worker = LatestWorker(name="qnext-agent-view")
        self.result: AgentRun | None = None
        self.prompt_box = widgets.Textarea(
            value=prompt, description="prompt", rows=2, layout=widgets.Layout(flex="1 1 0%", min_width="0")
        )
        self.budget_box = widgets.IntText(
            value=-1 if budget is None else budget,
            description="budget (-1 = none)",
            style={"description_width": "initial"},
            layout=widgets.Layout(width="auto"),
        )
        self.turns_box = widgets.BoundedIntText(
            value=max_turns,
            min=1,
            max=32,
            description="max turns",
            style={"description_width": "initial"},
            layout=widgets.Layout(width="auto"),
        )
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.note = widgets.HTML()  # before answering: what the model was trained on (answer_key)
        self.live = widgets.HTML()
        self.episode = widgets.HTML()
        self.lift: PlotPane | None = None  # created with the first result
        self.lift_box = widgets.VBox()
        super().__init__(
            [
                widgets.HBox(
                    [self.prompt_box, widgets.VBox([self.budget_box, self.turns_box, self.run_button])],
                    layout=widgets.Layout(width="100%"),
                ),
                self.note,
                self.status_label,
                self.live,
                self.episode,
                self.lift_box,
            ],
            css_class="qnext-agent-view",
            **kwargs,
        )
        # controls -> traits -> controls
        self.prompt_box.observe(lambda c: setattr(self, "prompt", c["new"]), names=["value"])
        self.budget_box.observe(lambda c: setattr(self, "budget", c["new"]), names=["value"])
        self.turns_box.observe(lambda c: setattr(self, "max_turns", c["new"]), names=["value"])
        self.observe(lambda c: setattr(self.prompt_box, "value", c["new"]), names=["prompt"])
        self.observe(lambda c: setattr(self.note, "value", self._expectation(c["new"]).note_html()), names=["prompt"])
        self.run_button.on_click(lambda _: self.run())
        self.prompt, self.budget, self.max_turns = prompt, self.budget_box.value, max_turns
        self.note.value = self._expectation(prompt).note_html()
        if autorun and prompt.strip():
            self.run()

    def _expectation(self, prompt: str) -> Expectation:
        expected = self.expected if prompt == self._expected_for else None
        return Expectation.of(prompt, self.model, expected, self.language, self.answer_key)

    @traitlets.validate("budget")
    def _valid_budget(self, proposal: dict) -> int:
        if proposal["value"] < -1:
            raise traitlets.TraitError("budget must be >= 0, or -1 for no limit")
        return proposal["value"]

    @traitlets.validate("max_new_tokens")
    def _valid_max_new(self, proposal: dict) -> int | None:
        return None if proposal["value"] is None else as_int(proposal["value"], "max_new_tokens", low=1)

    @traitlets.validate("max_turns")
    def _valid_turns(self, proposal: dict) -> int:
        if proposal["value"] < 1:
            raise traitlets.TraitError("max_turns must be at least 1")
        return proposal["value"]

    # ------------------------------------------------------------------ work
    def run(self, wait: bool = False) -> int:
        """Run the agent loop on ``prompt`` in the background; ``wait`` blocks until the result is shown."""
        settings = dict(prompt=self.prompt, budget=None if self.budget < 0 else self.budget, max_turns=self.max_turns)
        self.clear_error()
        if not settings["prompt"].strip():
            self.status = "type a prompt first"
            return self.worker.ticket
        self.status = "running…"
        self.verdict, self._ran = "", settings["prompt"]
        mine = self.worker.ticket + 1  # the ticket this submission gets (submit is only called from here)
        ticket = self.worker.submit(
            lambda cancel: self._work(settings, mine, cancel), on_result=self._show, on_error=self.fail
        )
        if wait:
            self.wait()
        return ticket

    def _work(self, s: dict, ticket: int, cancel: threading.Event) -> AgentRun | None:
        stream = stream_agent(
            self.model,
            self.tokenizer,
            s["prompt"],
            self.tools,
            budget=s["budget"],
            max_turns=s["max_turns"],
            max_new_tokens=self.max_new_tokens,
            thinking=self.thinking,
        )
        segments: list[tuple[str, str]] = []
        last = 0.0
        with stream:
            for piece in stream:
                if cancel.is_set():
                    stream.close()
                    return None
                if segments and segments[-1][0] == piece.phase:
                    segments[-1] = (piece.phase, segments[-1][1] + piece.text)
                else:
                    segments.append((piece.phase, piece.text))
                now = time.monotonic()
                if now - last > _REDRAW_EVERY_S and self.worker.is_latest(ticket):
                    self.live.value = agent_live_html(segments)
                    last = now
        return stream.result

    def _show(self, run: AgentRun | None) -> None:
        if run is None:
            return
        self.result = run
        self.live.value = ""
        check = self._expectation(self._ran)
        final = run.answer if run.finish_reason == "answer" else ""  # an episode cut off has no answer to mark
        right = check.is_right(final)
        self.verdict = "unchecked" if right is None else ("right" if right else "wrong")
        self.episode.value = agent_episode_html(run, verdict=check.verdict_html(final))
        if run.trace is not None and run.trace.num_tokens:
            self.lift = self.show_figure(self.lift_box, self.lift, phase_lift_figure(run.trace))
        self.status = f"done: {run.finish_reason}, {len(run.turns)} turn(s), {len(run.tool_calls)} tool call(s)"

    def snapshot_parts(self) -> list[Any]:
        """The question, the status, the episode turn by turn and the phase figure (``figures.agent``)."""
        return agent_view_parts(self.prompt, self.status, self.result)

    def snapshot_title(self) -> str:
        return f"Agent — {self.prompt}"

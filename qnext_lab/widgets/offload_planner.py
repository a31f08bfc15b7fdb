"""OffloadPlanner: "can I run it at home?" from a routing trace, in one view.

A thin widget over ``analysis.expert_cache`` / ``cache_misses`` / ``model_cost(offload=...)`` and
``figures.offload``: pick a model config's format and a machine, drag the share of experts per layer kept on the
GPU, switch the cache policy; see the hit rate per layer under every policy (the chosen one solid, Belady's
optimum beside it), the routing heatmap of one layer with each miss marked, and the predicted decode speed of the
config (by default Qwen3-Next-80B-A3B) with what bounds it. The trace's hit rate at the same share of resident
experts stands in for the big model's (say so when the trace comes from another model). State lives in traitlets
(``format``, ``machine``, ``share``, ``policy``, ``layer``); setting them from code moves the controls. Nothing
here runs a model. ``language=`` (or ``set_language``) picks English or Japanese words; the options' values stay
the API's names (``"lru"``, ``"static"``, a key of ``MACHINES``), only what the controls show is translated.

    view = OffloadPlanner(generation.trace)       # Qwen3-Next-80B-A3B's config by default
    view.share = 40; view.policy = "lfu"

Dimension legend: E = experts per layer (the trace's, and the config's).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import traitlets

from ..analysis.cache_replay import POLICIES, cache_misses, expert_cache
from ..analysis.cost import model_cost
from ..analysis.offload_speed import MACHINES
from ..checks import as_int
from ..figures.offload import LABELS as OFFLOAD_LABELS
from ..figures.offload import hit_rate_figure, miss_heatmap, no_fit_html, speed_html
from ..figures.routing import DEFAULT_WIDTH_PX
from ..figures.routing import LABELS as ROUTING_LABELS
from .i18n import figure_labels, option_label, options, text
from .view import KitView

FORMATS = ("F16", "Q8_0", "Q4_0", "MXFP4")


class OffloadPlanner(KitView):
    """Hit rate per layer, misses on the heatmap and predicted tokens/s for a share of experts on the GPU."""

    VIEW_NAME = "OffloadPlanner"

    format = traitlets.Unicode("Q4_0", help="weight format of the config's experts and dense weights")
    machine = traitlets.Unicode("RTX 4090 + 64 GB DDR5", help="a key of qnext_lab.analysis.MACHINES")
    share = traitlets.Int(50, help="percent of each layer's experts kept on the GPU (cache slots)")
    policy = traitlets.Unicode("lru", help="cache policy: lru, lfu, static or belady")
    layer = traitlets.Int(0, help="decoder layer shown in the heatmap (a value of trace.layer_indices)")
    context = traitlets.Int(4096, help="context length (tokens) the speed is predicted at")
    batch = traitlets.Int(1, help="sequences decoded together")

    def __init__(
        self,
        trace: Any,
        config: Any = None,
        *,
        context: int = 4096,
        batch: int = 1,
        share: int = 50,
        policy: str = "lru",
        format: str = "Q4_0",
        machine: str = "RTX 4090 + 64 GB DDR5",
        language: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._begin(language)
        say = self.language
        if config is None:
            import transformers

            config = transformers.Qwen3NextConfig()  # Qwen3-Next-80B-A3B's published shape
        self.trace, self.config = trace, config
        self.context, self.batch = context, batch
        expert_cache(trace, 0)  # checks the trace (TypeError/ValueError) before any control exists
        self.config_experts = model_cost(config, offload=dict(machine="H100 80 GB (all on GPU)")).offload.num_experts
        # controls start at the requested state: widgets.link copies each control's value into the trait
        self.format_dropdown = widgets.Dropdown(options=FORMATS, value=format, description=text("format", say))
        self.machine_dropdown = widgets.Dropdown(
            options=options("machine", MACHINES, say), value=machine, description=text("machine", say)
        )
        self.share_slider = widgets.IntSlider(
            value=share,
            min=0,
            max=100,
            step=1,
            description=text("on_gpu", say),
            continuous_update=False,
            style={"description_width": "initial"},
        )
        self.policy_toggle = widgets.ToggleButtons(
            options=options("policy", POLICIES, say), value=policy, description=text("policy", say)
        )
        self.layer_dropdown = widgets.Dropdown(
            options=[int(i) for i in trace.layer_indices],
            value=int(trace.layer_indices[0]),
            description=text("layer", say),
        )
        self.speed = widgets.HTML()
        self._results = self._replay(share)
        self.hit_rates = self.new_plot(hit_rate_figure(self._results, current=policy, words=self._words()))
        self.heatmap = self.new_plot(
            self._heatmap(cache_misses(trace, self._slots(share), policy), trace.layer_indices[0], DEFAULT_WIDTH_PX)
        )
        super().__init__(
            [
                widgets.HBox([self.format_dropdown, self.machine_dropdown]),
                widgets.HBox([self.share_slider, self.layer_dropdown]),
                self.policy_toggle,
                self.speed,
                self.hit_rates,
                self.heatmap,
            ],
            css_class="qnext-offload-planner",
            **kwargs,
        )
        with self.hold_trait_notifications():
            self.format, self.machine, self.share, self.policy = format, machine, share, policy
            self.layer = trace.layer_indices[0]
        for control, name in [
            (self.format_dropdown, "format"),
            (self.machine_dropdown, "machine"),
            (self.share_slider, "share"),
            (self.policy_toggle, "policy"),
            (self.layer_dropdown, "layer"),
        ]:
            widgets.link((control, "value"), (self, name))
        self.observe(self._on_change, names=["format", "machine", "share", "policy", "layer", "context", "batch"])
        self._render()

    # ------------------------------------------------------------------ state -> numbers
    def _slots(self, share: int) -> int:
        return round(share / 100 * self.trace.num_experts)

    def _replay(self, share: int) -> dict:
        return {p: expert_cache(self.trace, self._slots(share), p) for p in POLICIES}

    @traitlets.validate("share")
    def _valid_share(self, proposal: dict) -> int:
        if not 0 <= int(proposal["value"]) <= 100:
            raise traitlets.TraitError(f"share is a percent in [0, 100], got {proposal['value']}")
        return int(proposal["value"])

    @traitlets.validate("context", "batch")
    def _valid_positive(self, proposal: dict) -> int:
        return as_int(proposal["value"], proposal["trait"].name, low=1)

    @traitlets.validate("policy")
    def _valid_policy(self, proposal: dict) -> str:
        if proposal["value"] not in POLICIES:
            raise traitlets.TraitError(f"policy must be one of {POLICIES}, got {proposal['value']!r}")
        return proposal["value"]

    def prediction(self) -> Any:
        """The ``OffloadCost`` for the current state (slots = share of the config's experts, capped at what fits)."""
        df = self._results[self.policy]
        hit = float(df["hits"].sum() / max(1, df["requests"].sum()))
        fits = model_cost(
            self.config, context=self.context, batch=self.batch, offload=dict(format=self.format, machine=self.machine)
        ).offload.max_slots
        slots = min(fits, round(self.share / 100 * self.config_experts))
        return model_cost(
            self.config,
            context=self.context,
            batch=self.batch,
            offload=dict(format=self.format, machine=self.machine, slots=slots, hit_rate=hit),
        ).offload

    def speed_text(self) -> str:
        slots = self._slots(self.share)
        try:
            cost = self.prediction()
        except ValueError as error:  # the config's non-expert part does not fit this machine
            return no_fit_html(str(error), words=self._words())
        full = cost.slots >= round(self.share / 100 * self.config_experts)
        note = text(
            "hit_rate_note",
            self.language,
            policy=self._words().get(f"policy_{self.policy}", self.policy),
            slots=slots,
            experts=self.trace.num_experts,
            capped="" if full else text("capped", self.language),
        )
        machine = option_label("machine", self.machine, self.language)
        return speed_html(cost, hit_rate_note=note, words=self._words(), machine=machine)

    def _words(self) -> dict[str, str]:
        """The offload figures' words in this view's language."""
        return figure_labels(OFFLOAD_LABELS, self.language)

    def _heatmap(self, misses: Any, layer: int, width: int) -> Any:
        words = figure_labels(ROUTING_LABELS, self.language)
        return miss_heatmap(self.trace, misses, layer, width_px=width, words=self._words(), routing_words=words)

    # ------------------------------------------------------------------ view
    def _on_change(self, change: dict) -> None:
        if change["name"] == "share":
            self._results = self._replay(self.share)
        self._render()

    def _render(self) -> None:
        try:
            self.speed.value = self.speed_text()
            self.hit_rates.show(hit_rate_figure(self._results, current=self.policy, words=self._words()))
            width = self.page.width if self.page.width > 0 else DEFAULT_WIDTH_PX
            misses = cache_misses(self.trace, self._slots(self.share), self.policy)
            self.heatmap.show(self._heatmap(misses, self.layer, width))
        except Exception as exc:  # shown in the widget, not swallowed
            self.show_error(exc)

    def _pane_width_changed(self, old: int, new: int) -> None:
        if abs(new - (old or DEFAULT_WIDTH_PX)) >= 40:  # the heatmap's token labels depend on the width
            self._render()

    def snapshot_parts(self) -> list[Any]:
        """The predicted speed and both figures (``to_html``, the saved static copy)."""
        return [self.speed.value, self.hit_rates.figure, self.heatmap.figure]

    def snapshot_title(self) -> str:
        return "OffloadPlanner"

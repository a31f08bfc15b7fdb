"""A view's user-visible state is in traitlets: readable, observable, checked by the kit's one rule for numbers
(qnext_lab.checks: bools and negative counts refused), and setting it from code does what the control does."""

from __future__ import annotations

import pytest
import traitlets

import qnext_lab as ql
from qnext_lab.widgets.i18n import text
from qnext_lab.widgets.routing_heatmap import RoutingHeatmap
from qnext_lab.widgets.think_compare import ThinkCompare


def test_language_is_a_read_only_trait_checked_when_the_view_is_built(trace):
    view = RoutingHeatmap(trace, language="ja")
    assert view.language == "ja" and view.has_trait("language")
    with pytest.raises(traitlets.TraitError, match="read-only"):
        view.language = "en"
    with pytest.raises(ValueError, match="language must be one of"):
        RoutingHeatmap(trace, language="fr")


def test_routing_heatmap_title_is_a_trait_that_redraws_the_header(trace):
    view = RoutingHeatmap(trace, title="first")
    view.title = "<b>second</b>"
    assert "&lt;b&gt;second" in view.header.value and "first" not in view.header.value
    assert view.snapshot_title() == "<b>second</b>"  # escaped by the exporter


def test_think_compare_settings_are_traits_checked_by_the_one_rule(model_and_tokenizer):
    model, tok = model_and_tokenizer
    view = ThinkCompare(model, tok, "What is 1 + 2?", budget=4, max_new_tokens=8, autorun=False, language="en")
    try:
        assert (view.budget, view.max_new_tokens) == (4, 8)
        assert view.labels == (text("thinking", "en"), text("non_thinking", "en"))
        with pytest.raises(TypeError):
            view.budget = True  # a bool is not a budget
        with pytest.raises(ValueError, match="max_new_tokens"):
            view.max_new_tokens = 0
        view.budget = None  # no limit
        with pytest.raises(traitlets.TraitError):
            view.labels = ("a", "b")
    finally:
        view.close()


def test_offload_planner_context_and_batch_are_traits_that_move_the_prediction(trace):
    view = ql.OffloadPlanner(trace)
    short = view.speed.value
    view.context = 262144
    assert view.speed.value != short
    with pytest.raises(ValueError, match="batch"):
        view.batch = 0


def test_dashboard_prompt_is_a_trait_that_asks_every_part(model_and_tokenizer):
    model, tok = model_and_tokenizer
    dashboard = ql.lab(model, tok, "What is 12 + 30?", max_new_tokens=8, max_budget=8, budget=2)
    try:
        assert dashboard.wait(180)
        dashboard.prompt = "What is 2 + 3?"
        assert dashboard.prompt_box.value == "What is 2 + 3?"
        assert dashboard.compare.prompt == dashboard.tuner.prompt == dashboard.experts.prompt == "What is 2 + 3?"
        assert dashboard.wait(180)
        dashboard.ask("What is 4 + 4?", expected="8")
        assert dashboard.prompt == dashboard.prompt_box.value == "What is 4 + 4?"
        assert dashboard.wait(180) and dashboard.experts.expected == "8"
    finally:
        dashboard.close()

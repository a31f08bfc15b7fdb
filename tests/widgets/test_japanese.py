"""A Japanese view says nothing in English but names: the OffloadPlanner's controls (the values stay the API's
names), its figures and its speed line; the routing view's layer line; the budget curve's marker; a figure builder
called from a notebook in the session's language (``ql.figure_words``). One table (widgets/i18n.py) for all."""

from __future__ import annotations

import re

import pandas as pd
import pytest

import qnext_lab as ql
from qnext_lab.analysis.cache_replay import POLICIES
from qnext_lab.figures.budget import budget_curve, mark_budget
from qnext_lab.widgets.i18n import figure_words, get_language, set_language

# names a Japanese reader sees in Latin letters anyway (cache policies named by their inventors' or their own
# acronyms, hardware, the model), and units
NAMES = {"LRU", "LFU", "Belady", "GPU", "NVMe", "RTX", "MiB", "top", "Qwen", "Next"}


def english_words(text: str) -> set[str]:
    plain = re.sub(r"<[^>]+>|&[a-z#0-9]+;", " ", text)
    return {w for w in re.findall(r"\b[A-Za-z]{3,}\b", plain) if w not in NAMES}  # words, not H100 or Q4_0


def figure_text(figure) -> list[str]:
    layout = figure.layout
    words = [layout.title.text or "", layout.xaxis.title.text or "", layout.yaxis.title.text or ""]
    words += [
        t.name for t in figure.data if t.name and t.showlegend is not False and t.type != "heatmap"
    ]  # in the legend
    words += [a.text for a in layout.annotations or ()]
    return words


def test_a_japanese_offload_planner_speaks_japanese_and_keeps_api_values(make_trace):
    trace = make_trace(num_layers=2, num_tokens=30, k=2, num_experts=8)
    view = ql.OffloadPlanner(trace, share=25, policy="static", language="ja")
    for control in (view.format_dropdown, view.machine_dropdown, view.share_slider, view.policy_toggle):
        assert not english_words(control.description), control.description
    assert [value for _, value in view.policy_toggle.options] == list(POLICIES)  # values: the API's names
    assert view.policy_toggle.value == "static" and view.policy_toggle.label == "固定"
    for label, _ in view.policy_toggle.options + view.machine_dropdown.options:
        assert not english_words(label), label
    view.policy = "belady"  # a value set from code moves the control to its Japanese label
    assert view.policy_toggle.label == "Belady"
    for figure in (view.hit_rates.figure, view.heatmap.figure):
        for text in figure_text(figure):
            assert not english_words(text), text
    assert "トークン/秒" in view.speed.value and not english_words(view.speed.value), view.speed.value
    view.machine = "H100 80 GB (all on GPU)"
    assert "すべて GPU 上" in view.speed.value and not english_words(view.speed.value), view.speed.value
    view.close()
    english = ql.OffloadPlanner(trace, share=25, policy="static", language="en")
    assert english.policy_toggle.label == "static" and "tokens/s" in english.speed.value
    assert english.hit_rates.figure.layout.xaxis.title.text == "decoder layer"
    english.close()


def test_the_routing_view_names_its_layer_in_japanese(trace):
    view = ql.RoutingHeatmap(trace, language="ja")
    assert view.layer_label.value == f"層 {view.layer}"
    view.close()


def test_the_budget_marker_has_a_japanese_name_and_still_moves():
    df = pd.DataFrame({"budget": [0, 8, None], "mode": ["thinking"] * 3, "accuracy": [0.2, 0.5, 0.7]})
    fig = budget_curve(df, current_budget=8, words={"marker": "現在の予算", "budget": "予算"})
    marker = next(t for t in fig.data if t.name == "現在の予算")
    assert marker.showlegend and marker.hovertext == "予算 8"
    mark_budget(fig, 0)
    assert marker.hovertext == "予算 0" and marker.name == "現在の予算"


def test_a_figure_called_from_a_notebook_follows_the_session_language():
    import transformers

    from qnext_lab.analysis import decode_throughput_table, qwen3_32b_config

    table = decode_throughput_table(
        transformers.Qwen3NextConfig(), qwen3_32b_config(), contexts=[4096, 262144], batches=[1, 16]
    )
    before = get_language()
    try:
        set_language("ja")
        fig = ql.figures.throughput_ratio_figure(
            table, batch=1, words=ql.figure_words(ql.figures.throughput_ratio_figure)
        )
    finally:
        set_language(before)
    assert fig.layout.title.text.startswith("バッチ 1: ")
    for text in figure_text(fig):
        assert not english_words(text), text
    from qnext_lab.figures.article import LABELS

    assert figure_words(ql.figures.throughput_ratio_figure, "en") == LABELS  # English: the builder's own words
    with pytest.raises(TypeError, match="figure builder"):
        figure_words(print)

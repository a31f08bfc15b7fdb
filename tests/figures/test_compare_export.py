"""Expert-use difference between two traces, and the standalone offline HTML export."""

from __future__ import annotations

import numpy as np
import pytest

from qnext_lab.figures.compare import expert_use, expert_use_difference
from qnext_lab.figures.export import write_html
from qnext_lab.figures.routing import expert_heatmap, routing_text_html

XSS = "<img src=x onerror=alert(1)>"  # a token that must always show as text


def test_expert_use_rows_are_shares_of_generated_tokens(trace):
    use = expert_use(trace)
    assert use.shape == (3, 8)
    np.testing.assert_allclose(use.sum(axis=1), 1.0)
    everything = expert_use(trace, exclude_prompt=False)
    assert not np.allclose(use, everything)


def test_difference_is_a_minus_b_and_antisymmetric(trace, make_trace):
    other = make_trace(num_tokens=30)
    fig_ab = expert_use_difference(trace, other, labels=("thinking", XSS))
    fig_ba = expert_use_difference(other, trace)
    np.testing.assert_allclose(np.asarray(fig_ab.data[0].z), -np.asarray(fig_ba.data[0].z))
    np.testing.assert_allclose(np.asarray(fig_ab.data[0].z), expert_use(trace) - expert_use(other))
    assert XSS not in fig_ab.to_json()
    assert fig_ab.data[0].zmid == 0


def test_difference_refuses_mismatched_architectures(trace, make_trace):
    with pytest.raises(ValueError, match="same MoE layers and experts"):
        expert_use_difference(trace, make_trace(num_experts=16))


def test_export_is_standalone_offline_and_escaped(tmp_path, trace):
    path = write_html(
        tmp_path / "out" / "routing.html",
        [expert_heatmap(trace, 1), routing_text_html(trace, 1)],
        title=f"routing {XSS}",
    )
    html = path.read_text()
    assert "<script src" not in html and 'src="http' not in html  # nothing fetched from a CDN
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js inlined
    assert XSS not in html and "<img" not in html
    assert "<title>routing &lt;img src=x onerror=alert(1)&gt;</title>" in html
    with pytest.raises(TypeError):
        write_html(tmp_path / "bad.html", [42])

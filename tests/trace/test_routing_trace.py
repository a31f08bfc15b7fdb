"""RoutingTrace: validation, views, DataFrame, safetensors round trip, refusal of foreign files."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from qnext_lab.trace import PHASES, RoutingTrace


def small_trace(**overrides) -> RoutingTrace:
    # 2 layers (decoder layers 1 and 3), 4 tokens (seq 0: 3 tokens, seq 1: 1 token), k = 2, E = 4
    kw = dict(
        topk_ids=torch.tensor([[[0, 1], [2, 3], [1, 0], [3, 2]],
                               [[1, 2], [0, 3], [2, 1], [0, 1]]]),
        topk_weights=torch.tensor([[[0.6, 0.4], [0.7, 0.3], [0.5, 0.5], [0.9, 0.1]],
                                   [[0.8, 0.2], [0.55, 0.45], [0.6, 0.4], [0.75, 0.25]]]),
        token_ids=torch.tensor([10, 11, 12, 20]),
        seq_index=torch.tensor([0, 0, 0, 1]),
        position=torch.tensor([0, 1, 2, 0]),
        layer_indices=[1, 3],
        num_experts=4,
        top_k=2,
        model_name="toy",
    )
    kw.update(overrides)
    return RoutingTrace(**kw)


def test_fields_are_coerced_to_the_contract_dtypes():
    t = small_trace(phase=torch.tensor([0, 1, 2, 0]), probs=torch.full((2, 4, 4), 0.25, dtype=torch.float64))
    assert t.topk_ids.dtype == torch.int32 and t.topk_weights.dtype == torch.float32
    assert t.token_ids.dtype == torch.int64 and t.seq_index.dtype == torch.int32 and t.position.dtype == torch.int32
    assert t.phase.dtype == torch.int8 and t.probs.dtype == torch.float32
    assert (t.num_layers, t.num_tokens, t.num_sequences, len(t)) == (2, 4, 2, 4)
    assert PHASES[:3] == ("prompt", "thinking", "answer")  # ids of traces saved before tool phases existed
    assert PHASES[3:] == ("tool_call", "tool_response")
    assert "layers=2" in repr(t) and "tokens=4" in repr(t)


@pytest.mark.parametrize("bad, err", [
    (dict(topk_ids=torch.zeros(2, 4, 2)), TypeError),  # float ids
    (dict(topk_weights=torch.zeros(2, 3, 2)), ValueError),  # shape mismatch
    (dict(top_k=3), ValueError),
    (dict(layer_indices=[1]), ValueError),
    (dict(topk_ids=torch.full((2, 4, 2), 4)), ValueError),  # expert out of range
    (dict(position=torch.tensor([0, 1])), ValueError),
    (dict(probs=torch.zeros(2, 4, 3)), ValueError),
    (dict(phase=torch.tensor([0, 1, 5, 0])), ValueError),
    (dict(tokens=["a"]), ValueError),
])
def test_bad_fields_are_refused(bad, err):
    with pytest.raises(err):
        small_trace(**bad)


def test_select_and_layer_views():
    t = small_trace(phase=torch.tensor([0, 1, 2, 0]), tokens=["a", "b", "c", "d"])
    s = t.select(seq=1)
    assert s.token_ids.tolist() == [20] and s.seq_index.tolist() == [1] and s.tokens == ["d"]
    assert s.topk_ids[:, 0].tolist() == [[3, 2], [0, 1]]
    assert t.select(seq=[0]).position.tolist() == [0, 1, 2]
    assert t.select(phase="thinking").token_ids.tolist() == [11]
    assert t.select(phase=["prompt", 2]).token_ids.tolist() == [10, 12, 20]
    l3 = t.layer(3)
    assert l3.layer_indices == [3] and l3.topk_ids.shape == (1, 4, 2)
    assert l3.topk_ids[0, 1].tolist() == [0, 3]
    with pytest.raises(ValueError, match="captured layers are"):
        t.layer(0)
    with pytest.raises(ValueError, match="not in this trace"):
        t.select(seq=7)
    with pytest.raises(ValueError, match="no phase"):
        small_trace().select(phase="prompt")
    with pytest.raises(ValueError, match="unknown phase"):
        t.select(phase="dreaming")


def test_concat_renumbers_sequences():
    a, b = small_trace(), small_trace()
    c = RoutingTrace.concat([a, b])
    assert c.seq_index.tolist() == [0, 0, 0, 1, 2, 2, 2, 3]
    assert c.topk_ids.shape == (2, 8, 2)
    assert RoutingTrace.concat([a, b], renumber_sequences=False).seq_index.tolist() == [0, 0, 0, 1] * 2
    with pytest.raises(ValueError):
        RoutingTrace.concat([a, small_trace(layer_indices=[0, 1])])


def test_to_dataframe_long_format():
    t = small_trace(phase=torch.tensor([0, 1, 2, 0]), tokens=["<b>", "b", "c", "d"])
    df = t.to_dataframe()
    assert len(df) == 2 * 4 * 2
    assert list(df.columns[:8]) == ["layer", "token", "seq", "position", "token_id", "rank", "expert", "weight"]
    row = df[(df.layer == 3) & (df.token == 1) & (df["rank"] == 1)].iloc[0]
    assert (row.expert, row.seq, row.position, row.token_id) == (3, 0, 1, 11)
    assert row.weight == pytest.approx(0.45)
    assert row.phase == "thinking" and row.text == "b"
    assert df[df.token == 0].text.unique().tolist() == ["<b>"]


def test_save_load_round_trip(tmp_path):
    probs = torch.softmax(torch.randn(2, 4, 4), -1)
    t = small_trace(probs=probs, phase=torch.tensor([0, 1, 2, 0]), tokens=["x", "y", "<z>", "\u00e9"])
    path = tmp_path / "t.safetensors"
    t.save(path)
    u = RoutingTrace.load(path)
    for name in ("topk_ids", "topk_weights", "token_ids", "seq_index", "position", "probs", "phase"):
        assert torch.equal(getattr(t, name), getattr(u, name)), name
    assert (u.layer_indices, u.num_experts, u.top_k, u.model_name, u.tokens) == ([1, 3], 4, 2, "toy", t.tokens)
    # an optional field left out stays out
    small_trace().save(path)
    assert RoutingTrace.load(path).probs is None


def test_empty_trace_round_trips(tmp_path):
    t = small_trace(topk_ids=torch.zeros(2, 0, 2, dtype=torch.int32), topk_weights=torch.zeros(2, 0, 2),
                    token_ids=torch.zeros(0, dtype=torch.long), seq_index=torch.zeros(0, dtype=torch.int32),
                    position=torch.zeros(0, dtype=torch.int32))
    t.save(tmp_path / "e.safetensors")
    assert len(RoutingTrace.load(tmp_path / "e.safetensors")) == 0


def test_load_refuses_files_that_are_not_traces(tmp_path):
    plain = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(ValueError, match="not a qnext_lab RoutingTrace"):
        RoutingTrace.load(plain)
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other), metadata={"qnext_lab": json.dumps({"format": "something"})})
    with pytest.raises(ValueError, match="not a qnext_lab RoutingTrace"):
        RoutingTrace.load(other)
    newer = tmp_path / "newer.safetensors"
    save_file({"w": torch.zeros(2)}, str(newer),
              metadata={"qnext_lab": json.dumps({"format": "qnext_lab.RoutingTrace", "version": 99})})
    with pytest.raises(ValueError, match="version 99"):
        RoutingTrace.load(newer)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x80\x04not a safetensors file at all")
    with pytest.raises(ValueError, match="not a qnext_lab RoutingTrace"):
        RoutingTrace.load(junk)
    with pytest.raises(FileNotFoundError):
        RoutingTrace.load(tmp_path / "missing.safetensors")

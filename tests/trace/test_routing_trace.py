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
        topk_ids=torch.tensor([[[0, 1], [2, 3], [1, 0], [3, 2]], [[1, 2], [0, 3], [2, 1], [0, 1]]]),
        topk_weights=torch.tensor(
            [[[0.6, 0.4], [0.7, 0.3], [0.5, 0.5], [0.9, 0.1]], [[0.8, 0.2], [0.55, 0.45], [0.6, 0.4], [0.75, 0.25]]]
        ),
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


def _ids(*rows) -> torch.Tensor:
    return torch.tensor([[[0, 1], [2, 3], [1, 0], [3, 2]], [[1, 2], [0, 3], [2, 1], [0, 1]]])


def _with(name: str, index: tuple, value) -> torch.Tensor:
    t = getattr(small_trace(), name).clone()
    t[index] = value
    return t


NAN_WEIGHTS = _with("topk_weights", (1, 2, 0), float("nan"))
INF_WEIGHTS = _with("topk_weights", (0, 0, 1), float("inf"))


@pytest.mark.parametrize(
    "bad, err, match",
    [
        (dict(topk_ids=torch.zeros(2, 4, 2)), TypeError, "topk_ids must be an integer tensor"),
        (dict(topk_ids=torch.zeros(2, 4, 2, dtype=torch.bool)), TypeError, "topk_ids must be an integer tensor"),
        (dict(topk_ids=torch.zeros(8, dtype=torch.int32)), ValueError, "topk_ids must have 3 dimensions"),
        (dict(topk_weights=torch.zeros(2, 3, 2)), ValueError, "topk_weights shape"),
        (dict(topk_weights=torch.zeros(2, 4, 2, dtype=torch.int32)), TypeError, "topk_weights must be a floating"),
        (dict(topk_weights=NAN_WEIGHTS), ValueError, r"topk_weights has 1 NaN/inf value\(s\) \(first at \(1, 2, 0\)\)"),
        (dict(topk_weights=INF_WEIGHTS), ValueError, "NaN/inf"),
        (dict(topk_weights=torch.full((2, 4, 2), 1e39, dtype=torch.float64)), ValueError, "NaN/inf"),  # inf in fp32
        (dict(top_k=3), ValueError, "k=2 columns but top_k=3"),
        (dict(top_k=5), ValueError, r"top_k must be in \[0, 4\]"),
        (dict(top_k=2.0), TypeError, "top_k must be an integer"),
        (dict(num_experts=10**9), ValueError, r"num_experts must be in \[1, 4096\]"),
        (dict(num_experts=0), ValueError, "num_experts must be in"),
        (dict(num_experts="4"), TypeError, "num_experts must be an integer"),
        (dict(num_experts=True), TypeError, "bool"),
        (dict(layer_indices=[1]), ValueError, "1 entries for 2 captured layers"),
        (dict(layer_indices=[1, 1]), ValueError, "distinct"),
        (dict(layer_indices=[-1, 3]), ValueError, r"layer_indices\[\] must be in"),
        (dict(layer_indices=[0.7, 3]), TypeError, "layer_indices"),
        (dict(layer_indices="13"), TypeError, "list of decoder-layer indices"),
        (
            dict(topk_ids=torch.full((2, 4, 2), 4)),
            ValueError,
            r"topk_ids values must lie in \[0, 3\] \(num_experts=4\)",
        ),
        (dict(topk_ids=-_ids()), ValueError, "topk_ids values must lie in"),
        (dict(topk_ids=_ids() + 2**32), ValueError, "topk_ids values must lie in"),  # would wrap to valid ids in int32
        (dict(topk_ids=_with("topk_ids", (0, 1, 1), 2)), ValueError, "repeats expert 2 at ranks 0 and 1"),
        (dict(position=torch.tensor([0, 1])), ValueError, r"position must have shape \(4,\)"),
        (dict(position=torch.tensor([0, -1, 2, 0])), ValueError, r"position values must lie in \[0,"),
        (dict(position=torch.tensor([0, 2**32, 2, 0])), ValueError, "position values must lie in"),
        (dict(seq_index=torch.tensor([0, 0, -3, 1])), ValueError, "seq_index values must lie in"),
        (dict(token_ids=torch.tensor([10, -11, 12, 20])), ValueError, "token_ids values must lie in"),
        (dict(token_ids=torch.tensor([10.0, 11, 12, 20])), TypeError, "token_ids must be an integer tensor"),
        (dict(token_ids="abcd"), TypeError, "token_ids must be a tensor"),
        (dict(probs=torch.zeros(2, 4, 3)), ValueError, r"probs must have shape \(2, 4, 4\)"),
        (dict(probs=torch.full((2, 4, 4), float("nan"))), ValueError, "probs has 32 NaN/inf"),
        (dict(probs=torch.full((2, 4, 4), 2.0)), ValueError, r"probs values must lie in \[0.0, 1.0\]"),
        (dict(selection_scores=torch.zeros(2, 4, 3)), ValueError, r"selection_scores must have shape \(2, 4, 4\)"),
        (dict(selection_scores=torch.zeros(2, 4, 4, dtype=torch.int64)), TypeError, "selection_scores must be a float"),
        (dict(selection_scores=torch.full((2, 4, 4), float("inf"))), ValueError, "selection_scores has 32 NaN/inf"),
        (
            dict(phase=torch.tensor([0, 1, 5, 0])),
            ValueError,
            r"phase values must lie in \[0, 4\] \(indices into PHASES",
        ),
        (dict(phase=torch.tensor([0, 1, 258, 0])), ValueError, "phase values must lie in"),  # 258 wraps to 2 in int8
        (dict(phase=torch.tensor([0, 1, -1, 0])), ValueError, "phase values must lie in"),
        (dict(tokens=["a"]), ValueError, "1 entries for 4 tokens"),
        (dict(tokens="abcd"), TypeError, "tokens must be a list of str"),
        (dict(tokens=["a", "b", 3, "d"]), TypeError, "tokens must hold str"),
        (dict(model_name=7), TypeError, "model_name must be a str"),
    ],
)
def test_bad_fields_are_refused(bad, err, match):
    with pytest.raises(err, match=match):
        small_trace(**bad)


def test_integral_numbers_are_accepted_where_ints_are_expected():
    import numpy as np

    t = small_trace(num_experts=np.int64(4), top_k=torch.tensor(2), layer_indices=[np.int32(1), 3])
    assert (t.num_experts, t.top_k, t.layer_indices) == (4, 2, [1, 3]) and type(t.num_experts) is int
    assert t.layer(np.int64(3)).layer_indices == [3]
    assert t.select(seq=np.int64(1)).token_ids.tolist() == [20]
    with pytest.raises(TypeError, match="decoder-layer index"):
        t.layer(3.0)
    with pytest.raises(ValueError, match="repeat a layer"):
        t.layers([3, 3])


def _raw_trace_file(path, tensors=None, **meta_changes):
    """Write a trace file by hand (as a corrupt or hostile file would be), starting from a valid one."""
    t = small_trace()
    base = {
        "topk_ids": t.topk_ids,
        "topk_weights": t.topk_weights,
        "token_ids": t.token_ids,
        "seq_index": t.seq_index,
        "position": t.position,
    }
    base.update(tensors or {})
    meta = {
        "format": "qnext_lab.RoutingTrace",
        "version": 1,
        "layer_indices": [1, 3],
        "num_experts": 4,
        "top_k": 2,
        "model_name": "toy",
        "tokens": None,
    }
    for key, value in meta_changes.items():
        if value is _DROP:
            meta.pop(key)
        else:
            meta[key] = value
    save_file(
        {k: v.contiguous() for k, v in base.items() if v is not None},
        str(path),
        metadata={"qnext_lab": json.dumps(meta)},
    )
    return path


_DROP = object()


@pytest.mark.parametrize(
    "tensors, meta, match",
    [
        ({}, dict(num_experts=10**9), r"num_experts must be in \[1, 4096\]"),  # would allocate GBs in the views
        ({}, dict(num_experts=_DROP), r"metadata is missing \['num_experts'\]"),
        ({}, dict(layer_indices=_DROP), r"metadata is missing \['layer_indices'\]"),
        ({}, dict(top_k=_DROP, num_experts=_DROP), r"missing \['num_experts', 'top_k'\]"),
        ({}, dict(num_experts=4.5), "num_experts must be an integer"),
        ({}, dict(num_experts="4"), "num_experts must be an integer"),
        ({}, dict(top_k=True), "top_k must be an integer"),
        ({}, dict(layer_indices={"a": 1}), "layer_indices must be a JSON list"),
        ({}, dict(layer_indices=[1, "3"]), "layer_indices"),
        ({}, dict(tokens="abcd"), "tokens must be a JSON list"),
        ({}, dict(tokens=[1, 2, 3, 4]), "tokens must hold str"),
        ({}, dict(model_name=["x"]), "model_name must be a str"),
        ({"topk_weights": NAN_WEIGHTS}, {}, "NaN/inf"),
        ({"position": torch.tensor([0, -1, 2, 0], dtype=torch.int32)}, {}, "position values must lie in"),
        ({"topk_ids": torch.full((2, 4, 2), 9, dtype=torch.int32)}, {}, r"topk_ids values must lie in \[0, 3\]"),
        ({"topk_ids": -torch.ones(2, 4, 2, dtype=torch.int32)}, {}, "topk_ids values must lie in"),
        ({"topk_ids": torch.zeros(2, 4, 2)}, {}, "topk_ids must be an integer tensor"),
        ({"token_ids": torch.tensor([1, 2, 3])}, {}, r"token_ids must have shape \(4,\)"),
        ({"phase": torch.tensor([0, 1, 7, 0], dtype=torch.int8)}, {}, "phase values must lie in"),
        ({"probs": torch.zeros(2, 4, 9)}, {}, r"probs must have shape \(2, 4, 4\)"),
        ({"evil": torch.zeros(1)}, {}, r"unexpected tensors \['evil'\]"),
        ({"seq_index": None}, {}, r"missing tensors \['seq_index'\]"),
    ],
)
def test_load_validates_every_field(tmp_path, tensors, meta, match):
    path = _raw_trace_file(tmp_path / "t.safetensors", tensors, **meta)
    with pytest.raises(ValueError, match=match):
        RoutingTrace.load(path)


def test_a_small_file_claiming_a_billion_experts_is_refused_quickly(tmp_path):
    path = _raw_trace_file(tmp_path / "huge.safetensors", num_experts=10**9)
    assert path.stat().st_size < 10_000
    with pytest.raises(ValueError, match="not a valid RoutingTrace.*num_experts.*recapture"):
        RoutingTrace.load(path)


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
    with pytest.raises(TypeError, match="joins RoutingTraces"):
        RoutingTrace.concat([a, {"topk_ids": a.topk_ids}])
    c.layer_indices.append(9)  # views and joins own their layer list: changing one leaves the others alone
    assert a.layer_indices == [1, 3] and a.select(seq=0).layer_indices == [1, 3]


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
    assert RoutingTrace.load(path).selection_scores is None


def test_selection_scores_travel_with_the_trace(tmp_path):
    # biased scores may lie outside [0, 1] (a negative bias): no range, unlike probs
    probs = torch.sigmoid(torch.randn(2, 4, 4))
    scores = probs + torch.tensor([0.3, -0.8, 0.0, 0.5])
    t = small_trace(probs=probs, selection_scores=scores)
    assert "selection_scores" in repr(t)
    path = tmp_path / "t.safetensors"
    digests = t.save(path)
    assert torch.equal(RoutingTrace.load(path, digests=digests).selection_scores, scores)
    assert torch.equal(RoutingTrace.load(path, layers=[3], digests=digests).selection_scores, scores[1:])
    assert torch.equal(t.layers([3, 1]).selection_scores, scores.flip(0))
    assert torch.equal(t.select(seq=1).selection_scores, scores[:, 3:])
    assert torch.equal(RoutingTrace.concat([t, t]).selection_scores, torch.cat([scores, scores], 1))
    with pytest.raises(ValueError, match="some traces have selection_scores"):
        RoutingTrace.concat([t, small_trace(probs=probs)])


def test_empty_trace_round_trips(tmp_path):
    t = small_trace(
        topk_ids=torch.zeros(2, 0, 2, dtype=torch.int32),
        topk_weights=torch.zeros(2, 0, 2),
        token_ids=torch.zeros(0, dtype=torch.long),
        seq_index=torch.zeros(0, dtype=torch.int32),
        position=torch.zeros(0, dtype=torch.int32),
    )
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
    save_file(
        {"w": torch.zeros(2)},
        str(newer),
        metadata={"qnext_lab": json.dumps({"format": "qnext_lab.RoutingTrace", "version": 99})},
    )
    with pytest.raises(ValueError, match="version 99"):
        RoutingTrace.load(newer)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x80\x04not a safetensors file at all")
    with pytest.raises(ValueError, match="not a qnext_lab RoutingTrace"):
        RoutingTrace.load(junk)
    with pytest.raises(FileNotFoundError):
        RoutingTrace.load(tmp_path / "missing.safetensors")


def test_a_repeated_expert_is_found_and_located_past_the_first_chunk():
    n = 20_000  # more rows than one chunk of the check
    ids = torch.stack([torch.arange(3) + t % 5 for t in range(n)]).expand(2, n, 3).clone().int()  # (2, N, 3)
    kw = dict(
        topk_weights=torch.full((2, n, 3), 1 / 3),
        token_ids=torch.zeros(n, dtype=torch.long),
        seq_index=torch.zeros(n, dtype=torch.int32),
        position=torch.arange(n, dtype=torch.int32),
        layer_indices=[0, 1],
        num_experts=8,
        top_k=3,
    )
    RoutingTrace(topk_ids=ids, **kw)  # distinct everywhere: accepted
    ids[1, n - 1, 2] = ids[1, n - 1, 0]
    with pytest.raises(ValueError, match=rf"repeats expert \d at ranks 0 and 2 \(layer position 1, token {n - 1}\)"):
        RoutingTrace(topk_ids=ids, **kw)

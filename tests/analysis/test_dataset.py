"""trace_dataset(): shards in corpus order, exact resume after an interruption, several processes merged."""

from __future__ import annotations

import pytest
import torch
from moe_models import make_model

import qnext_lab
from qnext_lab.analysis import load_dataset_trace
from qnext_lab.analysis.load import routed_counts

TEXTS = ["abc", "hello", "xy", "moe routing", "z", "qwen next", "tokens", "ab", "experts!", "end"]


class CharTokenizer:
    """One token per character (ids 3..62), no pad token: enough to drive a random 64-word model."""

    pad_token_id = None

    def __call__(self, texts, add_special_tokens=True, truncation=False, max_length=None):
        rows = [[3 + ord(c) % 60 for c in t] for t in texts]
        return {"input_ids": [r[:max_length] if truncation else r for r in rows]}

    def convert_ids_to_tokens(self, ids):
        return [f"<{i}>" for i in ids]


def count_forwards(model):
    calls = []
    return calls, model.register_forward_pre_hook(lambda m, a, k: calls.append(1), with_kwargs=True)


@pytest.fixture(scope="module")
def model():
    return make_model("qwen3_moe")


@pytest.fixture(scope="module")
def reference(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    return qnext_lab.trace_dataset(model, CharTokenizer(), TEXTS, batch_size=2, shard_batches=1, out=out,
                                   progress=False).to_trace()


def test_full_run_is_in_corpus_order(model, reference):
    assert len(reference) == sum(len(t) for t in TEXTS)
    assert reference.seq_index.tolist() == [i for i, t in enumerate(TEXTS) for _ in t]
    assert reference.position.tolist() == [p for t in TEXTS for p in range(len(t))]
    # the same routing as one padded forward over the whole corpus
    tok = CharTokenizer()(TEXTS)["input_ids"]
    width = max(map(len, tok))
    ids = torch.tensor([r + [0] * (width - len(r)) for r in tok])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in tok])
    with torch.no_grad(), qnext_lab.capture(model) as whole:
        model(input_ids=ids, attention_mask=mask)
    assert torch.equal(reference.token_ids, whole.token_ids)
    assert torch.equal(reference.topk_ids, whole.topk_ids)
    torch.testing.assert_close(reference.topk_weights, whole.topk_weights, atol=1e-5, rtol=1e-5)


def test_resume_after_interruption_is_exact(model, reference, tmp_path):
    calls = []

    def stop_at_fourth(module, args, kwargs):
        calls.append(1)
        if len(calls) == 4:  # shards 0..2 are done, shard 3 is being traced
            raise KeyboardInterrupt

    handle = model.register_forward_pre_hook(stop_at_fourth, with_kwargs=True)
    with pytest.raises(KeyboardInterrupt):
        qnext_lab.trace_dataset(model, CharTokenizer(), TEXTS, batch_size=2, shard_batches=1, out=tmp_path,
                                progress=False)
    handle.remove()
    partial = load_dataset_trace(tmp_path)
    assert len(partial) == 3 and not partial.complete
    assert sorted(p.name for p in tmp_path.glob("shard-*")) == [f"shard-{i:06d}.safetensors" for i in range(3)]
    # a half-written temp file and a shard renamed in but never recorded are both redone, not duplicated
    (tmp_path / ".shard-000003.r00000.tmp").write_bytes(b"partial")
    (tmp_path / "shard-000003.safetensors").write_bytes(b"garbage from a crash before the manifest update")
    calls, handle = count_forwards(model)
    shards = qnext_lab.trace_dataset(model, CharTokenizer(), TEXTS, batch_size=2, shard_batches=1, out=tmp_path,
                                     progress=False)
    handle.remove()
    assert len(calls) == 2  # only shards 3 and 4 were traced again
    assert shards.complete and len(shards) == 5 and not list(tmp_path.glob(".*.tmp"))
    resumed = shards.to_trace()
    for name in ("token_ids", "seq_index", "position", "topk_ids", "topk_weights"):
        assert torch.equal(getattr(resumed, name), getattr(reference, name)), name
    # running again once complete traces nothing
    calls, handle = count_forwards(model)
    qnext_lab.trace_dataset(model, CharTokenizer(), TEXTS, batch_size=2, shard_batches=1, out=tmp_path,
                            progress=False)
    handle.remove()
    assert calls == []
    with pytest.raises(ValueError, match="different texts or settings"):
        qnext_lab.trace_dataset(model, CharTokenizer(), TEXTS[:-1], batch_size=2, shard_batches=1, out=tmp_path,
                                progress=False)


def test_two_processes_write_their_shares_and_the_loader_merges(model, reference, tmp_path):
    for rank in (1, 0):  # the order processes finish in does not matter
        qnext_lab.trace_dataset(model, CharTokenizer(), TEXTS, batch_size=2, shard_batches=1, out=tmp_path,
                                progress=False, process_index=rank, num_processes=2)
    assert len(list(tmp_path.glob("manifest-r*.json"))) == 2
    merged = load_dataset_trace(tmp_path)
    assert merged.complete and merged.num_texts == len(TEXTS)
    trace = merged.to_trace()
    assert torch.equal(trace.seq_index, reference.seq_index) and torch.equal(trace.topk_ids, reference.topk_ids)
    # lazy per-layer read gives the same layer
    layer1 = merged.to_trace(layers=[1])
    assert layer1.layer_indices == [1] and torch.equal(layer1.topk_ids[0], reference.topk_ids[1])
    assert torch.equal(routed_counts(layer1.topk_ids[0:1], 8), routed_counts(reference.topk_ids[1:2], 8))


def test_keep_text_and_bad_input(model, tmp_path):
    shards = qnext_lab.trace_dataset(model, CharTokenizer(), TEXTS[:3], batch_size=4, out=tmp_path, keep_text=True,
                                     progress=False)
    trace = shards.to_trace()
    assert trace.tokens[:3] == [f"<{3 + ord(c) % 60}>" for c in "abc"]
    with pytest.raises(TypeError, match="sequence of strings"):
        qnext_lab.trace_dataset(model, CharTokenizer(), "just one string", out=tmp_path)
    with pytest.raises(TypeError, match="not str"):
        qnext_lab.trace_dataset(model, CharTokenizer(), ["a", 3], out=tmp_path / "x")
    with pytest.raises(ValueError, match="batch_size"):
        qnext_lab.trace_dataset(model, CharTokenizer(), ["a"], batch_size=0, out=tmp_path / "y")
    with pytest.raises(ValueError, match="not a qnext_lab dataset trace"):
        load_dataset_trace(tmp_path / "nowhere")

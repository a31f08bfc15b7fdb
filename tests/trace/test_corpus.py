"""trace_corpus(): shards in corpus order, exact resume after an interruption or damage, several processes merged
(in one process, and as two real processes under torchrun and accelerate launch)."""

from __future__ import annotations

import json

import pytest
import torch
from corpus_worker import TEXTS, CharTokenizer
from moe_models import make_model

import qnext_lab
from qnext_lab import load_corpus_trace
from qnext_lab.analysis.load import routed_counts


def count_forwards(model):
    calls = []
    return calls, model.register_forward_pre_hook(lambda m, a, k: calls.append(1), with_kwargs=True)


@pytest.fixture(scope="module")
def model():
    return make_model("qwen3_moe")


@pytest.fixture(scope="module")
def reference(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    return qnext_lab.trace_corpus(
        model, CharTokenizer(), TEXTS, batch_size=2, shard_batches=1, out=out, progress=False
    ).to_trace()


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
        qnext_lab.trace_corpus(
            model, CharTokenizer(), TEXTS, batch_size=2, shard_batches=1, out=tmp_path, progress=False
        )
    handle.remove()
    partial = load_corpus_trace(tmp_path)
    assert len(partial) == 3 and not partial.complete
    assert sorted(p.name for p in tmp_path.glob("shard-*")) == [f"shard-{i:06d}.safetensors" for i in range(3)]
    # a half-written file in the staging folder and a shard renamed in but never recorded are both redone, not
    # duplicated; a user's own temp-looking file in `out` is left alone
    (tmp_path / ".staging-r00000").mkdir(exist_ok=True)
    (tmp_path / ".staging-r00000" / "shard-000003.safetensors").write_bytes(b"partial")
    (tmp_path / ".notes.tmp").write_bytes(b"the user's own")
    (tmp_path / "shard-000003.safetensors").write_bytes(b"garbage from a crash before the manifest update")
    calls, handle = count_forwards(model)
    shards = qnext_lab.trace_corpus(
        model, CharTokenizer(), TEXTS, batch_size=2, shard_batches=1, out=tmp_path, progress=False
    )
    handle.remove()
    assert len(calls) == 2  # only shards 3 and 4 were traced again
    assert shards.complete and len(shards) == 5 and not (tmp_path / ".staging-r00000").exists()
    assert (tmp_path / ".notes.tmp").read_bytes() == b"the user's own"
    resumed = shards.to_trace()
    for name in ("token_ids", "seq_index", "position", "topk_ids", "topk_weights"):
        assert torch.equal(getattr(resumed, name), getattr(reference, name)), name
    # running again once complete traces nothing
    calls, handle = count_forwards(model)
    qnext_lab.trace_corpus(model, CharTokenizer(), TEXTS, batch_size=2, shard_batches=1, out=tmp_path, progress=False)
    handle.remove()
    assert calls == []
    with pytest.raises(ValueError, match="different texts or settings"):
        qnext_lab.trace_corpus(
            model, CharTokenizer(), TEXTS[:-1], batch_size=2, shard_batches=1, out=tmp_path, progress=False
        )


def test_two_processes_write_their_shares_and_the_loader_merges(model, reference, tmp_path):
    for rank in (1, 0):  # the order processes finish in does not matter
        qnext_lab.trace_corpus(
            model,
            CharTokenizer(),
            TEXTS,
            batch_size=2,
            shard_batches=1,
            out=tmp_path,
            progress=False,
            process_index=rank,
            num_processes=2,
        )
    assert len(list(tmp_path.glob("manifest-r*.json"))) == 2
    merged = load_corpus_trace(tmp_path)
    assert merged.complete and merged.num_texts == len(TEXTS)
    trace = merged.to_trace()
    assert torch.equal(trace.seq_index, reference.seq_index) and torch.equal(trace.topk_ids, reference.topk_ids)
    # lazy per-layer read gives the same layer
    layer1 = merged.to_trace(layers=[1])
    assert layer1.layer_indices == [1] and torch.equal(layer1.topk_ids[0], reference.topk_ids[1])
    assert torch.equal(routed_counts(layer1.topk_ids[0:1], 8), routed_counts(reference.topk_ids[1:2], 8))


def test_keep_text_and_bad_input(model, tmp_path):
    shards = qnext_lab.trace_corpus(
        model, CharTokenizer(), TEXTS[:3], batch_size=4, out=tmp_path, keep_text=True, progress=False
    )
    trace = shards.to_trace()
    assert trace.tokens[:3] == [f"<{3 + ord(c) % 60}>" for c in "abc"]
    with pytest.raises(TypeError, match="sequence of strings"):
        qnext_lab.trace_corpus(model, CharTokenizer(), "just one string", out=tmp_path)
    with pytest.raises(TypeError, match="not str"):
        qnext_lab.trace_corpus(model, CharTokenizer(), ["a", 3], out=tmp_path / "x")
    with pytest.raises(ValueError, match="batch_size"):
        qnext_lab.trace_corpus(model, CharTokenizer(), ["a"], batch_size=0, out=tmp_path / "y")
    with pytest.raises(ValueError, match="not a qnext_lab corpus trace"):
        load_corpus_trace(tmp_path / "nowhere")


def _trace(model, out, **kw):
    return qnext_lab.trace_corpus(
        model, CharTokenizer(), TEXTS, batch_size=2, shard_batches=1, out=out, progress=False, **kw
    )


def _assert_same(a, b):
    for name in ("token_ids", "seq_index", "position", "topk_ids", "topk_weights"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("damage", ["corrupt", "missing", "swapped", "truncated_manifest_entry"])
def test_damaged_shards_are_refused_then_retraced(model, reference, tmp_path, damage):
    _trace(model, tmp_path)
    victim = tmp_path / "shard-000002.safetensors"
    if damage == "corrupt":
        data = bytearray(victim.read_bytes())
        data[-5] ^= 0xFF  # one flipped byte inside the tensors: still a readable safetensors file
        victim.write_bytes(bytes(data))
    elif damage == "missing":
        victim.unlink()
    elif damage == "swapped":  # a valid shard of other texts copied over it
        victim.write_bytes((tmp_path / "shard-000000.safetensors").read_bytes())
    else:  # manifest entries without a checksum cannot be trusted: refused, and all traced again
        path = tmp_path / "manifest-r00000.json"
        manifest = json.loads(path.read_text())
        for e in manifest["shards"]:
            e.pop("sha256")
            e.pop("digests")
        path.write_text(json.dumps(manifest))
        victim.write_bytes((tmp_path / "shard-000000.safetensors").read_bytes())
    with pytest.raises(ValueError, match="trace_corpus again"):
        load_corpus_trace(tmp_path).to_trace()
    calls, handle = count_forwards(model)
    with pytest.warns(UserWarning, match="sha256" if damage == "truncated_manifest_entry" else "shard-000002"):
        shards = _trace(model, tmp_path)
    handle.remove()
    assert len(calls) == (5 if damage == "truncated_manifest_entry" else 1)  # only what was damaged is redone
    _assert_same(shards.to_trace(), reference)


def _tensor_bytes(path, name):
    """(start, stop) of a tensor's bytes inside a safetensors file (8-byte header size, JSON header, data)."""
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    start, stop = json.loads(data[8 : 8 + size])[name]["data_offsets"]
    return 8 + size + start, 8 + size + stop


def test_a_layer_selection_reads_and_checks_only_the_layers_asked_for(model, reference, tmp_path):
    _trace(model, tmp_path)
    layers = reference.layer_indices
    assert len(layers) >= 2
    victim = tmp_path / "shard-000001.safetensors"
    start, stop = _tensor_bytes(victim, "topk_weights")
    data = bytearray(victim.read_bytes())
    data[stop - 2] ^= 0x01  # a flipped bit in the last layer's rows only
    victim.write_bytes(bytes(data))

    first = load_corpus_trace(tmp_path).to_trace(layers=[layers[0]])  # that layer's slices only: all good
    _assert_same(first, reference.layer(layers[0]))
    for asked in (None, [layers[-1]]):  # the damaged layer is refused, named, whenever it is read
        with pytest.raises(ValueError, match=rf"topk_weights\[layer {layers[-1]}\] differ.*trace_corpus again"):
            load_corpus_trace(tmp_path).to_trace(layers=asked)
    with pytest.raises(TypeError, match="layers"):
        load_corpus_trace(tmp_path).to_trace(layers=[1.0])


def test_manifests_without_per_piece_digests_are_still_read(model, reference, tmp_path):
    _trace(model, tmp_path)
    path = tmp_path / "manifest-r00000.json"
    manifest = json.loads(path.read_text())
    for e in manifest["shards"]:
        e.pop("digests")  # as written before per-piece digests
    path.write_text(json.dumps(manifest))
    layer = reference.layer_indices[-1]
    _assert_same(load_corpus_trace(tmp_path).to_trace(layers=[layer]), reference.layer(layer))
    victim = tmp_path / "shard-000001.safetensors"
    data = bytearray(victim.read_bytes())
    data[-3] ^= 0x01
    victim.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum differs"):
        load_corpus_trace(tmp_path).to_trace(layers=[layer])


def test_corrupt_run_file_and_killed_writes(model, reference, tmp_path):
    _trace(model, tmp_path)
    (tmp_path / "run.json").write_text('{"format": "qnext_lab.corpus_trace", "num_te')  # a write cut short
    with pytest.raises(ValueError, match="run.json is corrupt"):
        load_corpus_trace(tmp_path)
    with pytest.raises(ValueError, match="run.json is corrupt"):
        _trace(model, tmp_path)
    (tmp_path / "run.json").unlink()
    # what a killed run leaves: its staging folder (removed); files with temp-like names that the kit did not
    # name itself may be the user's, and stay
    leftovers = [tmp_path / ".tmpA1b2C3", tmp_path / ".shard-000004.r00000.tmp", tmp_path / ".staging-r00000" / "x"]
    leftovers[-1].parent.mkdir()
    for path in leftovers:
        path.write_bytes(b"\0" * 1000)
    calls, handle = count_forwards(model)
    shards = _trace(model, tmp_path)
    handle.remove()
    assert calls == [] and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [
        ".shard-000004.r00000.tmp",
        ".tmpA1b2C3",
    ]
    _assert_same(shards.to_trace(), reference)


def test_texts_longer_than_the_context_warn(tmp_path):
    short = make_model("qwen3_moe", max_position_embeddings=6)
    with pytest.warns(UserWarning, match=r"3 text\(s\) are longer than the model's context \(6 tokens"):
        qnext_lab.trace_corpus(
            short, CharTokenizer(), TEXTS, batch_size=4, out=tmp_path, progress=False, max_length=None
        )


def _launch(tmp_path, *launcher):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    worker = Path(__file__).with_name("corpus_worker.py")
    out = tmp_path / "_".join(launcher[-1:] or ["single"])
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]),
    }
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    cmd = [*launcher, str(worker), str(out)] if launcher else [sys.executable, str(worker), str(out)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = sorted((json.loads(p.read_text()) for p in out.glob("report-*.json")), key=lambda r: r["rank"])
    return out, reports


def test_torchrun_two_processes_split_the_shards_and_merge_exactly(tmp_path):
    import sys

    single, [solo] = _launch(tmp_path)
    assert solo == dict(rank=0, world=1, forwards=5, complete=True)
    out, reports = _launch(
        tmp_path, sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"
    )
    # each process traced only its own shards (0, 2, 4 and 1, 3), and each saw the finished whole at the end
    assert [(r["rank"], r["world"], r["forwards"], r["complete"]) for r in reports] == [
        (0, 2, 3, True),
        (1, 2, 2, True),
    ]
    import json

    owned = {
        int(p.stem[-5:]): sorted(e["index"] for e in json.loads(p.read_text())["shards"])
        for p in out.glob("manifest-r*.json")
    }
    assert owned == {0: [0, 2, 4], 1: [1, 3]}
    _assert_same(load_corpus_trace(out).to_trace(), load_corpus_trace(single).to_trace())


@pytest.mark.slow
def test_accelerate_launch_two_processes_merge_exactly(tmp_path):
    import sys
    from pathlib import Path

    accelerate = Path(sys.executable).with_name("accelerate")
    if not accelerate.is_file():
        pytest.skip("the accelerate command is not installed next to this Python")
    single, _ = _launch(tmp_path)
    # on a CPU-only machine `--multi_gpu` is how accelerate starts several local processes (torchrun underneath)
    out, reports = _launch(
        tmp_path,
        str(accelerate),
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
    )
    assert [(r["world"], r["forwards"]) for r in reports] == [(2, 3), (2, 2)]
    _assert_same(load_corpus_trace(out).to_trace(), load_corpus_trace(single).to_trace())

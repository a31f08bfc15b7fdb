"""Paths and files: nothing the user owns is overwritten, followed or deleted, and a write is whole or absent.

``export_gguf`` and ``RoutingTrace.save`` write through ``formats.atomic.writing``: a fresh temp file of their
own (never a symlink planted at ``<target>.partial``, never the user's own ``<target>.partial``), removed on any
failure even when closing the writer raises too, with an ordinary file's permissions; a save killed mid-write
leaves a temp file that the next save removes. ``trace_corpus`` manifests may name only shards inside ``out``,
with a checksum."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import gguf
import pytest
import torch
from corpus_worker import TEXTS, CharTokenizer
from moe_models import make_model

import qnext_lab as ql
from qnext_lab import RoutingTrace, load_corpus_trace
from qnext_lab.formats.atomic import TEMP_SUFFIX

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bounded import run_bounded  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    return ql.load("tiny")


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _trace() -> RoutingTrace:
    ids = torch.tensor([[[0, 1], [2, 3], [1, 0]]], dtype=torch.int32)  # (L=1, N=3, k=2)
    return RoutingTrace(
        topk_ids=ids,
        topk_weights=torch.full(ids.shape, 0.5),
        token_ids=torch.tensor([5, 6, 7]),
        seq_index=torch.zeros(3, dtype=torch.int32),
        position=torch.arange(3, dtype=torch.int32),
        layer_indices=[0],
        num_experts=4,
        top_k=2,
        tokens=["a", "b", "c"],
    )


def test_export_ignores_a_symlink_and_a_user_file_at_partial(tiny, tmp_path, umask_022):
    model, tok = tiny
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "tiny.gguf"
    planted = tmp_path / "tiny.gguf.partial"
    planted.symlink_to(victim)
    ql.export_gguf(model, tok, target)
    assert victim.read_text() == "precious" and planted.is_symlink()
    assert (target.stat().st_mode & 0o777) == 0o644  # an ordinary file, not mkstemp's 0600
    assert gguf.GGUFReader(target).fields["general.architecture"].contents() == "qwen3next"
    planted.unlink()
    planted.write_text("the user's own partial file")
    ql.export_gguf(model, tok, target)
    assert planted.read_text() == "the user's own partial file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.gguf", "tiny.gguf.partial", "victim.txt"]


def test_a_full_disk_leaves_no_temp_file_even_when_close_raises(tiny, tmp_path, monkeypatch):
    model, tok = tiny
    target = tmp_path / "tiny.gguf"
    target.write_bytes(b"GGUF the old file")

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", full)
    monkeypatch.setattr(gguf.GGUFWriter, "close", full)
    with pytest.raises(OSError, match="No space left"):
        ql.export_gguf(model, tok, target)
    assert target.read_bytes() == b"GGUF the old file" and [p.name for p in tmp_path.iterdir()] == ["tiny.gguf"]


def test_trace_save_has_normal_permissions_and_replaces_a_symlink_not_its_target(tmp_path, umask_022):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    path = tmp_path / "t.safetensors"
    path.symlink_to(victim)
    _trace().save(path)
    assert victim.read_text() == "precious" and not path.is_symlink()
    assert (path.stat().st_mode & 0o777) == 0o644
    assert RoutingTrace.load(path).tokens == ["a", "b", "c"]


KILLED = r"""
import os, signal, sys, torch
from qnext_lab import RoutingTrace
t = RoutingTrace(topk_ids=torch.zeros(1, 2, 1, dtype=torch.int32), topk_weights=torch.ones(1, 2, 1),
                 token_ids=torch.tensor([1, 2]), seq_index=torch.zeros(2, dtype=torch.int32),
                 position=torch.arange(2, dtype=torch.int32), layer_indices=[0], num_experts=2, top_k=1)
os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)  # killed between the write and the rename
t.save(sys.argv[1])
"""


def test_a_save_killed_mid_write_leaves_a_temp_file_the_next_save_removes(tmp_path):
    path = tmp_path / "t.safetensors"
    done = run_bounded(["-c", KILLED, str(path)], memory_bytes=3 << 30, timeout=300)
    assert done.returncode == -9, done.stderr[-2000:]
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".t.safetensors.") and left[0].endswith(TEMP_SUFFIX)
    _trace().save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["t.safetensors"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    ql.trace_corpus(make_model("qwen3_moe"), CharTokenizer(), TEXTS[:4], batch_size=2, out=out, progress=False)
    return out


@pytest.mark.parametrize("file", ["../elsewhere/shard-000000.safetensors", "/etc/passwd", "run.json"])
def test_manifest_entries_may_only_name_shards_in_out(corpus, tmp_path, file):
    out = tmp_path / "copy"
    out.mkdir()
    for p in corpus.iterdir():
        if p.is_file():
            (out / p.name).write_bytes(p.read_bytes())
    manifest = out / "manifest-r00000.json"
    data = json.loads(manifest.read_text())
    data["shards"][0]["file"] = file
    manifest.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="not a shard name of this directory"):
        load_corpus_trace(out)


def test_manifest_entries_need_a_checksum(corpus, tmp_path):
    out = tmp_path / "copy"
    out.mkdir()
    for p in corpus.iterdir():
        if p.is_file():
            (out / p.name).write_bytes(p.read_bytes())
    manifest = out / "manifest-r00000.json"
    data = json.loads(manifest.read_text())
    del data["shards"][0]["sha256"]
    manifest.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="no sha256"):
        load_corpus_trace(out)

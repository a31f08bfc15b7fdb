"""Sharded routing traces on disk: the manifest format and a lazy loader that merges shards.

A traced corpus is a directory of ``shard-NNNNNN.safetensors`` files (each a RoutingTrace, numbered by
global shard index), ``manifest-rRRRRR.json`` files (one per writing process: the shards it finished) and
``run.json`` (what was traced, to refuse resuming a different run). Only shards listed in a manifest
count, so a shard renamed into place just before an interruption is simply written again. Nothing is read
until asked; ``to_trace(layers=[...])`` reads only the requested layers of each shard. Knows nothing about
models (``dataset.trace_dataset`` writes these directories).

    shards = load_dataset_trace("runs/corpus")
    trace = shards.to_trace(layers=[0, 3])   # one RoutingTrace, sequences numbered by text index
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch

from ..trace.routing_trace import METADATA_KEY, RoutingTrace

RUN_FILE = "run.json"


def shard_name(index: int) -> str:
    return f"shard-{index:06d}.safetensors"


def manifest_name(rank: int) -> str:
    return f"manifest-r{rank:05d}.json"


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON to a temporary name in the same directory, then rename it into place (atomic)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def read_manifests(directory: Path) -> dict[int, dict]:
    """All finished shards listed by any process: {global shard index: entry}."""
    done: dict[int, dict] = {}
    for path in sorted(directory.glob("manifest-r*.json")):
        try:
            entries = json.loads(path.read_text())["shards"]
        except (json.JSONDecodeError, KeyError) as exc:
            raise ValueError(f"{path} is not a qnext_lab shard manifest ({exc})") from exc
        for entry in entries:
            done[int(entry["index"])] = entry
    return done


class ShardedTrace:
    """The finished shards of a traced corpus, read lazily."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        run = self.directory / RUN_FILE
        if not run.is_file():
            raise ValueError(f"{self.directory} is not a qnext_lab dataset trace (no {RUN_FILE}); "
                             "create one with qnext_lab.trace_dataset(...)")
        self.run = json.loads(run.read_text())
        self.entries = [entry for _, entry in sorted(read_manifests(self.directory).items())]
        missing = [e["file"] for e in self.entries if not (self.directory / e["file"]).is_file()]
        if missing:
            raise ValueError(f"{self.directory}: manifest lists shards that are missing: {missing[:5]}")

    @property
    def complete(self) -> bool:
        """True when every shard of the run is on disk."""
        return len(self.entries) == self.run["num_shards"]

    @property
    def num_tokens(self) -> int:
        return sum(int(e["tokens"]) for e in self.entries)

    @property
    def num_texts(self) -> int:
        return sum(int(e["stop"]) - int(e["start"]) for e in self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return (f"ShardedTrace({str(self.directory)!r}, shards={len(self)}/{self.run['num_shards']}, "
                f"texts={self.num_texts}, tokens={self.num_tokens})")

    def shard(self, i: int, layers: Iterable[int] | None = None) -> RoutingTrace:
        """Shard ``i`` (in corpus order), optionally only some decoder layers."""
        path = self.directory / self.entries[i]["file"]
        if layers is None:
            return RoutingTrace.load(path)
        return _load_layers(path, [int(x) for x in layers])

    def __iter__(self) -> Iterator[RoutingTrace]:
        for i in range(len(self)):
            yield self.shard(i)

    def iter_shards(self, layers: Iterable[int] | None = None) -> Iterator[RoutingTrace]:
        layers = None if layers is None else list(layers)
        for i in range(len(self)):
            yield self.shard(i, layers)

    def to_trace(self, layers: Iterable[int] | None = None) -> RoutingTrace:
        """All finished shards joined in corpus order (sequence index = text index in the corpus)."""
        if not self.entries:
            raise ValueError(f"{self.directory} has no finished shards yet")
        return RoutingTrace.concat(list(self.iter_shards(layers)), renumber_sequences=False)


def _load_layers(path: Path, layers: list[int]) -> RoutingTrace:
    """Read only the requested layers' slices of a shard (safetensors slices; the rest stays on disk)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()[METADATA_KEY])
        captured = meta["layer_indices"]
        unknown = [i for i in layers if i not in captured]
        if unknown:
            raise ValueError(f"layer(s) {unknown} not traced; traced layers are {captured}")
        pos = [captured.index(i) for i in layers]

        def rows(name: str) -> torch.Tensor:
            sl = f.get_slice(name)
            return torch.cat([sl[p : p + 1] for p in pos]) if pos else f.get_tensor(name)[:0]

        names = set(f.keys())
        return RoutingTrace(
            topk_ids=rows("topk_ids"), topk_weights=rows("topk_weights"), token_ids=f.get_tensor("token_ids"),
            seq_index=f.get_tensor("seq_index"), position=f.get_tensor("position"), layer_indices=layers,
            num_experts=meta["num_experts"], top_k=meta["top_k"], model_name=meta.get("model_name", ""),
            probs=rows("probs") if "probs" in names else None,
            phase=f.get_tensor("phase") if "phase" in names else None, tokens=meta.get("tokens"))


def load_dataset_trace(directory: str | os.PathLike) -> ShardedTrace:
    """Open a directory written by ``trace_dataset`` (by one or several processes); reads nothing yet."""
    return ShardedTrace(directory)

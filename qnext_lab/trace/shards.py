"""A traced corpus on disk: the run and manifest files, shard checks, and the lazy loader that merges shards.

A corpus trace is a directory of ``shard-NNNNNN.safetensors`` files (each a RoutingTrace, numbered by global
shard index), ``manifest-rRRRRR.json`` files (one per writing process: the shards it finished, each with its
text range, token count, the file's SHA-256 and the SHA-256 of each piece ``RoutingTrace.save`` wrote:
metadata, token tensors, and each layer of the per-layer tensors) and ``run.json`` (what was traced, to refuse
resuming a different run). Only shards listed in a manifest count, and a shard is used only if it passes its
entry's checks (digests of every piece read, ``RoutingTrace.load``'s format and version checks, exactly the
texts of its range): a corrupt, missing or swapped-in shard is reported (and re-traced by ``trace_corpus``),
never read as data. Nothing is read until asked, and asking for some layers reads only those layers' slices
(and checks only them). Manifests written before per-piece digests (only the file's SHA-256) are still read:
the whole file is hashed and loaded, then sliced. Knows nothing about models (``corpus.trace_corpus`` writes these directories).

    shards = load_corpus_trace("runs/corpus")
    trace = shards.to_trace(layers=[0, 3])   # one RoutingTrace, sequences numbered by text index
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

from ..checks import as_int, as_int_list
from .routing_trace import RoutingTrace

RUN_FILE = "run.json"
RUN_FORMAT = "qnext_lab.corpus_trace"
_OLD_RUN_FORMATS = ("qnext_lab.dataset_trace",)  # written before the move to trace/ (same layout)


def shard_name(index: int) -> str:
    return f"shard-{index:06d}.safetensors"


def manifest_name(rank: int) -> str:
    return f"manifest-r{rank:05d}.json"


def staging_dir(directory: Path, rank: int) -> Path:
    """Where process ``rank`` writes files before renaming them into place (emptied when it starts)."""
    return directory / f".staging-r{rank:05d}"


def write_json_atomic(path: Path, data: dict, staging: Path) -> None:
    """Write JSON in ``staging`` (same filesystem), then rename it into place (atomic)."""
    staging.mkdir(exist_ok=True)
    tmp = staging / f"{path.name}.tmp"
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def read_run(directory: Path) -> dict:
    """``run.json`` of a corpus trace, or a ValueError saying what is wrong with it."""
    path = directory / RUN_FILE
    if not path.is_file():
        raise ValueError(
            f"{directory} is not a qnext_lab corpus trace (no {RUN_FILE}); create one with qnext_lab.trace_corpus(...)"
        )
    try:
        run = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"{path} is corrupt ({exc}); the shards may still be good: delete {RUN_FILE} and run "
            "trace_corpus again with the same arguments to rebuild it, or use a new `out` directory"
        ) from exc
    keys = ("num_texts", "num_shards", "shard_texts", "fingerprint")
    if (
        not isinstance(run, dict)
        or run.get("format") not in (RUN_FORMAT, *_OLD_RUN_FORMATS)
        or any(k not in run for k in keys)
    ):
        raise ValueError(
            f"{path} is not a qnext_lab corpus-trace run file (expected format {RUN_FORMAT!r} with "
            f"{keys}); delete it and run trace_corpus again with the same arguments"
        )
    return run


_SHARD_FILE = re.compile(r"shard-\d{6,}\.safetensors")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _check_entry(e: Any) -> None:
    """A manifest entry names a shard *in this directory* by the kit's own pattern (never ``../x`` or
    ``/etc/passwd``: a manifest may come from someone else) and carries its checksum."""
    if not isinstance(e, dict):
        raise TypeError(f"an entry is a {type(e).__name__}, not an object")
    for key in ("index", "start", "stop", "tokens"):
        as_int(e[key], key, low=0)
    if not isinstance(e["file"], str) or not _SHARD_FILE.fullmatch(e["file"]):
        raise ValueError(f"entry file {e['file']!r} is not a shard name of this directory (shard-NNNNNN.safetensors)")
    if not isinstance(e.get("sha256"), str) or not _SHA256.fullmatch(e["sha256"]):
        raise ValueError(f"entry {e['file']!r} has no sha256 checksum (64 hex digits)")
    if "digests" in e and not isinstance(e["digests"], dict):
        raise TypeError(f"entry {e['file']!r}: digests is a {type(e['digests']).__name__}, not an object")


def read_manifest(path: Path, *, strict: bool = True) -> list[dict]:
    """A manifest's entries. ``strict``: any bad entry is a ValueError (loading); otherwise bad entries are
    dropped with a warning, so resuming traces their texts again."""
    try:
        entries = json.loads(path.read_text())["shards"]
        if not isinstance(entries, list):
            raise TypeError("'shards' is not a list")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path} is not a qnext_lab shard manifest ({exc!r}); delete it and run trace_corpus "
            "again with the same arguments to re-trace its shards"
        ) from exc
    good = []
    for i, e in enumerate(entries):
        try:
            _check_entry(e)
        except (KeyError, TypeError, ValueError) as exc:
            message = f"{path}: entry {i} is not a valid shard entry ({exc})"
            if strict:
                raise ValueError(
                    f"{message}; run trace_corpus again with the same arguments to re-trace its shards"
                ) from exc
            warnings.warn(f"{message}; tracing its texts again", stacklevel=3)
            continue
        good.append(e)
    return good


def read_manifests(directory: Path, *, strict: bool = True) -> dict[int, dict]:
    """All finished shards listed by any process: {global shard index: entry}.

    A shard listed twice (re-traced by another process after a change of process count) resolves to the
    entry whose checksum matches the file on disk.
    """
    listed: dict[int, list[dict]] = {}
    for path in sorted(directory.glob("manifest-r*.json")):
        for entry in read_manifest(path, strict=strict):
            listed.setdefault(int(entry["index"]), []).append(entry)
    done = {}
    for index, entries in listed.items():
        if len(entries) > 1 and (directory / entries[0]["file"]).is_file():
            actual = sha256_file(directory / entries[0]["file"])
            entries = [e for e in entries if e.get("sha256") == actual] or entries
        done[index] = entries[-1]
    return done


def check_shard(
    directory: Path, entry: dict, layers: list[int] | None = None
) -> tuple[RoutingTrace | None, str | None]:
    """Load the shard of a manifest entry (only ``layers``, when given) and check it against the entry:
    (trace, None) or (None, what failed)."""
    path = directory / entry["file"]
    if not path.is_file():
        return None, "missing"
    if path.is_symlink():
        return None, "a symlink, not a shard this run wrote"
    digests = entry.get("digests")
    if digests is None and sha256_file(path) != entry["sha256"]:  # a manifest without digests: the whole file
        return None, "checksum differs from the manifest (corrupt, or a shard from another run)"
    try:
        if digests is not None:
            trace = RoutingTrace.load(path, layers=layers, digests=digests)
        else:
            trace = RoutingTrace.load(path)
            trace = trace if layers is None else trace.layers(layers)
    except ValueError as exc:
        return None, f"unreadable ({exc})"
    start, stop = int(entry["start"]), int(entry["stop"])
    seqs = torch.unique(trace.seq_index)
    if not torch.equal(seqs, torch.arange(start, stop, dtype=seqs.dtype)) or len(trace) != int(entry["tokens"]):
        return None, (
            f"holds texts {seqs.tolist()[:3]}... ({len(trace)} tokens) instead of texts [{start}, {stop}) "
            f"({entry['tokens']} tokens)"
        )
    return trace, None


class ShardedTrace:
    """The finished shards of a traced corpus, read lazily (each checked against its manifest entry when read)."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.run = read_run(self.directory)
        self.entries = [entry for _, entry in sorted(read_manifests(self.directory).items())]
        missing = [e["file"] for e in self.entries if not (self.directory / e["file"]).is_file()]
        if missing:
            raise ValueError(
                f"{self.directory}: manifest lists shards that are missing: {missing[:5]}; run "
                "trace_corpus again with the same arguments to re-trace them"
            )

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
        return (
            f"ShardedTrace({str(self.directory)!r}, shards={len(self)}/{self.run['num_shards']}, "
            f"texts={self.num_texts}, tokens={self.num_tokens})"
        )

    def shard(self, i: int, layers: Iterable[int] | None = None) -> RoutingTrace:
        """Shard ``i`` (in corpus order), optionally only some decoder layers; ValueError if it fails its checks."""
        entry = self.entries[i]
        layers = None if layers is None else as_int_list(layers, "layers", low=0)
        trace, problem = check_shard(self.directory, entry, layers)
        if problem is not None:
            raise ValueError(
                f"{self.directory / entry['file']} (texts [{entry['start']}, {entry['stop']})): "
                f"{problem}; run trace_corpus again with the same arguments to re-trace it"
            )
        return trace

    def __iter__(self) -> Iterator[RoutingTrace]:
        return self.iter_shards()

    def iter_shards(self, layers: Iterable[int] | None = None) -> Iterator[RoutingTrace]:
        layers = None if layers is None else as_int_list(layers, "layers", low=0)
        for i in range(len(self)):
            yield self.shard(i, layers)

    def to_trace(self, layers: Iterable[int] | None = None) -> RoutingTrace:
        """All finished shards joined in corpus order (sequence index = text index in the corpus)."""
        if not self.entries:
            raise ValueError(f"{self.directory} has no finished shards yet")
        return RoutingTrace.concat(list(self.iter_shards(layers)), renumber_sequences=False)


def load_corpus_trace(directory: str | os.PathLike) -> ShardedTrace:
    """Open a directory written by ``trace_corpus`` (by one or several processes); reads no shard yet."""
    return ShardedTrace(directory)

"""trace_corpus(): capture at scale: the routing of a whole corpus, in batches, into resumable safetensors shards.

Texts are cut into shards of ``batch_size * shard_batches`` texts; shard g covers texts [g*S, (g+1)*S). Each
shard is traced with ``capture``, written in this process's staging folder, renamed into place and recorded
(text range, tokens, SHA-256) in this process's manifest (see ``shards``). Running the same call again keeps
the shards that pass their checks and traces the rest, so an interrupted or damaged run resumes without
duplicating or losing any text. Data parallel: under ``torchrun --nproc_per_node N`` or ``accelerate launch``
every process takes every N-th shard (rank and count from torch.distributed, else accelerate's
``PartialState``, created with ``cpu=True`` on machines without CUDA so that CPU runs join a gloo group) and
writes its own manifest; the loader merges them in corpus order. Models dispatched with ``device_map="auto"``
work as they are: inputs go to the device of the input embeddings. Knows nothing about figures.

    shards = qnext_lab.trace_corpus(model, tok, texts, batch_size=16, out="runs/corpus")
    load_balance(shards.to_trace())

Dimension legend: B = texts in a batch, t = longest tokenised text of the batch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..checks import as_int
from ..families.config_fields import context_length
from .capturing import capture
from .routing_trace import RoutingTrace
from .shards import (
    RUN_FILE,
    RUN_FORMAT,
    ShardedTrace,
    check_shard,
    manifest_name,
    read_manifest,
    read_manifests,
    read_run,
    sha256_file,
    shard_name,
    staging_dir,
    write_json_atomic,
)


def _process_layout(process_index: int | None, num_processes: int | None) -> tuple[int, int, object | None]:
    """(rank, world size, accelerate state or None) of this process."""
    if process_index is not None or num_processes is not None:
        if process_index is None or num_processes is None:
            raise ValueError("give both process_index and num_processes, or neither")
        if not 0 <= process_index < num_processes:
            raise ValueError(f"process_index {process_index} out of range for {num_processes} processes")
        return process_index, num_processes, None
    world_env = int(os.environ.get("WORLD_SIZE", "1"))  # set by torchrun and accelerate launch
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size(), None
    try:
        from accelerate import PartialState
    except ImportError:
        if world_env > 1:
            raise ImportError(
                "tracing under torchrun / accelerate launch needs accelerate (pip install accelerate)"
            ) from None
        return 0, 1, None
    # Without cpu=True, PartialState on a machine without CUDA sees no distributed run (every process
    # believes it is rank 0); with it, the processes join a gloo group. On GPUs: NCCL, one device per process.
    state = PartialState(cpu=not torch.cuda.is_available())
    if state.num_processes != world_env:
        raise RuntimeError(
            f"WORLD_SIZE={world_env} but accelerate's PartialState reports {state.num_processes} "
            "process(es): it was created earlier with other settings. Create it as "
            "PartialState(cpu=True) on CPU, or pass process_index= and num_processes= yourself"
        )
    return state.process_index, state.num_processes, state


def _fingerprint(texts: Sequence[str], settings: dict) -> str:
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def _input_device(model: nn.Module) -> torch.device:
    embed = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    param = next(embed.parameters()) if embed is not None else next(model.parameters())
    return param.device


def _encode(
    tokenizer, texts: list[str], max_length: int | None, add_special_tokens: bool, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokenise and right-pad by hand (works for tokenizers without a pad token): (B, t) ids and mask."""
    enc = tokenizer(
        texts, add_special_tokens=add_special_tokens, truncation=max_length is not None, max_length=max_length
    )
    rows = [list(r) for r in enc["input_ids"]]
    if any(len(r) == 0 for r in rows):
        raise ValueError("a text tokenised to zero tokens; drop empty texts before tracing")
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)  # (B, t)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[b, : len(r)] = 1
    return ids, mask


def _model_context(model: nn.Module) -> int | None:
    return context_length(getattr(model, "config", None))


def trace_corpus(
    model: nn.Module,
    tokenizer,
    texts: Sequence[str],
    *,
    batch_size: int = 8,
    out: str | os.PathLike,
    probs: bool = False,
    max_length: int | None = 512,
    shard_batches: int = 16,
    add_special_tokens: bool = True,
    keep_text: bool = False,
    progress: bool = True,
    process_index: int | None = None,
    num_processes: int | None = None,
) -> ShardedTrace:
    """Trace ``texts`` through ``model`` and write shards under ``out``; returns the lazy loader.

    Args:
        batch_size: texts per forward. shard_batches: batches per shard file.
        probs: also store router probabilities (L x N x E floats per shard: large for big E), and for routers
            that choose with a selection-only bias (DeepSeek-V3 and its kin) their selection scores (as many again).
        max_length: truncate each text to this many tokens (None: no truncation). Texts longer than the
            model's context (``max_position_embeddings``) are traced with a warning.
        keep_text: store each token's text (``tokenizer.convert_ids_to_tokens``) in the shards.
        process_index, num_processes: override the process layout (default: torch.distributed when initialised,
            else accelerate's ``PartialState``, which ``torchrun`` and ``accelerate launch`` configure).

    Resuming (the same call again) keeps every listed shard that passes its checks and traces the rest: shards
    never finished, and shards that are missing, corrupt or not the ones the manifest recorded (with a warning).
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError("texts must be a sequence of strings (a list; resuming needs a stable order and length)")
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(f"texts[{bad}] is {type(texts[bad]).__name__}, not str")
    batch_size = as_int(batch_size, "batch_size", low=1)
    shard_batches = as_int(shard_batches, "shard_batches", low=1)
    rank, world, state = _process_layout(process_index, num_processes)
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(directory, rank)
    # this process's half-written files from a killed run: only the staging folder, which is ours by name
    # (a symlink planted there is removed, never followed); nothing else in `out` is touched
    if staging.is_symlink() or staging.is_file():
        staging.unlink()
    shutil.rmtree(staging, ignore_errors=True)
    shard_texts = batch_size * shard_batches
    num_shards = -(-len(texts) // shard_texts)
    settings = dict(
        batch_size=batch_size,
        shard_batches=shard_batches,
        probs=probs,
        max_length=max_length,
        add_special_tokens=add_special_tokens,
        keep_text=keep_text,
        model=getattr(model, "name_or_path", "") or type(model).__name__,
    )
    run = dict(
        format=RUN_FORMAT,
        version=1,
        num_texts=len(texts),
        num_shards=num_shards,
        shard_texts=shard_texts,
        fingerprint=_fingerprint(texts, settings),
        settings=settings,
    )
    run_path = directory / RUN_FILE
    if run_path.is_file():
        if read_run(directory).get("fingerprint") != run["fingerprint"]:
            raise ValueError(
                f"{directory} holds a trace of different texts or settings; "
                "use a new `out` directory (or delete this one) to start over"
            )
    else:
        write_json_atomic(run_path, run, staging)

    done = read_manifests(directory, strict=False)  # bad entries: traced again, with a warning
    mine = list(range(rank, num_shards, world))
    manifest_path = directory / manifest_name(rank)
    entries = read_manifest(manifest_path, strict=False) if manifest_path.is_file() else []
    todo = []
    for g in mine:
        if g in done:
            _, problem = check_shard(directory, done[g])
            if problem is None:
                continue
            warnings.warn(
                f"{directory / done[g]['file']}: {problem}; tracing texts [{done[g]['start']}, "
                f"{done[g]['stop']}) again",
                stacklevel=2,
            )
        todo.append(g)
    if len(entries) != len(kept := [e for e in entries if int(e["index"]) not in todo]):
        entries = kept
        write_json_atomic(manifest_path, dict(rank=rank, shards=entries), staging)
    pad_id = tokenizer.pad_token_id if getattr(tokenizer, "pad_token_id", None) is not None else 0
    device = _input_device(model)
    limit = _model_context(model)
    too_long = 0

    from tqdm.auto import tqdm

    texts_mine = sum(min(shard_texts, len(texts) - g * shard_texts) for g in mine)
    texts_todo = sum(min(shard_texts, len(texts) - g * shard_texts) for g in todo)
    bar = tqdm(
        total=texts_mine,
        initial=texts_mine - texts_todo,
        unit="text",
        disable=not progress,
        desc="tracing" if world == 1 else f"tracing [{rank}/{world}]",
        position=rank if world > 1 else None,
    )
    try:
        for g in todo:
            start, stop = g * shard_texts, min((g + 1) * shard_texts, len(texts))
            pieces: list[RoutingTrace] = []
            for b in range(start, stop, batch_size):
                batch = list(texts[b : min(b + batch_size, stop)])
                ids, mask = _encode(tokenizer, batch, max_length, add_special_tokens, pad_id)
                if limit is not None:
                    too_long += int((mask.sum(1) > limit).sum())
                with torch.no_grad(), capture(model, probs=probs) as piece:
                    model(input_ids=ids.to(device), attention_mask=mask.to(device))
                piece.seq_index = piece.seq_index + b  # sequence index = text index in the corpus
                if keep_text:
                    piece.tokens = list(tokenizer.convert_ids_to_tokens(piece.token_ids.tolist()))
                pieces.append(piece)
                bar.update(len(batch))
            shard = RoutingTrace.concat(pieces, renumber_sequences=False)
            staging.mkdir(exist_ok=True)
            tmp = staging / shard_name(g)
            digests = shard.save(tmp)
            checksum = sha256_file(tmp)
            os.replace(tmp, directory / shard_name(g))  # atomic: a shard is whole or absent
            entries.append(
                dict(
                    index=g,
                    file=shard_name(g),
                    start=start,
                    stop=stop,
                    tokens=len(shard),
                    sha256=checksum,
                    digests=digests,
                )
            )
            write_json_atomic(manifest_path, dict(rank=rank, shards=entries), staging)
    finally:
        bar.close()
        shutil.rmtree(staging, ignore_errors=True)
    if too_long:
        warnings.warn(
            f"{too_long} text(s) are longer than the model's context ({limit} tokens, "
            "max_position_embeddings): their routing past it is outside what the model was trained on; "
            f"pass max_length={limit} to truncate them",
            stacklevel=2,
        )
    if state is not None and world > 1:
        state.wait_for_everyone()  # every process returns the complete trace
    elif world > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
    return ShardedTrace(directory)

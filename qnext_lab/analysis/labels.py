"""Label specialisation: do tokens of one task, phase or domain prefer some experts? (OLMoE domain plots.)

Given a label for every token (or every sequence), for each (layer, label, expert): ``share`` = fraction of
the label's tokens that have the expert in their top-k. Uniform routing gives k/E; ``ratio`` = share / (k/E)
and ``specialization`` = (share - k/E) / (1 - k/E), as for vocabulary specialisation. ``labels="phase"``
uses the trace's prompt / thinking / answer phases. Knows nothing about models or figures.

    label_specialization(trace, "phase")
    label_specialization(trace, {0: "addition", 1: "counting"}, per="sequence")

Dimension legend: N = tokens, k = top-k, E = experts, C = distinct labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..trace.routing_trace import PHASES, RoutingTrace
from ._common import check_trace, layer_positions


def token_labels(trace: RoutingTrace, labels: Any, per: str | None = None) -> np.ndarray:
    """Expand ``labels`` to one label per token (object array of length N)."""
    N = trace.num_tokens
    if isinstance(labels, str):
        if labels != "phase":
            raise ValueError(f"the only named labels are 'phase'; got {labels!r} (pass a sequence or a mapping)")
        if trace.phase is None:
            raise ValueError("this trace has no phase labels (thinking.generate(..., capture=True) adds them)")
        return np.asarray(PHASES, dtype=object)[trace.phase.long().numpy()]
    seqs = sorted(set(trace.seq_index.tolist()))
    if per is None:
        if isinstance(labels, Mapping):
            per = "sequence"
        elif len(labels) == N and len(labels) == len(seqs) and N > 1:
            raise ValueError("as many labels as tokens and as sequences: say per='token' or per='sequence'")
        elif len(labels) == N:
            per = "token"
        elif len(labels) == len(seqs):
            per = "sequence"
        else:
            raise ValueError(f"got {len(labels)} labels for {N} tokens and {len(seqs)} sequences")
    if per == "token":
        if isinstance(labels, Mapping) or len(labels) != N:
            raise ValueError(f"per='token' needs a sequence of {N} labels")
        out = np.empty(N, dtype=object)
        out[:] = list(labels)
        return out
    if per != "sequence":
        raise ValueError(f"per must be 'token' or 'sequence', got {per!r}")
    if isinstance(labels, Mapping):
        missing = [s for s in seqs if s not in labels]
        if missing:
            raise ValueError(f"no label for sequence(s) {missing[:10]}")
        by_seq = dict(labels)
    else:
        if len(labels) != len(seqs):
            raise ValueError(f"per='sequence' needs {len(seqs)} labels (one per sequence, in sequence order)")
        by_seq = dict(zip(seqs, labels))
    return np.asarray([by_seq[s] for s in trace.seq_index.tolist()], dtype=object)


def label_specialization(
    trace: RoutingTrace,
    labels: str | Sequence[Any] | Mapping[int, Any],
    per: str | None = None,
    layers: int | Iterable[int] | None = None,
) -> pd.DataFrame:
    """One row per (layer, label, expert): label, expert, tokens, count, share, baseline, ratio, specialization."""
    trace = check_trace(trace)
    names, codes = np.unique(token_labels(trace, labels, per).astype(str), return_inverse=True)
    codes_t = torch.as_tensor(codes, dtype=torch.int64)  # (N,)
    C, E, k = len(names), trace.num_experts, trace.top_k
    tokens = torch.bincount(codes_t, minlength=C)  # (C,) tokens per label
    baseline = k / E
    if C * E >= 2**31:
        raise ValueError(f"too many distinct labels ({C}) for {E} experts")
    codes_i32 = (codes_t * E).to(torch.int32)  # (N,)
    ones = torch.ones(1, dtype=torch.int64).expand(trace.num_tokens * k)  # index_add_ source, never copied
    frames = []
    for pos, layer in layer_positions(trace, layers):
        key = (codes_i32[:, None] + trace.topk_ids[pos]).reshape(-1)  # (N*k,) int32: label * E + expert
        count = torch.zeros(C * E, dtype=torch.int64).index_add_(0, key, ones[: key.numel()]).view(C, E)  # (C, E)
        share = count.double() / tokens.double().clamp_min(1)[:, None]
        frames.append(
            pd.DataFrame(
                {
                    "layer": layer,
                    "label": np.repeat(names, E),
                    "expert": np.tile(np.arange(E), C),
                    "tokens": np.repeat(tokens.numpy(), E),
                    "count": count.reshape(-1).numpy(),
                    "share": share.reshape(-1).numpy(),
                    "baseline": baseline,
                    "ratio": (share / baseline).reshape(-1).numpy(),
                    "specialization": ((share - baseline) / (1 - baseline)).reshape(-1).numpy()
                    if baseline < 1
                    else float("nan"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)

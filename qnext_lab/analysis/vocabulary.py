"""Vocabulary specialisation: does each token id keep going to the same expert? (OLMoE.)

For a token id v seen n_v times in a layer, and each expert e, p(v, e) = (occurrences of v with e in its
top-k) / n_v. The token's favourite expert is the one with the largest p; uniform routing would give
p = k/E, so ``specialization`` = (p - k/E) / (1 - k/E): 0 at the uniform baseline, 1 when the favourite
expert is chosen every time. Knows nothing about models or figures.

    vocabulary_specialization(trace, min_count=5)   # one row per (layer, token id)

Dimension legend: N = tokens, k = top-k, E = experts, U = distinct token ids.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import torch

from ..trace.routing_trace import RoutingTrace
from ._common import check_trace, layer_positions

DENSE_BINS = 1 << 24  # (token, expert) int32 counters per dense table: tokens are counted in groups this size


class _TokenIndex:
    """Per-trace token bookkeeping shared by every layer: distinct ids, occurrences, rows sorted by token
    (tokens seen more than once first, then single-occurrence tokens) and the groups of repeated tokens whose
    (token, expert) counters fit one ``DENSE_BINS`` table."""

    def __init__(self, token_ids: torch.Tensor, num_experts: int) -> None:
        self.vocab, self.dense_id = torch.unique(token_ids, return_inverse=True)  # (U,), (N,)
        U = self.vocab.numel()
        self.occurrences = torch.bincount(self.dense_id, minlength=U)  # (U,)
        repeated = self.occurrences > 1
        self.multi = repeated.nonzero().flatten()  # (U_m,) tokens counted in tables
        self.single = (~repeated).nonzero().flatten()  # (U_s,) tokens seen once: their one row decides
        slot = torch.full((U,), U, dtype=torch.int64)  # slot of each repeated token; singles sort last
        slot[self.multi] = torch.arange(self.multi.numel())
        row_slot = slot[self.dense_id]  # (N,)
        order = torch.argsort(row_slot * U + self.dense_id, stable=True)  # (N,) repeated by slot, then singles
        self.order = None if torch.equal(order, torch.arange(order.numel())) else order
        sorted_slot = row_slot if self.order is None else row_slot[order]
        n_multi_rows = int(self.occurrences[self.multi].sum())
        self.single_rows = (n_multi_rows, n_multi_rows + self.single.numel())  # sorted rows of self.single, in order
        starts = torch.zeros(self.multi.numel() + 1, dtype=torch.int64)
        torch.cumsum(self.occurrences[self.multi], 0, out=starts[1:])  # sorted rows of slot s: starts[s:s+2]
        per_group = max(1, DENSE_BINS // num_experts)
        self.groups = []  # (first slot, end slot, first row, end row, (rows,) int32 key base of each row)
        for s0 in range(0, self.multi.numel(), per_group):
            s1 = min(self.multi.numel(), s0 + per_group)
            r0, r1 = int(starts[s0]), int(starts[s1])
            base = ((sorted_slot[r0:r1] - s0) * num_experts).to(torch.int32)
            self.groups.append((s0, s1, r0, r1, base))
        self._scratch: dict = {}

    def scratch(self, name: str, numel: int) -> torch.Tensor:
        """(numel,) int32 buffer kept between layers: large tensors allocated afresh each layer would be mapped
        and page-faulted again every time."""
        buf = self._scratch.get(name)
        if buf is None or buf.numel() < numel:
            buf = self._scratch[name] = torch.empty(numel, dtype=torch.int32)
        return buf[:numel]


def favourite_experts(
    token_ids: torch.Tensor | _TokenIndex, ids: torch.Tensor, num_experts: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N,) token ids and (N, k) expert ids -> per distinct token id (U,): id, occurrences, favourite
    expert (lowest index on ties), occurrences with the favourite in the top-k.

    Rows are put in token order once per layer, then each group of repeated token ids is counted with one
    index_add_ into a dense (tokens, E) int32 table (cache-friendly: a token's rows hit one table row) and
    reduced with a max over experts. A token seen once has count 1 for each of its k experts: its favourite
    is the lowest of them.
    """
    E = num_experts
    index = token_ids if isinstance(token_ids, _TokenIndex) else _TokenIndex(token_ids, E)
    U = index.vocab.numel()
    best = torch.zeros(U, dtype=torch.int64)
    favourite = torch.zeros(U, dtype=torch.int64)
    if ids.shape[1] == 0:
        return index.vocab, index.occurrences, favourite, best
    ids = ids.to(torch.int32)
    if index.order is not None:  # (N, k) grouped by token
        ids = torch.index_select(ids, 0, index.order, out=index.scratch("ids", ids.numel()).view(ids.shape))
    if index.single.numel():
        r0, r1 = index.single_rows
        best[index.single] = 1
        favourite[index.single] = ids[r0:r1].min(dim=1).values.long()
    if index.groups:
        table = index.scratch("table", min(index.multi.numel(), max(1, DENSE_BINS // E)) * E)
        keys = index.scratch("keys", ids.numel())
        ones = torch.ones(1, dtype=torch.int32).expand(ids.shape[0] * ids.shape[1])
    for s0, s1, r0, r1, base in index.groups:
        key = torch.add(base[:, None], ids[r0:r1], out=keys[: (r1 - r0) * ids.shape[1]].view(r1 - r0, -1))
        key = key.reshape(-1)  # (rows * k,) int32 counter index
        part = table[: (s1 - s0) * E].zero_().index_add_(0, key, ones[: key.numel()]).view(-1, E)
        top, arg = part.max(dim=1)  # documented: the first maximal index on ties
        tokens = index.multi[s0:s1]
        best[tokens], favourite[tokens] = top.long(), arg
    return index.vocab, index.occurrences, favourite, best


def vocabulary_specialization(
    trace: RoutingTrace, layers: int | Iterable[int] | None = None, min_count: int = 1
) -> pd.DataFrame:
    """One row per (layer, token id seen at least ``min_count`` times): token_id, count, top_expert,
    p, baseline (k/E), specialization; plus ``text`` when the trace has decoded tokens."""
    trace = check_trace(trace)
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    E, k = trace.num_experts, trace.top_k
    baseline = k / E
    text = None
    if trace.tokens is not None:
        first = {}
        for tid, s in zip(trace.token_ids.tolist(), trace.tokens):
            first.setdefault(tid, s)
        text = first
    frames = []
    index = _TokenIndex(trace.token_ids, E)  # shared by all layers
    for pos, layer in layer_positions(trace, layers):
        vocab, occ, fav, best = favourite_experts(index, trace.topk_ids[pos], E)
        keep = occ >= min_count
        p = best[keep].double() / occ[keep].double()
        frame = pd.DataFrame(
            {
                "layer": layer,
                "token_id": vocab[keep].numpy(),
                "count": occ[keep].numpy(),
                "top_expert": fav[keep].numpy(),
                "p": p.numpy(),
                "baseline": baseline,
                "specialization": ((p - baseline) / (1 - baseline)).numpy() if baseline < 1 else float("nan"),
            }
        )
        if text is not None:
            frame["text"] = [text[t] for t in frame["token_id"].tolist()]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)

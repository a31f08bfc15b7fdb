"""Expert cache replay: how often is the expert a token needs already resident?

Each MoE layer keeps ``slots`` experts in fast memory (the GPU); a request for an expert that is not resident
is a miss and loads it from the slow tier (host RAM, disk), evicting one by the policy. ``expert_cache``
replays a trace's expert requests through such a cache per layer and counts hits and misses; the same
semantics drive ``qnext_lab.offload``, which runs the model from a real bounded cache and counts its loads.

Semantics (fixed, so that results are exact and comparable): per layer, requests are served in token order
(the trace's row order, i.e. the order the model processed the tokens) and, within a token, in rank order
(rank 0 = highest weight), one request at a time. The cache starts empty. Only routed experts are requested:
shared experts are not in a trace's ``topk_ids`` and ``zero_experts`` (zero-computation experts, e.g.
LongCat-Flash's) are skipped, so neither ever occupies a slot.

Policies:
- ``"lru"``: evict the least recently used expert.
- ``"lfu"``: evict the expert with the fewest requests so far in this layer (evicted experts keep their count),
  ties to the least recently used.
- ``"static"``: pin the ``slots`` experts the trace itself uses most in this layer (ties to the lower id); a
  pinned expert is loaded at its first use (a compulsory miss) and never evicted, any other expert is fetched
  for each use and not kept (streamed past the cache, as engines that pin experts do). An upper bound for
  "pin the hot ones", since it knows the future counts.
- ``"belady"``: evict the resident expert whose next use is furthest in the future (Belady's MIN): the fewest
  misses any policy that loads each missed expert into a slot can reach (LRU, LFU), the yardstick for them.
  Static, which streams instead, is bounded by Belady with one slot more (that slot can stage the stream).

With ``slots`` >= the experts a layer uses, only compulsory misses (first uses) remain under every policy.
The replay is a loop over Python ints, which sets its speed (``benchmarks/bench_expert_cache.py``, figures in
``docs/benchmarks.md``): LRU visits every request (an ``OrderedDict``; a vectorised stack-distance LRU measured
slower, and a pointer reformulation that visits only the requests whose reuse gap exceeds ``slots`` no
faster); LFU visits every request with list bookkeeping and touches its heap only on a miss; Belady visits only
the requests whose reuse gap exceeds ``slots`` (no other request can miss or be evicted, see ``_belady``);
static is vectorised. Knows RoutingTrace and ShardedTrace; knows nothing about models or figures.

    expert_cache(trace, slots=8, policy="lru")        # DataFrame: layer, requests, hits, misses, hit_rate
    cache_misses(trace, slots=8)                      # (L, N, k) bool: True where the request loaded an expert

Dimension legend: L = MoE layers, N = tokens, k = top-k, E = experts, R = requests of one layer (<= N * k).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
import torch

from ..checks import as_int, as_int_list
from ..trace.routing_trace import RoutingTrace
from ..trace.shards import ShardedTrace

__all__ = ["POLICIES", "cache_misses", "expert_cache"]

POLICIES = ("lru", "lfu", "static", "belady")
COLUMNS = ["layer", "requests", "hits", "misses", "hit_rate"]


def _check(trace: object, slots: object, policy: object, zero_experts: object) -> tuple[int, str, np.ndarray]:
    if not isinstance(trace, (RoutingTrace, ShardedTrace)):
        raise TypeError(
            "trace must be a qnext_lab.RoutingTrace (capture(), routing_from_vllm/sglang, RoutingTrace.load) or a "
            f"ShardedTrace (load_corpus_trace), got {type(trace).__name__}"
        )
    if not isinstance(policy, str) or policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    num_experts = _num_experts(trace)
    slots = as_int(
        slots, "slots", low=0, high=num_experts, hint=f" (experts per layer held; the model has {num_experts})"
    )
    zero = np.zeros(num_experts, bool)
    if zero_experts is not None:
        zero[as_int_list(zero_experts, "zero_experts", low=0, high=num_experts - 1)] = True
    return slots, policy, zero


def _num_experts(trace: RoutingTrace | ShardedTrace) -> int:
    if isinstance(trace, RoutingTrace):
        return trace.num_experts
    if not trace.entries:
        raise ValueError(f"{trace.directory} has no finished shards yet")
    return trace.shard(0).num_experts


def _layers(trace: RoutingTrace | ShardedTrace) -> Iterator[tuple[int, np.ndarray]]:
    """(decoder-layer index, (N, k) int ids in token-then-rank order) per layer; shards joined in corpus order."""
    if isinstance(trace, RoutingTrace):
        for i, layer in enumerate(trace.layer_indices):
            yield layer, trace.topk_ids[i].numpy()
        return
    for layer in trace.shard(0).layer_indices:  # one layer at a time: a corpus need not fit in memory whole
        parts = [shard.topk_ids[0].numpy() for shard in trace.iter_shards([layer])]
        yield layer, np.concatenate(parts) if parts else np.zeros((0, 0), np.int32)


def _links(seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R,) ids -> ((R,) index of the previous request of the same expert or -1, (R,) of the next one or R)."""
    r = seq.size
    order = np.argsort(seq, kind="stable")  # (R,) grouped by expert, time order inside a group
    grouped = seq[order]
    last = np.empty(r, bool)  # (R,) in sorted order: the last request of its expert
    last[-1] = True
    np.not_equal(grouped[1:], grouped[:-1], out=last[:-1])
    step = np.empty(r, np.int64)  # (R,) in sorted order: the neighbour in the same group
    step[:-1] = order[1:]
    step[last] = r
    nxt = np.empty(r, np.int64)
    nxt[order] = step
    step[1:] = order[:-1]
    step[0] = -1
    step[1:][last[:-1]] = -1  # the first request of each expert
    prev = np.empty(r, np.int64)
    prev[order] = step
    return prev, nxt


def _lru(seq: list[int], slots: int) -> list[int]:
    """Misses (request indices) of an LRU cache: an OrderedDict, least recent first."""
    cache: OrderedDict[int, None] = OrderedDict()
    touch, evict = cache.move_to_end, cache.popitem
    misses: list[int] = []
    miss = misses.append
    for t, x in enumerate(seq):
        if x in cache:
            touch(x)
            continue
        miss(t)
        cache[x] = None
        if len(cache) > slots:
            evict(last=False)
    return misses


def _lfu(seq: list[int], slots: int, num_experts: int) -> list[int]:
    """Misses of an LFU cache: evict the fewest requests so far, then the least recent (module doc).

    A resident expert's eviction key is (requests so far, last use) packed into one int, count * M + t; it
    only grows while the expert stays resident, so the heap holds one entry per resident, keyed no higher
    than its current key: a popped entry is the true minimum when current, a stale one goes back re-keyed.
    """
    m = len(seq) + 1
    count = [0] * num_experts
    key = [0] * num_experts  # (E,) current key of a resident expert, 0 when not resident
    heap: list[int] = []
    push, pop = heapq.heappush, heapq.heappop
    misses: list[int] = []
    filled = 0
    for t, x in enumerate(seq):
        c = count[x] + 1
        count[x] = c
        if key[x]:
            key[x] = c * m + t
            continue
        misses.append(t)
        if filled < slots:
            filled += 1
        else:
            while True:
                k = pop(heap)
                e = seq[k % m]
                if key[e] == k:
                    key[e] = 0
                    break
                push(heap, key[e])
        key[x] = k = c * m + t
        push(heap, k)
    return misses


def _belady(seq: np.ndarray, slots: int) -> list[int]:
    """Misses of Belady's MIN: on a miss evict the resident expert whose next request is furthest away.

    Only requests whose reuse gap exceeds ``slots`` can miss: the expert of request t stays resident until its
    next request n = nxt[t] unless, at some miss in between, every other resident and the incoming expert are
    requested before n (that is what makes it the furthest), i.e. unless (t, n) holds >= slots other requests.
    So the loop visits only those requests (long gaps: possible misses, and the intervals that may be evicted),
    and the heap holds only intervals with a long gap, keyed by their end n (packed n * M + t, max first). An
    entry whose end has passed is stale (its expert was requested again); one whose end is ahead is resident,
    since the only way out was through this very entry.
    """
    r = seq.size
    prev, nxt = _links(seq)
    t_all = np.arange(r)
    may_miss = (prev < 0) | (t_all - prev > slots)  # (R,)
    may_go = nxt - t_all > slots  # (R,) the interval to the next request may be evicted
    events = np.flatnonzero(may_miss | may_go)
    m = r + 1
    evicted = bytearray(r)  # 1 where the interval starting at that request was evicted
    heap: list[int] = []
    push, pop = heapq.heappush, heapq.heappop
    misses: list[int] = []
    filled = 0
    limit = 2 * slots + 64
    for t, p, check, n in zip(events.tolist(), prev[events].tolist(), may_miss[events].tolist(), nxt[events].tolist()):
        if check and (p < 0 or evicted[p]):
            misses.append(t)
            if filled < slots:
                filled += 1
            else:
                while True:
                    k = -pop(heap)
                    if k // m > t:
                        evicted[k % m] = 1
                        break
        if n - t > slots:
            push(heap, -(n * m + t))
            if len(heap) > limit:  # drop the stale entries (at most slots are current)
                heap = [k for k in heap if -k // m > t]
                heapq.heapify(heap)
    return misses


def _static(seq: np.ndarray, slots: int, num_experts: int) -> np.ndarray:
    counts = np.bincount(seq.astype(np.intp), minlength=num_experts)  # (E,)
    pinned = np.zeros(num_experts, bool)
    pinned[np.argsort(-counts, kind="stable")[:slots]] = True  # most used first, ties to the lower id
    first_use = np.full(num_experts, seq.size, np.int64)  # (E,) index of each expert's first request
    np.minimum.at(first_use, seq.astype(np.intp), np.arange(seq.size))
    hit = pinned[seq]  # (R,)
    hit[first_use[first_use < seq.size]] = False  # a pinned expert is loaded at its first use
    return hit


def _replay(seq: np.ndarray, slots: int, policy: str, num_experts: int) -> np.ndarray:
    """(R,) expert ids of one layer -> (R,) bool, True where the request found its expert resident."""
    if seq.size == 0 or slots == 0:
        return np.zeros(seq.size, bool)
    if num_experts <= np.iinfo(np.int16).max:
        seq = seq.astype(np.int16)  # numpy sorts 16-bit integers by radix: the sorts below become linear
    if policy == "static":
        return _static(seq, slots, num_experts)
    if policy == "lru":
        misses = _lru(seq.tolist(), slots)
    elif policy == "lfu":
        misses = _lfu(seq.tolist(), slots, num_experts)
    else:
        misses = _belady(seq, slots)
    hit = np.ones(seq.size, bool)
    hit[misses] = False
    return hit


def _layer_hits(ids: np.ndarray, zero: np.ndarray, slots: int, policy: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, k) ids -> ((N, k) bool request mask, (N, k) bool hit mask); zero experts are not requests."""
    if not zero.any():  # every slot is a request: no masking copies
        return np.ones(ids.shape, bool), _replay(ids.reshape(-1), slots, policy, zero.size).reshape(ids.shape)
    requested = ~zero[ids]  # (N, k)
    hits = np.zeros(ids.shape, bool)
    hits[requested] = _replay(ids[requested], slots, policy, zero.size)  # boolean indexing keeps row-major order
    return requested, hits


def expert_cache(
    trace: RoutingTrace | ShardedTrace,
    slots: int,
    policy: str = "lru",
    *,
    zero_experts: int | Iterable[int] | None = None,
) -> pd.DataFrame:
    """Replay the trace's expert requests per MoE layer through a cache of ``slots`` experts (module doc).

    Returns one row per layer: ``layer`` (decoder-layer index), ``requests``, ``hits``, ``misses`` (= loads
    from the slow tier) and ``hit_rate`` (hits / requests; NaN for a layer without requests). ``trace``: a
    RoutingTrace (capture, importers, a saved file) or a ShardedTrace (corpus; read one layer at a time).
    ``zero_experts``: ids of zero-computation experts, never requested from the cache.
    """
    slots, policy, zero = _check(trace, slots, policy, zero_experts)
    rows = []
    for layer, ids in _layers(trace):
        requested, hits = _layer_hits(ids, zero, slots, policy)
        n, h = int(requested.sum()), int(hits.sum())
        rows.append((layer, n, h, n - h, h / n if n else float("nan")))
    out = pd.DataFrame(rows, columns=COLUMNS)
    out.attrs.update(slots=slots, policy=policy)
    return out


def cache_misses(
    trace: RoutingTrace,
    slots: int,
    policy: str = "lru",
    *,
    zero_experts: int | Iterable[int] | None = None,
) -> torch.Tensor:
    """(L, N, k) bool: True where the request missed and loaded its expert (``expert_cache``'s replay, per request).

    Zero-computation experts are never misses. For a corpus, pass ``sharded.to_trace(layers=...)``.
    """
    if not isinstance(trace, RoutingTrace):
        raise TypeError(
            f"trace must be a qnext_lab.RoutingTrace (for a ShardedTrace use .to_trace()), got {type(trace).__name__}"
        )
    slots, policy, zero = _check(trace, slots, policy, zero_experts)
    masks = []
    for _, ids in _layers(trace):
        requested, hits = _layer_hits(ids, zero, slots, policy)
        masks.append(torch.from_numpy(requested & ~hits))
    if not masks:
        return torch.zeros((0, len(trace), trace.top_k), dtype=torch.bool)
    return torch.stack(masks)

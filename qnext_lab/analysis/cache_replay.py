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
The replay is a plain loop per request over Python ints (``OrderedDict`` for LRU, a heap for LFU and Belady;
static is vectorised): a vectorised exact LRU through stack distances was measured ~5x slower at 10^6
requests, see ``benchmarks/bench_expert_cache.py`` for the figures at Qwen3-Next scale. Knows RoutingTrace and
ShardedTrace; knows nothing about models or figures.

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


def _next_use(seq: np.ndarray) -> np.ndarray:
    """(R,) ids -> (R,) index of the next request of the same expert (R where there is none)."""
    order = np.argsort(seq, kind="stable")  # (R,) grouped by expert, time order inside a group
    nxt = np.full(seq.size, seq.size, np.int64)
    same = seq[order[1:]] == seq[order[:-1]]
    nxt[order[:-1][same]] = order[1:][same]
    return nxt


def _lru(seq: list[int], slots: int, hit: bytearray) -> None:
    cache: OrderedDict[int, None] = OrderedDict()
    touch, evict = cache.move_to_end, cache.popitem
    for t, x in enumerate(seq):
        if x in cache:
            hit[t] = 1
            touch(x)
        else:
            cache[x] = None
            if len(cache) > slots:
                evict(last=False)


def _lfu(seq: list[int], slots: int, hit: bytearray) -> None:
    count: dict[int, int] = {}
    cache: dict[int, tuple[int, int]] = {}  # expert -> (requests so far, last use): its eviction key
    # One heap entry per resident expert, keyed no higher than its true key (keys only grow while resident): the
    # popped entry is the true minimum when it is current; a stale one goes back with its current key.
    heap: list[tuple[int, int, int]] = []
    for t, x in enumerate(seq):
        c = count.get(x, 0) + 1
        count[x] = c
        if x in cache:
            hit[t] = 1
            cache[x] = (c, t)
            continue
        if len(cache) >= slots:
            while True:
                c0, t0, e = heapq.heappop(heap)
                key = cache[e]
                if key == (c0, t0):
                    del cache[e]
                    break
                heapq.heappush(heap, (*key, e))
        cache[x] = (c, t)
        heapq.heappush(heap, (c, t, x))


def _belady(seq: list[int], nxt: list[int], slots: int, hit: bytearray) -> None:
    cache: dict[int, int] = {}  # expert -> its next use
    heap: list[tuple[int, int]] = []  # (-next use, expert), stale entries skipped when popped
    for t, x in enumerate(seq):
        if x in cache:
            hit[t] = 1
        elif len(cache) >= slots:
            while True:
                n0, e = heapq.heappop(heap)
                if cache.get(e) == -n0:
                    del cache[e]
                    break
        cache[x] = nxt[t]
        heapq.heappush(heap, (-nxt[t], x))
        if len(heap) > 4 * slots + 64:
            heap = [(-n0, e) for e, n0 in cache.items()]
            heapq.heapify(heap)


def _static(seq: np.ndarray, slots: int, num_experts: int) -> np.ndarray:
    counts = np.bincount(seq.astype(np.intp), minlength=num_experts)  # (E,)
    pinned = np.zeros(num_experts, bool)
    pinned[np.argsort(-counts, kind="stable")[:slots]] = True  # most used first, ties to the lower id
    first = np.zeros(seq.size, bool)
    first[np.unique(seq, return_index=True)[1]] = True
    return pinned[seq] & ~first


def _replay(seq: np.ndarray, slots: int, policy: str, num_experts: int) -> np.ndarray:
    """(R,) expert ids of one layer -> (R,) bool, True where the request found its expert resident."""
    if seq.size == 0 or slots == 0:
        return np.zeros(seq.size, bool)
    if num_experts <= np.iinfo(np.int16).max:
        seq = seq.astype(np.int16)  # numpy sorts 16-bit integers by radix: the sorts below become linear
    if policy == "static":
        return _static(seq, slots, num_experts)
    hit = bytearray(seq.size)
    if policy == "lru":
        _lru(seq.tolist(), slots, hit)
    elif policy == "lfu":
        _lfu(seq.tolist(), slots, hit)
    else:
        _belady(seq.tolist(), _next_use(seq).tolist(), slots, hit)
    return np.frombuffer(hit, np.uint8).astype(bool)


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

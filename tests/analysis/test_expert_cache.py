"""expert_cache: LRU, LFU and Belady equal naive independent simulations request by request (random and real
traces), Belady reaches the brute-force optimum, LRU hit rate never falls as slots grow, a cache holding every
expert has only compulsory misses; corpus and imported traces; bad input refused."""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import qnext_lab
from qnext_lab.analysis import cache_misses, expert_cache
from qnext_lab.trace.routing_trace import RoutingTrace


def random_trace(seed, *, layers=2, tokens=60, k=3, experts=8, skew=1.0) -> RoutingTrace:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, experts + 1) ** skew
    p /= p.sum()
    ids = np.stack([[rng.choice(experts, k, replace=False, p=p) for _ in range(tokens)] for _ in range(layers)])
    return RoutingTrace(
        topk_ids=torch.tensor(ids, dtype=torch.int32),
        topk_weights=torch.full(ids.shape, 1.0 / k),
        token_ids=torch.arange(tokens),
        seq_index=torch.zeros(tokens, dtype=torch.int32),
        position=torch.arange(tokens, dtype=torch.int32),
        layer_indices=[1, 3, 5, 7][:layers],
        num_experts=experts,
        top_k=k,
    )


def requests(trace, layer_pos):
    """The request order fixed by the module doc, spelled out: tokens in row order, ranks in order."""
    ids = trace.topk_ids[layer_pos]
    return [int(ids[n, r]) for n in range(ids.shape[0]) for r in range(ids.shape[1])]


def naive_lru_misses(seq, slots):
    """A deliberately plain LRU: a list, most recent last; a miss appends and drops the front when over."""
    resident, misses = [], 0
    for x in seq:
        if x in resident:
            resident.remove(x)
        else:
            misses += 1
            if slots == 0:
                continue
            if len(resident) == slots:
                resident.pop(0)
        resident.append(x)
    return misses


def optimal_misses(seq, slots):
    """Fewest misses any eviction choices reach (exhaustive search over every eviction at every miss)."""

    @functools.cache
    def best(t, resident):
        if t == len(seq):
            return 0
        x = seq[t]
        if x in resident:
            return best(t + 1, resident)
        if slots == 0:
            return 1 + best(t + 1, resident)
        if len(resident) < slots:
            return 1 + best(t + 1, resident | {x})
        return 1 + min(best(t + 1, (resident - {e}) | {x}) for e in resident)

    return best(0, frozenset())


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("slots", [0, 1, 3, 5, 8])
def test_lru_equals_naive_simulation(seed, slots):
    trace = random_trace(seed, skew=0.5 + seed / 2)
    df = expert_cache(trace, slots, "lru")
    assert list(df.columns) == ["layer", "requests", "hits", "misses", "hit_rate"]
    assert df["layer"].tolist() == trace.layer_indices
    for i in range(len(trace.layer_indices)):
        seq = requests(trace, i)
        assert df["requests"][i] == len(seq)
        assert df["misses"][i] == naive_lru_misses(seq, slots)
        assert df["hits"][i] + df["misses"][i] == len(seq)
        assert df["hit_rate"][i] == pytest.approx(df["hits"][i] / len(seq))


@pytest.mark.parametrize("seed", range(6))
def test_belady_reaches_the_optimum_and_no_policy_beats_it(seed):
    trace = random_trace(seed, layers=1, tokens=7, k=2, experts=5)
    seq = requests(trace, 0)
    for slots in (1, 2, 3):
        optimum = optimal_misses(tuple(seq), slots)
        assert expert_cache(trace, slots, "belady")["misses"][0] == optimum
        for policy in ("lru", "lfu"):
            assert expert_cache(trace, slots, policy)["misses"][0] >= optimum
        # static streams unpinned experts past the cache: one staging slot more is what it gets for free
        assert expert_cache(trace, slots, "static")["misses"][0] >= optimal_misses(tuple(seq), slots + 1)


def test_belady_is_the_fewest_misses_on_real_routing(tiny_trace):
    for slots in (2, 4, 8):
        belady = expert_cache(tiny_trace, slots, "belady")["misses"]
        for policy in ("lru", "lfu"):
            assert (expert_cache(tiny_trace, slots, policy)["misses"] >= belady).all()
        lower = expert_cache(tiny_trace, slots + 1, "belady")["misses"]
        assert (expert_cache(tiny_trace, slots, "static")["misses"] >= lower).all()


@pytest.mark.parametrize("seed", range(3))
def test_lru_hit_rate_never_falls_as_slots_grow(seed):
    trace = random_trace(seed, tokens=200, experts=12, k=2, skew=1.2)
    hits = np.array([expert_cache(trace, s, "lru")["hits"].to_numpy() for s in range(13)])  # (slots, L)
    assert (np.diff(hits, axis=0) >= 0).all()
    assert hits[-1].sum() > hits[1].sum()  # and it does rise


@pytest.mark.parametrize("policy", ["lru", "lfu", "static", "belady"])
def test_every_expert_resident_leaves_only_compulsory_misses(policy):
    trace = random_trace(5, tokens=100)
    df = expert_cache(trace, trace.num_experts, policy)
    distinct = [len(set(requests(trace, i))) for i in range(len(trace.layer_indices))]
    assert df["misses"].tolist() == distinct


def test_static_pins_the_most_used():
    # expert 0 used by every token, 1 by most: pinning two keeps them after their first load
    ids = [[0, 1], [0, 2], [0, 1], [0, 3], [0, 1]]
    trace = random_trace(0, layers=1, tokens=5, k=2, experts=4)
    trace = RoutingTrace(**{**trace.__dict__, "topk_ids": torch.tensor([ids], dtype=torch.int32)})
    df = expert_cache(trace, 2, "static")
    assert (df["hits"][0], df["misses"][0]) == (6, 4)  # 0: 4 hits, 1: 2 hits; 2 and 3 fetched, never kept


def test_zero_experts_never_occupy_slots():
    trace = random_trace(1, tokens=80, experts=8)
    zero = [6, 7]
    df = expert_cache(trace, 3, "lru", zero_experts=zero)
    for i in range(len(trace.layer_indices)):
        seq = [x for x in requests(trace, i) if x not in zero]
        assert df["requests"][i] == len(seq)
        assert df["misses"][i] == naive_lru_misses(seq, 3)
    mask = cache_misses(trace, 3, "lru", zero_experts=zero)
    assert not mask[torch.isin(trace.topk_ids, torch.tensor(zero))].any()
    assert mask.sum(dim=(1, 2)).tolist() == df["misses"].tolist()


@pytest.mark.parametrize("policy", ["lru", "lfu", "static", "belady"])
def test_cache_misses_marks_the_counted_misses(policy):
    trace = random_trace(2, tokens=50)
    mask = cache_misses(trace, 4, policy)
    assert mask.shape == trace.topk_ids.shape and mask.dtype == torch.bool
    assert mask.sum(dim=(1, 2)).tolist() == expert_cache(trace, 4, policy)["misses"].tolist()
    # a request whose expert the same layer never asked for before is always a miss
    first = requests(trace, 0)
    seen, flat = set(), mask[0].reshape(-1).tolist()
    for t, x in enumerate(first):
        if x not in seen:
            assert flat[t]
        seen.add(x)


def test_lfu_evicts_the_least_used_then_the_oldest():
    # slots 2: [0 0 1] then 2 evicts 1 (one use) not 0 (two); then 3 evicts 2 (one use, newer than none)
    trace = random_trace(0, layers=1, tokens=6, k=1, experts=4)
    seq = [0, 0, 1, 2, 0, 1]
    trace = RoutingTrace(**{**trace.__dict__, "topk_ids": torch.tensor(seq, dtype=torch.int32).view(1, 6, 1)})
    mask = cache_misses(trace, 2, "lfu")[0, :, 0].tolist()
    assert mask == [True, False, True, True, False, True]


def test_corpus_and_imported_traces(tmp_path):
    from corpus_worker import TEXTS, CharTokenizer  # tests/trace helpers (tests/analysis/conftest.py)
    from moe_models import make_model

    model = make_model("qwen3_moe")
    sharded = qnext_lab.trace_corpus(
        model, CharTokenizer(), TEXTS, batch_size=2, shard_batches=1, out=tmp_path / "c", progress=False
    )
    for policy in ("lru", "belady"):
        a = expert_cache(sharded, 3, policy)
        b = expert_cache(sharded.to_trace(), 3, policy)
        assert a.equals(b)
    whole = sharded.to_trace()
    # vLLM's layout (tokens, moe layers, k) of the same routing imports to the same replay
    routed = whole.topk_ids.permute(1, 0, 2).numpy().astype(np.int16)
    out = SimpleNamespace(
        prompt_token_ids=whole.token_ids.tolist(),
        prompt_routed_experts=routed,
        outputs=[SimpleNamespace(token_ids=[], routed_experts=None)],
    )
    imported = qnext_lab.routing_from_vllm(out, num_experts=whole.num_experts, layer_indices=whole.layer_indices)
    assert expert_cache(imported, 3, "lru").equals(expert_cache(whole, 3, "lru"))


def test_bad_input_is_refused():
    trace = random_trace(0)
    with pytest.raises(TypeError, match="RoutingTrace"):
        expert_cache(trace.topk_ids, 2)
    with pytest.raises(ValueError, match="policy"):
        expert_cache(trace, 2, "fifo")
    with pytest.raises(TypeError, match="slots"):
        expert_cache(trace, 2.0)
    with pytest.raises(TypeError, match="slots"):
        expert_cache(trace, True)
    with pytest.raises(ValueError, match="slots"):
        expert_cache(trace, trace.num_experts + 1)
    with pytest.raises(ValueError, match="slots"):
        expert_cache(trace, -1)
    with pytest.raises(ValueError, match="zero_experts"):
        expert_cache(trace, 2, zero_experts=[8])
    with pytest.raises(TypeError, match="ShardedTrace"):
        cache_misses("trace.safetensors", 2)
    assert expert_cache(trace, np.int64(2))["hits"].sum() == expert_cache(trace, torch.tensor(2))["hits"].sum()


@pytest.fixture(scope="module")
def tiny_trace():
    model, tok = qnext_lab.load("tiny")
    g = qnext_lab.generate(model, tok, "What is 478 + 356?", thinking=True, capture=True, max_new_tokens=80)
    return g.trace


def naive_lfu_misses(seq, slots):
    """A plain LFU: evict the resident expert with the fewest requests so far, then the least recently used."""
    resident, count, last, misses = set(), {}, {}, 0
    for t, x in enumerate(seq):
        count[x] = count.get(x, 0) + 1
        if x not in resident:
            misses += 1
            if len(resident) == slots:
                resident.remove(min(resident, key=lambda e: (count[e], last[e])))
            resident.add(x)
        last[x] = t
    return misses


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("slots", [1, 3, 6])
def test_lfu_equals_naive_simulation(seed, slots):
    trace = random_trace(seed, tokens=120, experts=10, skew=0.3 + seed / 3)
    df = expert_cache(trace, slots, "lfu")
    for i in range(len(trace.layer_indices)):
        assert df["misses"][i] == naive_lfu_misses(requests(trace, i), slots)


def naive_miss_masks(seq, slots, policy):
    """Per-request misses of a plain simulation: a set of residents, the victim chosen by scanning them all."""
    resident, count, last, out = set(), {}, {}, []
    for t, x in enumerate(seq):
        count[x] = count.get(x, 0) + 1
        miss = x not in resident
        out.append(miss)
        if miss and slots:
            if len(resident) == slots:
                if policy == "lru":
                    victim = min(resident, key=lambda e: last[e])
                elif policy == "lfu":
                    victim = min(resident, key=lambda e: (count[e], last[e]))
                else:  # belady: the next request furthest away (never again = furthest)
                    ahead = {e: next((u for u in range(t + 1, len(seq)) if seq[u] == e), len(seq)) for e in resident}
                    victim = max(resident, key=lambda e: ahead[e])
                resident.remove(victim)
            resident.add(x)
        last[x] = t
    return out


@pytest.mark.parametrize("policy", ["lru", "lfu", "belady"])
@pytest.mark.parametrize("seed", range(3))
def test_each_request_equals_the_naive_simulation(policy, seed):
    """The replay's shortcuts (Belady visits only requests with a reuse gap above slots) change no request."""
    trace = random_trace(seed, tokens=150, k=3, experts=12, skew=0.4 + seed / 2)
    for slots in (1, 2, 4, 7, 11, 12):
        mask = cache_misses(trace, slots, policy)
        for i in range(len(trace.layer_indices)):
            expected = naive_miss_masks(requests(trace, i), slots, policy)
            assert mask[i].reshape(-1).tolist() == expected, (policy, slots, i)


def test_each_request_equals_the_naive_simulation_on_real_routing(tiny_trace):
    for policy in ("lru", "lfu", "belady"):
        for slots in (1, 3, 8, 20):
            mask = cache_misses(tiny_trace, slots, policy)
            for i in range(len(tiny_trace.layer_indices)):
                expected = naive_miss_masks(requests(tiny_trace, i), slots, policy)
                assert mask[i].reshape(-1).tolist() == expected, (policy, slots, i)


def test_static_misses_by_hand_rule():
    trace = random_trace(4, tokens=120, experts=10, skew=1.1)
    for slots in (1, 4, 9):
        mask = cache_misses(trace, slots, "static")
        for i in range(len(trace.layer_indices)):
            seq = requests(trace, i)
            counts = {e: seq.count(e) for e in range(trace.num_experts)}
            pinned = set(sorted(counts, key=lambda e: (-counts[e], e))[:slots])
            seen, expected = set(), []
            for x in seq:
                expected.append(x not in pinned or x not in seen)
                seen.add(x)
            assert mask[i].reshape(-1).tolist() == expected

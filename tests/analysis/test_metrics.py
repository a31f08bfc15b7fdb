"""Each routing metric against a hand-built trace, with the expected values worked out by hand below."""

from __future__ import annotations

import math

import pytest
import torch

from qnext_lab.analysis import (
    active_parameters,
    coactivation,
    consecutive_repetition,
    expert_load,
    label_specialization,
    load_balance,
    most_used_experts,
    router_saturation,
    routing_entropy,
    vocabulary_specialization,
)
from qnext_lab.trace import RoutingTrace

# One layer (decoder layer 5), E = 4 experts, k = 2. Six tokens, stored in an interleaved order as a
# batched generate would record them:       row: (seq, pos) token id  top-k
#   t0 (0, 0) 10 {0, 1}   t1 (0, 1) 10 {0, 2}   t2 (0, 2) 11 {1, 0}   t3 (0, 3) 10 {3, 2}
#   t4 (1, 0) 11 {0, 1}   t5 (1, 1) 12 {2, 3}
ORDER = [0, 1, 4, 2, 5, 3]  # rows of the trace, in t-numbering
TOPK = {0: [0, 1], 1: [0, 2], 2: [1, 0], 3: [3, 2], 4: [0, 1], 5: [2, 3]}
SEQ = {0: 0, 1: 0, 2: 0, 3: 0, 4: 1, 5: 1}
POS = {0: 0, 1: 1, 2: 2, 3: 3, 4: 0, 5: 1}
TOK = {0: 10, 1: 10, 2: 11, 3: 10, 4: 11, 5: 12}


def hand_trace(topk: dict | None = None, **extra) -> RoutingTrace:
    topk = topk or TOPK
    return RoutingTrace(
        topk_ids=torch.tensor([[topk[t] for t in ORDER]]),
        topk_weights=torch.tensor([[[0.7, 0.3]] * 6]),
        token_ids=torch.tensor([TOK[t] for t in ORDER]),
        seq_index=torch.tensor([SEQ[t] for t in ORDER]),
        position=torch.tensor([POS[t] for t in ORDER]),
        layer_indices=[5],
        num_experts=4,
        top_k=2,
        **extra,
    )


def test_expert_load_and_balance():
    # slots per expert: e0 in t0 t1 t2 t4 = 4, e1 in t0 t2 t4 = 3, e2 in t1 t3 t5 = 3, e3 in t3 t5 = 2 (12 slots)
    load = expert_load(hand_trace())
    assert load["count"].tolist() == [4, 3, 3, 2]
    assert load["share"].tolist() == pytest.approx([4 / 12, 3 / 12, 3 / 12, 2 / 12])
    row = load_balance(hand_trace()).iloc[0]
    h = -(1 / 3 * math.log(1 / 3) + 2 * 0.25 * math.log(0.25) + 1 / 6 * math.log(1 / 6))
    assert row.layer == 5 and row.tokens == 6 and row.dead_experts == 0
    assert row.max_vio == pytest.approx((4 - 3) / 3)  # mean load 12 / 4 = 3
    assert row.entropy == pytest.approx(h) and row.effective_experts == pytest.approx(math.exp(h))
    assert row.uniform_entropy == pytest.approx(math.log(4))
    # every token on {0, 1}: loads 6, 6, 0, 0 around a mean of 3 -> MaxVio 1, two effective experts, two dead
    dead = load_balance(hand_trace({t: [0, 1] for t in TOPK})).iloc[0]
    assert dead.dead_experts == 2 and dead.max_vio == pytest.approx(1.0) and dead.effective_experts == pytest.approx(2)


def test_dead_experts_use_one_threshold_everywhere():
    from qnext_lab.analysis.load import DEAD_SHARE, dead_experts, routed_counts, routed_shares

    # loads 4, 3, 3, 2 of 12: nobody below 0.2 * 1/4 = 5 %; every token on {0, 1}: experts 2 and 3 dead
    assert dead_experts(hand_trace()) == {5: []}
    assert dead_experts(hand_trace({t: [0, 1] for t in TOPK})) == {5: [2, 3]}
    assert expert_load(hand_trace({t: [0, 1] for t in TOPK}))["dead"].tolist() == [False, False, True, True]
    # the threshold is a share of 1/E, not a count of zero: 1 slot of 100 (1 %) is dead at E = 4 (< 5 %)
    shares = torch.tensor([[0.49, 0.49, 0.01, 0.01], [0.25, 0.25, 0.25, 0.25], [0.0, 0.0, 0.0, 0.0]])
    assert DEAD_SHARE == 0.2 and dead_experts(shares) == [[2, 3], [], [0, 1, 2, 3]]
    assert dead_experts(shares.numpy()) == [[2, 3], [], [0, 1, 2, 3]]
    # counts and shares per layer, optionally for some tokens only
    ids = torch.tensor([[[0, 1], [0, 2]], [[3, 2], [3, 1]]])  # (L=2, N=2, k=2)
    assert routed_counts(ids, 4).tolist() == [[2, 1, 1, 0], [0, 1, 1, 2]]
    assert routed_counts(ids, 4, torch.tensor([False, True])).tolist() == [[1, 0, 1, 0], [0, 1, 0, 1]]
    assert routed_shares(ids, 4).sum(dim=1).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        routed_counts(ids, 3)
    with pytest.raises(ValueError, match="bool mask"):
        routed_counts(ids, 4, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="layers= selects"):
        dead_experts(shares, layers=[0])


def test_routing_entropy_from_probs():
    probs = torch.zeros(1, 6, 4)
    probs[0, :, :2] = 0.5  # every token: two experts at 1/2 -> ln 2
    probs[0, 2] = 0.25  # row 2 uniform -> ln 4
    per_token = routing_entropy(hand_trace(probs=probs))
    expected = [math.log(2)] * 6
    expected[2] = math.log(4)
    assert per_token["entropy"].tolist() == pytest.approx(expected)
    assert per_token["normalized"].tolist() == pytest.approx([e / math.log(4) for e in expected])
    per_layer = routing_entropy(hand_trace(probs=probs), per="layer").iloc[0]
    assert per_layer["mean"] == pytest.approx((5 * math.log(2) + math.log(4)) / 6)
    assert per_layer["max"] == pytest.approx(math.log(4))
    sigmoid_scores = torch.zeros(1, 6, 4)
    sigmoid_scores[0, :, :2] = 0.9  # unnormalised scores are normalised first: ln 2 again
    assert routing_entropy(hand_trace(probs=sigmoid_scores))["entropy"].tolist() == pytest.approx([math.log(2)] * 6)
    with pytest.raises(ValueError, match="probs=True"):
        routing_entropy(hand_trace())


def test_coactivation_all_pairs():
    # pairs: {0,1} x3 (t0 t2 t4), {0,2} x1 (t1), {2,3} x2 (t3 t5); N(i) = 4, 3, 3, 2
    c = coactivation(hand_trace(), layer=5)
    assert c.loc[0, 1] == pytest.approx(3 / 4) and c.loc[1, 0] == pytest.approx(1.0)
    assert c.loc[0, 2] == pytest.approx(1 / 4) and c.loc[2, 0] == pytest.approx(1 / 3)
    assert c.loc[2, 3] == pytest.approx(2 / 3) and c.loc[3, 2] == pytest.approx(1.0)
    assert c.loc[0, 3] == 0 and c.loc[1, 2] == 0
    assert all(math.isnan(c.loc[i, i]) for i in range(4))
    counts = coactivation(hand_trace(), layer=5, normalize=False)
    assert counts.values.tolist() == [[4, 3, 1, 0], [3, 3, 0, 0], [1, 0, 3, 2], [0, 0, 2, 2]]
    assert most_used_experts(hand_trace(), layer=5, n=2) == [0, 1]  # 4 slots, then 3 (lowest index on ties)
    with pytest.raises(ValueError, match="captured layers"):
        coactivation(hand_trace(), layer=0)


def test_consecutive_repetition_within_sequences_only():
    # pairs (t0,t1) (t1,t2) (t2,t3) in seq 0 and (t4,t5) in seq 1; (t3,t4) crosses a boundary and is skipped.
    # top-1: 0,0 | 0,1 | 1,3 | 0,2 -> 1 of 4.  any shared: yes | yes ({0}) | no | no -> 2 of 4.
    row = consecutive_repetition(hand_trace()).iloc[0]
    assert row.pairs == 4
    assert row.top1 == pytest.approx(1 / 4) and row.any_topk == pytest.approx(2 / 4)
    assert row.random_top1 == pytest.approx(1 / 4)
    assert row.random_any_topk == pytest.approx(1 - 1 / 6)  # 1 - C(2,2)/C(4,2)
    from qnext_lab.analysis.repetition import random_overlap_probability

    assert random_overlap_probability(8, 2) == pytest.approx(1 - 15 / 28)  # Mixtral's 46%


def test_vocabulary_specialization():
    # token 10 (t0 t1 t3): e0 2, e1 1, e2 2, e3 1 -> favourite e0 (tie with e2: lowest), p = 2/3
    # token 11 (t2 t4): e0 2, e1 2 -> e0, p = 1;  token 12 seen once (dropped by min_count=2)
    v = vocabulary_specialization(hand_trace(), min_count=2).set_index("token_id")
    assert v.index.tolist() == [10, 11]
    assert v.loc[10, "count"] == 3 and v.loc[10, "top_expert"] == 0 and v.loc[10, "p"] == pytest.approx(2 / 3)
    assert v.loc[10, "specialization"] == pytest.approx((2 / 3 - 1 / 2) / (1 - 1 / 2))
    assert v.loc[11, "p"] == pytest.approx(1.0) and v.loc[11, "specialization"] == pytest.approx(1.0)
    texts = ["a"] * 6
    assert "text" in vocabulary_specialization(hand_trace(tokens=texts)).columns


def test_vocabulary_sparse_path_matches_dense(monkeypatch):
    from qnext_lab.analysis import vocabulary
    from qnext_lab.analysis.vocabulary import favourite_experts

    torch.manual_seed(0)
    tokens = torch.randint(0, 2000, (5000,)) * 1000  # sparse ids
    ids = torch.stack([torch.randperm(600)[:3] for _ in range(5000)])
    monkeypatch.setattr(vocabulary, "DENSE_BINS", 600 * 50)  # 50 frequent tokens dense, the rest sparse
    vocab, occ, fav, best = favourite_experts(tokens, ids, 600)
    # reference: one full (token, expert) table, by brute force
    table = torch.zeros(vocab.numel(), 600, dtype=torch.int64)
    row = torch.searchsorted(vocab, tokens)
    for slot in range(3):
        table.index_put_((row, ids[:, slot]), torch.ones(5000, dtype=torch.int64), accumulate=True)
    assert torch.equal(occ, torch.bincount(row, minlength=vocab.numel()))
    assert torch.equal(best, table.max(1).values)
    assert torch.equal(fav, (table == table.max(1).values[:, None]).int().argmax(1))  # lowest index on ties


def test_label_specialization_per_sequence_and_phase():
    # label a = seq 0 (t0..t3, 4 tokens): e0 3, e1 2, e2 2, e3 1; label b = seq 1 (t4 t5): each expert 1
    spec = label_specialization(hand_trace(), {0: "a", 1: "b"}).set_index(["label", "expert"])
    assert spec.loc[("a", 0), "tokens"] == 4 and spec.loc[("a", 0), "share"] == pytest.approx(3 / 4)
    assert spec.loc[("a", 3), "share"] == pytest.approx(1 / 4)
    assert spec.loc[("a", 0), "ratio"] == pytest.approx(1.5)
    assert spec.loc[("a", 0), "specialization"] == pytest.approx((3 / 4 - 1 / 2) / (1 / 2))
    assert spec.loc[("b", 2), "share"] == pytest.approx(1 / 2)
    # the same labels given per token (in row order) and through phases
    by_token = label_specialization(hand_trace(), ["a" if SEQ[t] == 0 else "b" for t in ORDER], per="token")
    assert by_token["count"].tolist() == spec["count"].tolist()
    phases = torch.tensor([0 if SEQ[t] == 0 else 2 for t in ORDER])
    by_phase = label_specialization(hand_trace(phase=phases), "phase").set_index(["label", "expert"])
    assert by_phase.loc[("prompt", 0), "share"] == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="no label"):
        label_specialization(hand_trace(), {0: "a"})
    with pytest.raises(ValueError, match="labels for"):
        label_specialization(hand_trace(), ["a", "b", "c"])


def test_router_saturation():
    same = router_saturation(hand_trace(), hand_trace()).iloc[0]
    assert same.saturation == 1.0 and same.top1_agreement == 1.0 and same.random == 0.5
    # t0 {0,1} -> {0,3}: 1 shared; t3 {3,2} -> {0,1}: none; others 2 -> (1 + 2 + 2 + 0 + 2 + 2) / 12
    moved = {**TOPK, 0: [0, 3], 3: [0, 1]}
    row = router_saturation(hand_trace(), hand_trace(moved)).iloc[0]
    assert row.saturation == pytest.approx(9 / 12) and row.top1_agreement == pytest.approx(5 / 6)
    with pytest.raises(ValueError, match="same tokens"):
        router_saturation(hand_trace(), hand_trace().select(seq=0))


def test_active_parameters_small_config_by_hand():
    import transformers

    config = transformers.Qwen3MoeConfig(
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        intermediate_size=64,
        moe_intermediate_size=16,
        num_experts=8,
        num_experts_per_tok=2,
        tie_word_embeddings=False,
    )
    frame = active_parameters(config).set_index("component")
    per_expert = 3 * 16 * 32  # gate (16x32) + up (16x32) + down (32x16)
    assert frame.loc["routed experts", "total"] == 2 * 8 * per_expert
    assert frame.loc["routed experts", "active"] == 2 * 2 * per_expert
    assert frame.loc["embedding", "total"] == 64 * 32 and frame.loc["lm_head", "total"] == 64 * 32
    assert frame.loc["routers", "total"] == 2 * 8 * 32
    model = transformers.Qwen3MoeForCausalLM(config)
    assert frame.loc["total", "total"] == sum(p.numel() for p in model.parameters())
    assert frame.loc["total", "total"] - frame.loc["total", "active"] == 2 * 6 * per_expert
    # with a trace: k from the trace, touched = experts actually reached
    trace = RoutingTrace(
        topk_ids=torch.tensor([[[0, 1], [1, 0]], [[2, 3], [4, 5]]]),
        topk_weights=torch.ones(2, 2, 2),
        token_ids=torch.tensor([3, 4]),
        seq_index=torch.tensor([0, 0]),
        position=torch.tensor([0, 1]),
        layer_indices=[0, 1],
        num_experts=8,
        top_k=2,
    )
    traced = active_parameters(model, trace).set_index("component")
    assert traced.loc["routed experts", "touched"] == (2 + 4) * per_expert


def test_active_parameters_qwen3_next_80b_from_config_alone():
    import transformers

    frame = active_parameters(transformers.Qwen3NextConfig()).set_index("component")  # built on "meta"
    assert 79e9 < frame.loc["total", "total"] < 81e9  # "80B total"
    assert 2.9e9 < frame.loc["total (non-embedding)", "active"] < 3.5e9  # "3B active"
    assert 78.5e9 < frame.loc["total (non-embedding)", "total"] < 79.5e9  # model card: 79B non-embedding

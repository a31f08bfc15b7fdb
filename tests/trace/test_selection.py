"""capture_selection on small random DeepSeek-V3.2 (DSA) and Qwen3.8-Flash-Next (qwen4_exp, QSA) models: the
recorded selections equal the indexer's top-k recomputed here from its own weights and inputs (an
independent hook), through padding and a cache; hooks come off; bad arguments are refused clearly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import transformers
from transformers.models.deepseek_v32 import modeling_deepseek_v32 as dsv32
from transformers.models.qwen4_exp import modeling_qwen4_exp as qwen4

import qnext_lab as ql
from qnext_lab.trace.selection import SelectionTrace

DSA = dict(
    vocab_size=64,
    hidden_size=32,
    intermediate_size=64,
    moe_intermediate_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=2,
    n_routed_experts=8,
    num_experts_per_tok=2,
    n_group=2,
    topk_group=1,
    first_k_dense_replace=0,
    kv_lora_rank=8,
    q_lora_rank=16,
    qk_rope_head_dim=8,
    qk_nope_head_dim=8,
    v_head_dim=8,
    head_dim=8,
    index_topk=4,  # fewer than the prompt: the indexer really chooses
    index_head_dim=16,
    index_n_heads=2,
    pad_token_id=0,
)


def deepseek_v32(seed: int = 0) -> transformers.PreTrainedModel:
    torch.manual_seed(seed)
    return transformers.DeepseekV32ForCausalLM(transformers.DeepseekV32Config(**DSA)).eval()


def qwen4_exp(seed: int = 0) -> transformers.PreTrainedModel:
    config = transformers.Qwen4ExpTextConfig(
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        linear_key_head_dim=8,
        linear_value_head_dim=8,
        linear_num_key_heads=2,
        linear_num_value_heads=2,
        moe_intermediate_size=16,
        shared_expert_intermediate_size=16,
        num_experts=8,
        num_experts_per_tok=2,
        layer_types=["linear_attention", "indexed_attention"],
        hc_count=2,
        hc_lowrank=8,
        ngram_vocab_size_base=1000,
        split_ngram_parts=4,
        heads_per_ngram=2,
        indexer_n_heads=2,
        indexer_kv_heads=1,
        indexer_head_dim=16,
        indexer_budget=4,  # 2 blocks of 2 tokens, plus the incomplete tail
        indexer_compress_ratio=2,
        pad_token_id=0,
    )
    torch.manual_seed(seed)
    return transformers.Qwen4ExpForCausalLM(config).eval()


FAMILIES = {"deepseek_v32": deepseek_v32, "qwen4_exp": qwen4_exp}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def model(request):
    return FAMILIES[request.param]()


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Two rows of 11 columns, the second left-padded by 3 (positions restart after the padding)."""
    torch.manual_seed(1)
    ids = torch.randint(3, 64, (2, 11))
    mask = torch.ones_like(ids)
    ids[1, :3], mask[1, :3] = 0, 0
    return ids, mask


def _indexer_calls(model) -> tuple[list, callable]:
    """An independent forward hook on every indexer: its inputs and the module, per call."""
    calls, handles = [], []
    for name, module in model.named_modules():
        if name.endswith("self_attn.indexer"):

            def hook(mod, args, kwargs, out, name=name):
                calls.append((name, mod, args, kwargs))

            handles.append(module.register_forward_hook(hook, with_kwargs=True))
    return calls, lambda: [h.remove() for h in handles]


def _dsa_scores(mod, args, kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """DSA lightning-indexer scores (B, t, S) and visibility, recomputed from the module's weights
    (no cache: keys are this forward's tokens)."""
    hidden, q_resid, (cos, sin), mask = args[0], args[1], args[2], args[3]
    B, t, _ = hidden.shape
    H, D, R = mod.n_heads, mod.head_dim, mod.qk_rope_head_dim
    q = mod.wq_b(q_resid).view(B, t, H, D)
    k = mod.k_norm(mod.wk(hidden)).unsqueeze(2)  # (B, t, 1, D)
    q_rot, k_rot = dsv32.apply_rotary_pos_emb(q[..., :R], k[..., :R], cos, sin, unsqueeze_dim=2)
    q, k = torch.cat([q_rot, q[..., R:]], -1), torch.cat([k_rot, k[..., R:]], -1).squeeze(2)
    per_head = torch.relu(torch.einsum("bshd,btd->bsht", q.float(), k.float())) * D**-0.5  # (B, t, H, S)
    w = mod.weights_proj(hidden).float() * H**-0.5  # (B, t, H)
    scores = (w.unsqueeze(-1) * per_head).sum(2)  # (B, t, S)
    visible = mask if mask.dtype == torch.bool else mask == 0
    return scores, visible


def _qsa_expected(mod, args, kwargs) -> list[list[set[int]]]:
    """QSA: per (row, query) the column set = tokens of the top ``budget // ratio`` complete blocks of visible
    keys (block key = RMS-normed mean of raw indexer keys, RoPE at the block start) plus the incomplete tail;
    ties between blocks are resolved by accepting any top-scoring set (checked by the caller)."""
    hidden, (cos, sin), mask = args[0], args[1], args[2]
    B, t, _ = hidden.shape
    D, r, top = mod.index_head_dim, mod.compress_ratio, mod.block_topk
    qk = mod.index_qk_proj(hidden)
    q = mod.q_layernorm(qk[..., : mod.index_n_heads * D].reshape(B, t, -1, D))
    q = qwen4.apply_rotary_pos_emb(q, cos=cos[:, -t:], sin=sin[:, -t:], unsqueeze_dim=2)
    keys = qk[..., mod.index_n_heads * D :].reshape(B, t, D)
    visible = mask[:, 0] if mask.dtype == torch.bool else mask[:, 0] == 0  # (B, t, S)
    out = []
    for b in range(B):
        rows = []
        for i in range(t):
            cols = visible[b, i].nonzero().flatten()
            n = len(cols) // r
            chosen = set(cols[n * r :].tolist())  # the tail
            if n:
                blocks = cols[: n * r].view(n, r)
                pooled = mod.k_layernorm(keys[b, blocks.flatten()].view(n, r, D).float().mean(1))
                kb = qwen4.apply_rotary_pos_emb(
                    pooled.unsqueeze(1), cos=cos[b, blocks[:, 0]], sin=sin[b, blocks[:, 0]]
                ).squeeze(1)  # (n, D)
                score = torch.relu(q[b, i].float() @ kb.float().T).sum(0) / math.sqrt(D)  # (n,)
                best = score.topk(min(top, n)).indices
                chosen |= set(blocks[best].flatten().tolist())
                rows.append((chosen, blocks, score))
                continue
            rows.append((chosen, None, None))
        out.append(rows)
    return out


def test_capture_equals_the_indexer_top_k_recomputed(model):
    ids, mask = _batch()
    calls, remove = _indexer_calls(model)
    try:
        with torch.no_grad(), ql.capture_selection(model) as sel:
            model(input_ids=ids, attention_mask=mask, use_cache=False)
    finally:
        remove()
    assert isinstance(sel, SelectionTrace) and sel.num_tokens == 11 + 8  # padding dropped
    assert sel.layer_indices == sorted({int(name.split(".")[2]) for name, *_ in calls})
    pos_of_col = torch.where(mask.bool(), mask.cumsum(1) - 1, -1)  # (B, S)
    for name, mod, args, kwargs in calls:
        layer = int(name.split(".")[2])
        for b in range(2):
            m = sel.matrix(layer, seq=b)  # (n, n)
            cols = mask[b].nonzero().flatten()
            if isinstance(mod, dsv32.DeepseekV32Indexer):
                scores, visible = _dsa_scores(mod, args, kwargs)
                for i, col in enumerate(cols.tolist()):
                    vis = visible[b, col].nonzero().flatten()
                    got = {int(pos_of_col[b, c]) for c in vis if m[i, int(pos_of_col[b, c])]}
                    assert len(got) == min(mod.index_topk, len(vis))  # exactly the indexer's budget
                    inside = torch.tensor([m[i, int(pos_of_col[b, c])] for c in vis])
                    s = scores[b, col, vis]
                    if (~inside).any():  # a top-k: nothing left out scores above anything kept
                        assert s[inside].min() >= s[~inside].max()
                    assert m[i].sum() == len(got)  # and nothing outside the visible keys
            else:
                expected = _qsa_expected(mod, args, kwargs)
                for i, col in enumerate(cols.tolist()):
                    want, blocks, score = expected[b][col]
                    got = {int(p) for p in m[i].nonzero().flatten()}
                    want_pos = {int(pos_of_col[b, c]) for c in want}
                    if got != want_pos:  # allowed only as a tie between equally scored blocks
                        assert blocks is not None
                        kept = torch.tensor([int(pos_of_col[b, blk[0]]) in got for blk in blocks])
                        assert score[kept].min() >= score[~kept].max()
                    assert len(got) == len(want_pos)


def test_generation_with_a_cache_records_every_step(model):
    ids, mask = _batch()
    with torch.no_grad(), ql.capture_selection(model) as sel:
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == 15
    assert sel.num_tokens == 19 + 2 * 3  # prompt queries + 3 fed-back tokens per row (the last has none)
    layer = sel.layer_indices[0]
    for b, length in ((0, 14), (1, 11)):
        m = sel.matrix(layer, seq=b)
        assert m.shape == (length, length)
        assert not m.triu(1).any()  # causal
        assert m.any(-1).all()  # every query attended somewhere
        assert m.sum(-1).max() <= 5  # the budget (DSA top-4; QSA 2 blocks of 2 + a tail of at most 1)
    rows = sel.rows(1)
    assert sel.position[rows].tolist() == list(range(11))


def test_hooks_come_off_and_refusals_are_clear(model):
    def count() -> int:
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())

    before = count()
    with pytest.raises(RuntimeError, match="boom"), ql.capture_selection(model):
        raise RuntimeError("boom")
    assert count() == before
    layer = ql.capture_selection(model).layers[-1].index
    assert [m.index for m in ql.capture_selection(model, layers=np.int64(layer)).layers] == [layer]
    with pytest.raises(ValueError, match="indexed-attention layers of this model are"):
        ql.capture_selection(model, layers=[layer + 10])
    with pytest.raises(TypeError):
        ql.capture_selection(model, layers=[1.0])
    ids, mask = _batch()
    with pytest.raises(RuntimeError, match="max_entries"), torch.no_grad():
        with ql.capture_selection(model, max_entries=10):
            model(input_ids=ids, attention_mask=mask)
    assert count() == before


def test_models_without_an_indexer_are_refused():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from moe_models import make_model

    with pytest.raises(ValueError, match="no sparse-attention indexer.*use capture"):
        ql.capture_selection(make_model("qwen3_moe"))


def test_selection_trace_refuses_bad_fields():
    z = torch.zeros(2, dtype=torch.int64)
    with pytest.raises(ValueError, match="after its query"):
        SelectionTrace(torch.tensor([[[0, 1], [1, -1]]]), z, z, torch.tensor([0, 1]), [3])
    with pytest.raises(ValueError, match="distinct"):
        SelectionTrace(torch.full((2, 2, 1), -1), z, z, z, [3, 3])
    with pytest.raises(TypeError, match="integers"):
        SelectionTrace(torch.zeros(1, 2, 1), z, z, z, [0])


def test_both_routings_of_one_run_draw_side_by_side(model):
    """The "Done when": the selection heatmap beside the expert heatmap, from one real run of each family."""
    ids, mask = _batch()
    with torch.no_grad(), ql.capture(model) as trace, ql.capture_selection(model) as sel:
        model(input_ids=ids, attention_mask=mask)
    layer = sel.layer_indices[-1]
    fig = ql.figures.selection_beside_experts(sel, trace, layer=layer, seq=1)
    kept = np.asarray(fig.data[0].z, dtype=float)
    assert kept.shape == (8, 8) and np.nansum(kept) == int(sel.matrix(layer, seq=1).sum())
    assert np.asarray(fig.data[1].z, dtype=float).shape == (8, trace.num_experts)


def test_glm5_dsa_is_captured_too():
    """GLM-5's DSA indexer (same top-k contract as DeepSeek-V3.2, interleaved RoPE) through a cached generate."""
    torch.manual_seed(0)
    model = transformers.GlmMoeDsaForCausalLM(transformers.GlmMoeDsaConfig(**DSA)).eval()
    ids, mask = _batch()
    with torch.no_grad(), ql.capture_selection(model) as sel:
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=3, do_sample=False)
    assert sel.layer_indices == [0, 1] and sel.num_tokens == 19 + 2 * 2
    counts = sel.matrix(1, seq=1).sum(-1)
    assert counts.tolist() == [min(i + 1, 4) for i in range(10)]  # top-4 of the visible tokens, never more

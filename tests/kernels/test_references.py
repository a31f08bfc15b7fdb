"""The pure-torch references and the kernels' public face: shapes, invariants, clear errors, backend choice."""

import pytest
import torch

from qnext_lab.kernels import (
    ExpertWeights,
    align_block_size,
    align_reference,
    moe_experts,
    moe_forward,
    resolve_backend,
    route,
    route_reference,
)
from qnext_lab.kernels.align import use_decode_path


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _dense_moe(x, logits, w1, w2, k):
    """Every expert on every token, masked by the routing: the slowest, most obviously right answer."""
    probs = logits.float().softmax(-1)
    top_w, top_i = torch.topk(probs, k)
    top_w = top_w / top_w.sum(-1, keepdim=True)
    out = torch.zeros_like(x)
    for e in range(w1.shape[0]):
        gate, up = (x @ w1[e].T).chunk(2, -1)
        y = (torch.nn.functional.silu(gate) * up) @ w2[e].T  # (T, H)
        weight = (top_w * (top_i == e)).sum(-1, keepdim=True)  # (T, 1)
        out += weight * y
    return out


def test_route_reference_matches_topk_and_renormalises():
    logits = torch.randn(129, 64)
    w, ids = route_reference(logits, 8)
    assert ids.dtype == torch.int32 and w.dtype == torch.float32 and w.shape == (129, 8)
    assert torch.equal(ids.long(), torch.topk(logits.softmax(-1), 8).indices)
    torch.testing.assert_close(w.sum(-1), torch.ones(129))
    w_raw, _ = route_reference(logits, 8, renormalize=False)
    torch.testing.assert_close(w_raw, torch.topk(logits.softmax(-1), 8).values)


def test_route_reference_ties_pick_lower_index():
    _, ids = route_reference(torch.tensor([[1.0, 2.0, 2.0, 2.0, 0.0, 2.0]]), 3)
    assert ids.tolist() == [[1, 2, 3]]


@pytest.mark.parametrize("t,e,k,block", [(1, 8, 1, 16), (7, 64, 8, 16), (129, 512, 10, 64), (129, 8, 2, 16)])
def test_align_reference_invariants(t, e, k, block):
    ids = torch.stack([torch.randperm(e)[:k] for _ in range(t)]).to(torch.int32)
    a = align_reference(ids, e, block, decode_path=False)
    used = int(a.num_padded)
    assert used % block == 0 and a.capacity >= used
    rows = a.sorted_ids[:used]
    real = rows[rows < t * k].long()
    assert sorted(real.tolist()) == list(range(t * k))  # every slot exactly once
    assert (a.sorted_ids[used:] == t * k).all()
    blocks = a.expert_ids[: used // block].long()
    assert (blocks[1:] >= blocks[:-1]).all()  # experts in ascending order
    slot_expert = ids.reshape(-1).long()
    for b in range(used // block):  # every real row of a block belongs to that block's expert
        r = rows[b * block : (b + 1) * block]
        r = r[r < t * k].long()
        assert (slot_expert[r] == blocks[b]).all()
        assert torch.equal(r, torch.sort(r).values)  # stable: original slot order kept
    assert (a.expert_ids[used // block :] == -1).all()


def test_align_decode_path_gives_one_block_per_slot():
    ids = torch.tensor([[3, 9, 1]], dtype=torch.int32)
    assert use_decode_path(3, 512) and not use_decode_path(200, 512)
    a = align_block_size(ids, 512, 16)
    assert a.decode_path and int(a.num_padded) == 48
    assert a.expert_ids.tolist() == [3, 9, 1]
    assert a.sorted_ids.view(3, 16)[:, 0].tolist() == [0, 1, 2]
    assert (a.sorted_ids.view(3, 16)[:, 1:] == 3).all()


def test_align_blocks_for_display():
    ids = torch.tensor([[1, 0], [1, 2], [1, 0]], dtype=torch.int32)  # slots 0..5
    blocks = align_reference(ids, 4, 4, decode_path=False).blocks(top_k=2)
    assert blocks == [
        {"block": 0, "expert": 0, "slots": [1, 5], "padding": 2, "tokens": [0, 2]},
        {"block": 1, "expert": 1, "slots": [0, 2, 4], "padding": 1, "tokens": [0, 1, 2]},
        {"block": 2, "expert": 2, "slots": [3], "padding": 3, "tokens": [1]},
    ]


@pytest.mark.parametrize("t,e,k,h,i", [(1, 8, 2, 24, 20), (7, 64, 8, 40, 24), (33, 16, 4, 72, 40)])
def test_moe_forward_torch_backend_matches_dense_moe(t, e, k, h, i):
    x, logits = torch.randn(t, h), torch.randn(t, e)
    w1, w2 = torch.randn(e, 2 * i, h) / h**0.5, torch.randn(e, h, i) / i**0.5
    res = moe_forward(x, logits, ExpertWeights(w1, w2), k, backend="torch")
    assert res.backend == "torch" and res.intermediate.shape == (t * k, i)
    assert 0.0 <= res.padding_fraction < 1.0
    torch.testing.assert_close(res.output, _dense_moe(x, logits, w1, w2, k), atol=1e-5, rtol=1e-5)


def test_transposed_interleaved_layout_gives_same_result():
    e, h, i, t, k = 8, 24, 20, 5, 2
    w1, w2 = torch.randn(e, 2 * i, h) / h**0.5, torch.randn(e, h, i) / i**0.5
    ids = torch.stack([torch.randperm(e)[:k] for _ in range(t)]).to(torch.int32)
    tw, x = torch.rand(t, k), torch.randn(t, h)
    plain = moe_experts(x, ExpertWeights(w1, w2), ids, tw, backend="torch")
    # Interleave gate/up rows (g0, u0, g1, u1, ...) and store transposed, as GPT-OSS does.
    inter = torch.stack(w1.chunk(2, dim=1), dim=2).reshape(e, 2 * i, h)
    other = ExpertWeights(
        inter.transpose(1, 2).contiguous(), w2.transpose(1, 2).contiguous(), transposed=True, interleaved=True
    )
    torch.testing.assert_close(moe_experts(x, other, ids, tw, backend="torch"), plain, atol=1e-5, rtol=1e-5)


def test_bad_inputs_raise_clear_errors():
    w = ExpertWeights(torch.randn(8, 40, 24), torch.randn(8, 24, 20))
    with pytest.raises(ValueError, match="top_k"):
        route(torch.randn(3, 8), 9)
    with pytest.raises(TypeError, match="floating point"):
        route(torch.ones(3, 8, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="2-D"):
        route(torch.randn(8), 2)
    with pytest.raises(ValueError, match=r"\[0, 8\)"):
        align_block_size(torch.tensor([[1, 8]]), 8, 16)
    with pytest.raises(ValueError, match="down has shape"):
        ExpertWeights(torch.randn(8, 40, 24), torch.randn(8, 24, 21))
    with pytest.raises(TypeError, match="one dtype"):
        ExpertWeights(torch.randn(8, 40, 24), torch.randn(8, 24, 20, dtype=torch.float16))
    with pytest.raises(ValueError, match="odd|even"):
        ExpertWeights(torch.randn(8, 41, 24), torch.randn(8, 24, 20))
    with pytest.raises(ValueError, match="router_logits"):
        moe_forward(torch.randn(3, 24), torch.randn(3, 7), w, 2)
    with pytest.raises(ValueError, match="topk_ids"):
        moe_experts(torch.randn(3, 24), w, torch.zeros(3, 2, dtype=torch.int32), torch.zeros(2, 2))


def test_backend_choice(monkeypatch):
    cpu = torch.zeros(1)
    monkeypatch.delenv("QNEXT_LAB_BACKEND", raising=False)
    assert resolve_backend(cpu) == "torch"  # auto: torch for CPU tensors
    monkeypatch.setenv("QNEXT_LAB_BACKEND", "torch")
    assert resolve_backend(cpu) == "torch"
    monkeypatch.setenv("QNEXT_LAB_BACKEND", "cuda-please")
    with pytest.raises(ValueError, match="auto"):
        resolve_backend(cpu)
    monkeypatch.setenv("QNEXT_LAB_BACKEND", "triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET|not installed"):
        resolve_backend(cpu)

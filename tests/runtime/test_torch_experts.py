"""The torch runtime on its own: its three strategies, gradients, ungated experts, and clear refusals."""

import pytest
import torch
import transformers
from transformers.models.mixtral.modeling_mixtral import MixtralExperts
from transformers.models.nemotron_h.modeling_nemotron_h import NemotronHExperts

import qnext_lab  # noqa: F401
from qnext_lab.runtime import torch_experts
from qnext_lab.runtime.experts import UnsupportedExpertsError, qnext_experts_forward, triton_plan
from qnext_lab.runtime.torch_experts import grouped_mm_usable, torch_experts_forward

STRATEGIES = {  # (max gathered bytes, max slots for the loop): force each of the three strategies
    "gather": (1 << 40, 0),
    "loop": (0, 1 << 30),
    "grouped": (0, 0),  # grouped_mm where its alignment rule holds, else the loop
}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _force(monkeypatch, strategy: str) -> None:
    gather, loop = STRATEGIES[strategy]
    monkeypatch.setattr(torch_experts, "_GATHER_MAX_BYTES", gather)
    monkeypatch.setattr(torch_experts, "_LOOP_MAX_SLOTS", loop)


def _eager(module, x, ids, w):
    return type(module).forward.__wrapped__(module, x, ids, w)  # the class's own (eager) forward


def _routing(t: int, e: int, k: int):
    ids = torch.stack([torch.randperm(e)[:k] for _ in range(t)])
    w = torch.rand(t, k)
    return ids, w / w.sum(-1, keepdim=True)


def _mixtral(hidden: int, inter: int, experts: int = 8) -> MixtralExperts:
    cfg = transformers.MixtralConfig(hidden_size=hidden, intermediate_size=inter, num_local_experts=experts)
    module = MixtralExperts(cfg)
    with torch.no_grad():
        module.gate_up_proj.normal_(0, 0.1)
        module.down_proj.normal_(0, 0.1)
    return module


@pytest.mark.parametrize("strategy", list(STRATEGIES))
@pytest.mark.parametrize("hidden,inter", [(48, 24), (50, 22)])  # aligned (grouped_mm) and odd (per-expert loop)
def test_strategies_match_eager(hidden, inter, strategy, monkeypatch):
    _force(monkeypatch, strategy)
    module = _mixtral(hidden, inter)
    x, (ids, w) = torch.randn(33, hidden), _routing(33, 8, 2)
    with torch.no_grad():
        assert grouped_mm_usable(x, (module.gate_up_proj, module.down_proj)) == (hidden % 4 == 0)
        torch.testing.assert_close(
            torch_experts_forward(module, x, ids, w), _eager(module, x, ids, w), atol=1e-5, rtol=1e-5
        )


@pytest.mark.parametrize("strategy", ["gather", "loop"])  # with gradients on, grouped_mm is never taken
def test_gradients_match_eager(strategy, monkeypatch):
    _force(monkeypatch, strategy)
    module = _mixtral(48, 24)
    x, (ids, w) = torch.randn(17, 48, requires_grad=True), _routing(17, 8, 2)
    w.requires_grad_(True)
    grads = []
    for fn in (_eager, torch_experts_forward):
        module.zero_grad()
        x.grad = w.grad = None
        (fn(module, x, ids, w) ** 2).sum().backward()
        grads.append((x.grad.clone(), w.grad.clone(), module.gate_up_proj.grad.clone(), module.down_proj.grad.clone()))
    for got, ref in zip(grads[1], grads[0]):
        torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-4)


def test_only_active_experts_are_computed(monkeypatch):
    _force(monkeypatch, "loop")
    module = _mixtral(50, 22, experts=64)
    calls = []
    original = module._apply_gate
    module._apply_gate = lambda pre: (calls.append(pre.shape[0]), original(pre))[1]
    ids, w = torch.tensor([[3, 9]]), torch.tensor([[0.5, 0.5]])
    with torch.no_grad():
        torch_experts_forward(module, torch.randn(1, 50), ids, w)
    assert calls == [1, 1]  # two active experts, one row each; not 64


@pytest.mark.parametrize("strategy", ["gather", "loop"])
def test_ungated_experts_match_eager(strategy, monkeypatch):
    _force(monkeypatch, strategy)
    cfg = transformers.NemotronHConfig(
        hidden_size=40, moe_intermediate_size=24, n_routed_experts=8, num_experts_per_tok=2
    )
    module = NemotronHExperts(cfg)
    with torch.no_grad():
        module.up_proj.normal_(0, 0.1)
        module.down_proj.normal_(0, 0.1)
        x, (ids, w) = torch.randn(9, 40), _routing(9, 8, 2)
        torch.testing.assert_close(
            qnext_experts_forward(module, x, ids, w), _eager(module, x, ids, w), atol=1e-5, rtol=1e-5
        )
    with pytest.raises(UnsupportedExpertsError, match="has_gate=False"):
        triton_plan(module)  # the Triton kernels fuse a gate: refused, not silently wrong


def test_refusals_are_clear():
    module = _mixtral(48, 24)
    module._is_expert_parallel = True
    with pytest.raises(UnsupportedExpertsError, match="expert parallelism"):
        qnext_experts_forward(module, torch.randn(2, 48), *_routing(2, 8, 2))
    with pytest.raises(UnsupportedExpertsError, match="not a transformers v5 experts module"):
        qnext_experts_forward(torch.nn.Linear(2, 2), torch.randn(2, 2), *_routing(2, 8, 2))
    module = _mixtral(48, 24)
    module.act_fn = torch.nn.GELU()
    with pytest.raises(UnsupportedExpertsError, match="SiLU only"):
        triton_plan(module)


def test_silu_and_gpt_oss_map_onto_triton_kernels():
    weights, gate, _, _ = triton_plan(_mixtral(48, 24))
    assert gate == "silu" and not weights.transposed and not weights.interleaved
    from transformers.models.gpt_oss.modeling_gpt_oss import GptOssExperts

    gpt = GptOssExperts(transformers.GptOssConfig(hidden_size=48, intermediate_size=24, num_local_experts=8))
    weights, gate, alpha, limit = triton_plan(gpt)
    assert gate == "clamped_swiglu" and weights.transposed and weights.interleaved and weights.down_bias is not None
    assert (alpha, limit) == (gpt.alpha, gpt.limit)


@pytest.mark.parametrize("strategy", list(STRATEGIES))
@pytest.mark.parametrize("hidden,inter", [(48, 24), (50, 22)])
def test_gpt_oss_layout_strategies_match_eager(hidden, inter, strategy, monkeypatch):
    _force(monkeypatch, strategy)
    from transformers.models.gpt_oss.modeling_gpt_oss import GptOssExperts

    module = GptOssExperts(transformers.GptOssConfig(hidden_size=hidden, intermediate_size=inter, num_local_experts=8))
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.2)
        x, (ids, w) = torch.randn(33, hidden) * 3, _routing(33, 8, 2)  # large enough to hit the clamps
        assert grouped_mm_usable(x, (module.gate_up_proj, module.down_proj)) == (hidden % 4 == 0)
        torch.testing.assert_close(
            torch_experts_forward(module, x, ids, w), _eager(module, x, ids, w), atol=1e-5, rtol=1e-5
        )


@pytest.mark.parametrize("strategy", ["loop", "grouped"])
def test_both_combines_match_eager_and_each_other(strategy, monkeypatch):
    """One thread combines with index_add_, two by unsort + rank-order sum: both equal eager's result."""
    _force(monkeypatch, strategy)
    module = _mixtral(48, 24)
    x = torch.randn(40, 48)
    ids, w = _routing(40, 8, 2)
    threads = torch.get_num_threads()
    outs = {}
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            with torch.no_grad():
                outs[n] = torch_experts_forward(module, x, ids, w)
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        ref = _eager(module, x, ids, w)
    for out in outs.values():
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(outs[1], outs[2], atol=1e-6, rtol=1e-6)

"""The "qnext" experts (torch runtime, the CPU path) against transformers' eager experts, family by family.

Full-model logits on small random configs (tests/runtime/families.py): fp32 tight, bf16 loose, and greedy
generation giving the same tokens. The Triton path is checked the same way under the interpreter in
tests/kernels/test_triton_interpreter.py.
"""

import pytest
import torch
import transformers
from families import family_configs

import qnext_lab  # noqa: F401  registers "qnext"
from qnext_lab.runtime import torch_experts

FAMILIES = list(family_configs())


def _model(name: str, dtype: torch.dtype = torch.float32, impl: str = "eager"):
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(family_configs()[name], experts_implementation=impl)
    with torch.no_grad():  # random, non-zero experts and routers so every path carries signal
        for pname, p in model.named_parameters():
            if "experts" in pname or "router" in pname or pname.endswith("mlp.gate.weight"):
                p.normal_(0, 0.1)
    return model.to(dtype).eval()


def _ids(batch: int = 2, length: int = 13) -> torch.Tensor:
    return torch.randint(0, 96, (batch, length), generator=torch.Generator().manual_seed(7))


@pytest.mark.parametrize("name", FAMILIES)
def test_fp32_logits_match_eager(name, monkeypatch):
    model = _model(name)
    with torch.no_grad():
        ref = model(_ids()).logits
        model.set_experts_implementation("qnext")
        got = model(_ids()).logits  # small experts: the gathered-weights strategy
        torch.testing.assert_close(got, ref, atol=2e-5, rtol=1e-5)
        monkeypatch.setattr(torch_experts, "_GATHER_MAX_BYTES", 0)  # the sorted strategies
        got = model(_ids()).logits
    torch.testing.assert_close(got, ref, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["qwen3_next", "qwen3_moe", "gpt_oss"])
def test_bf16_logits_match_eager_loosely(name):
    model = _model(name, torch.bfloat16)
    with torch.no_grad():
        ref = model(_ids()).logits.float()
        model.set_experts_implementation("qnext")
        got = model(_ids()).logits.float()
    assert (got - ref).abs().max() <= 0.05 * ref.abs().max()


@pytest.mark.parametrize("name", ["qwen3_next", "deepseek_v3", "gpt_oss", "olmoe"])
def test_greedy_generate_gives_same_tokens(name):
    model = _model(name)
    prompt = _ids(1, 6)
    with torch.no_grad():
        ref = model.generate(prompt, max_new_tokens=8, do_sample=False, pad_token_id=0)
        model.set_experts_implementation("qnext")
        got = model.generate(prompt, max_new_tokens=8, do_sample=False, pad_token_id=0)
    assert torch.equal(got, ref)


def test_from_pretrained_selects_qnext(tmp_path):
    _model("qwen3_moe").save_pretrained(tmp_path)
    model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, experts_implementation="qnext")
    assert model.config._experts_implementation == "qnext"
    ref = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, experts_implementation="eager")
    with torch.no_grad():
        torch.testing.assert_close(model(_ids()).logits, ref(_ids()).logits, atol=2e-5, rtol=1e-5)

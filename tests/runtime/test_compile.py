"""The "qnext" experts under ``torch.compile(fullgraph=True)`` with a static cache equal eager.

Prefill and a one-token decode, for the gathered (small) and the sorted strategy of the torch runtime, with
other "qnext" models built, run and garbage-collected in the same process between the compiled calls. A
compiled graph that guarded on shared state would recompile (``fail_on_recompile`` turns that into an
error) or, worse, run stale; one that synced on the routing would not compile at all
(``GuardOnDataDependentSymNode``). Dynamo's ``eager`` backend keeps these tests cheap (guards and graph
breaks are Dynamo's); one inductor run checks the generated code as well.
"""

import gc
import importlib
import io
import logging
import re
import types

import pytest
import torch
import transformers
from families import VOCAB, family_configs
from transformers import StaticCache

import qnext_lab  # noqa: F401  registers "qnext"
from qnext_lab.runtime import torch_experts

PROMPT = torch.randint(0, VOCAB, (2, 9), generator=torch.Generator().manual_seed(0))


def _model(family: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    config = family_configs()[family]
    return transformers.AutoModelForCausalLM.from_config(config, experts_implementation="qnext").eval()


def _prefill_and_decode(model, forward) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of a prefill over PROMPT and of one decode step, on a fresh static cache."""
    cache = StaticCache(config=model.config, max_cache_len=16)
    length = PROMPT.shape[1]
    with torch.no_grad():
        prefill = forward(input_ids=PROMPT, past_key_values=cache, cache_position=torch.arange(length)).logits
        step = prefill[:, -1:].argmax(-1)  # (B, 1)
        decode = forward(input_ids=step, past_key_values=cache, cache_position=torch.tensor([length])).logits
    return prefill, decode


def _assert_equal_to_eager(got, expected):
    for name, a, b in zip(("prefill", "decode"), got, expected):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5), f"{name}: compiled differs by {(a - b).abs().max():.3g}"


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize(
    "family, strategy",
    [
        ("qwen3_moe", "gathered"),
        ("qwen2_moe", "sorted"),
        pytest.param("mixtral", "sorted", marks=pytest.mark.slow),  # the same strategy as qwen2_moe
    ],
)
def test_fullgraph_compile_equals_eager_while_other_models_come_and_go(family, strategy, monkeypatch):
    if strategy == "sorted":  # the strategy of prefills and large models: sort, group, combine
        monkeypatch.setattr(torch_experts, "_GATHER_MAX_BYTES", 0)
    model = _model(family, seed=0)
    expected = _prefill_and_decode(model, model.forward)
    compiled = torch.compile(model.forward, fullgraph=True, backend="eager")
    _assert_equal_to_eager(_prefill_and_decode(model, compiled), expected)

    for seed in (1, 2):  # other "qnext" models run eagerly and die
        other = _model(family, seed)
        _prefill_and_decode(other, other.forward)
        del other
        gc.collect()
    with torch.compiler.set_stance("fail_on_recompile"):  # no guard on anything they changed
        _assert_equal_to_eager(_prefill_and_decode(model, compiled), expected)

    fresh = _model(family, seed=3)  # a new model compiled after the others went
    fresh_expected = _prefill_and_decode(fresh, fresh.forward)
    _assert_equal_to_eager(
        _prefill_and_decode(fresh, torch.compile(fresh.forward, fullgraph=True, backend="eager")), fresh_expected
    )


IMMUTABLE = (types.FunctionType, types.ModuleType, type, tuple, frozenset, str, int, float, bool, type(None))


def test_compiled_graphs_guard_on_no_mutable_global_state_of_the_kit():
    """Dynamo guards on every module global a traced function reads; a mutable one (a set of checked modules,
    a dict of verdicts) makes graphs recompile, fail to build a guard, or run with another model's weights
    (a guard read ``list(_CHECKED.data)[0]()``, a set's iteration order). Only functions, modules and immutable
    constants of qnext_lab may appear in the guards."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    logger = logging.getLogger("torch._dynamo.guards.__guards")
    torch._logging.set_logs(guards=True)
    logger.addHandler(handler)
    try:
        for seed in (0, 1):
            model = _model("qwen3_moe", seed)
            _prefill_and_decode(model, torch.compile(model.forward, fullgraph=True, backend="eager"))
    finally:
        logger.removeHandler(handler)
        torch._logging.set_logs()
    read = set(re.findall(r"G\['__import_(qnext_lab[a-z_]*)'\]\.([A-Za-z_][A-Za-z_0-9]*)", buffer.getvalue()))
    assert read, "no guard on the kit at all: the guard log was not captured"
    mutable = []
    for module_name, name in sorted(read):
        value = getattr(importlib.import_module(module_name.replace("_dot_", ".")), name)
        if not isinstance(value, IMMUTABLE):
            mutable.append(f"{module_name.replace('_dot_', '.')}.{name}: {type(value).__name__}")
    assert not mutable, f"compiled graphs guard on mutable module globals: {mutable}"


@pytest.mark.slow
def test_inductor_compile_equals_eager_on_the_sorted_strategy(monkeypatch):
    monkeypatch.setattr(torch_experts, "_GATHER_MAX_BYTES", 0)
    model = _model("qwen3_moe", seed=0)
    expected = _prefill_and_decode(model, model.forward)
    other = _model("qwen3_moe", seed=1)
    _prefill_and_decode(other, other.forward)
    del other
    gc.collect()
    _assert_equal_to_eager(_prefill_and_decode(model, torch.compile(model.forward, fullgraph=True)), expected)

"""The family registry, the config readers and the impossible-config checks (issue 22's "Configs")."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import transformers
from random_moe import random_moe

import qnext_lab as ql
from qnext_lab.analysis.cost import cost_table, model_cost
from qnext_lab.families import check_config, context_length, num_experts, stack_layout, top_k
from qnext_lab.families.registry import FAMILIES, family_for, moe_model_types, readme_with_families
from qnext_lab.trace.routing_trace import RoutingTrace

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_family_table_is_generated_from_the_registry():
    text = README.read_text()
    assert readme_with_families(text) == text, "run `python -m qnext_lab.families README.md` and commit"


def test_every_registered_family_is_a_transformers_model_type():
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    types = set(moe_model_types())
    assert {"qwen3_next", "deepseek_v4", "llama4_text", "jetmoe", "longcat_flash"} <= types
    for model_type in FAMILIES:
        assert model_type in CONFIG_MAPPING_NAMES, model_type
    assert family_for("not_a_family").rule.probs_kind is None
    with pytest.raises(TypeError, match="model_type"):
        family_for(3)


def test_config_fields_read_each_spelling():
    assert top_k(transformers.Qwen3NextConfig()) == 10 and num_experts(transformers.Qwen3NextConfig()) == 512
    kimi = transformers.AutoConfig.for_model("kimi_linear")
    assert (top_k(kimi), num_experts(kimi)) == (8, 256)  # num_experts_per_token
    longcat = transformers.AutoConfig.for_model("longcat_flash")
    assert (top_k(longcat), num_experts(longcat)) == (12, 512)  # moe_topk, n_routed_experts
    assert context_length(transformers.Qwen3NextConfig(max_position_embeddings=4096)) == 4096
    assert context_length("not a config") is None


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(num_experts_per_tok=600), "600 experts per token with 512"),
        (dict(num_experts_per_tok=0), "0 experts per token"),
        (dict(hidden_size=0), "hidden_size=0"),
        (dict(num_hidden_layers=-4, layer_types=None), "-4 decoder layers"),
        (dict(num_hidden_layers=10**5, layer_types=None), "100000 decoder layers"),
        (dict(num_attention_heads=16, num_key_value_heads=3), "not a multiple"),
    ],
)
def test_impossible_configs_are_refused_at_once(fields, message):
    config = transformers.Qwen3NextConfig()
    for name, value in fields.items():  # set after construction: the config class's own checks do not run
        setattr(config, name, value)
    for call in (check_config, model_cost, cost_table, ql.active_parameters):
        with pytest.raises(ValueError, match=message):
            call(config)


def test_configs_that_name_nothing_are_refused():
    with pytest.raises(ValueError, match="names no architecture"):
        model_cost(transformers.PretrainedConfig())
    with pytest.raises(TypeError, match="transformers model or config"):
        ql.active_parameters({"hidden_size": 3})
    with pytest.raises(TypeError, match="contexts"):
        cost_table(transformers.Qwen3MoeConfig(), contexts=[2.9])
    with pytest.raises(ValueError, match="contexts"):
        cost_table(transformers.Qwen3MoeConfig(), contexts=[])
    assert len(cost_table(transformers.Qwen3MoeConfig(), contexts=4096, variants=["as configured"])) == 1
    with pytest.raises(ValueError, match="batch"):
        model_cost(transformers.Qwen3MoeConfig(), batch=10**9)


FLAGSHIPS = [
    "qwen3_next",
    "qwen3_5_moe",
    "deepseek_v3",
    "deepseek_v32",
    "deepseek_v4",
    "kimi_linear",
    "minimax_m2",
    "longcat_flash",
    "glm_moe_dsa",
    "llama4",
    "gpt_oss",
    "nemotron_h",
    "jamba",
    "exaone_moe",
    "mimo_v2_flash",
    "qwen4_exp",
]


@pytest.mark.parametrize("model_type", FLAGSHIPS)
def test_flagship_defaults_answer(model_type):
    config = transformers.AutoConfig.for_model(model_type)
    short, long = model_cost(config, context=32768), model_cost(config, context=262144)
    assert 0 < short.params_active < short.params_total
    assert short.decode_bytes > short.decode_bytes_weights > 0
    assert long.kv_cache_memory + long.state_memory >= short.kv_cache_memory + short.state_memory > 0
    kinds = set(stack_layout(config).kinds)
    assert kinds <= {"full", "sliding", "chunked", "indexed", "compressed", "state", "none"}


def test_lfm2_moe_default_config_says_what_to_set():
    # Lfm2MoeConfig's default leaves layer_types None: which layers are convolutions is not in the config at all
    with pytest.raises(ValueError, match="layer_types"):
        model_cost(transformers.AutoConfig.for_model("lfm2_moe"))


def test_qwen4_exp_without_qsa_sizes_is_costed_as_full_attention():
    """The default Qwen4ExpConfig sets no QSA sizes, which its config class documents as QSA off: its
    indexed-attention layers are costed as full attention, with no indexer parameters; set the sizes and the same
    layers are costed as QSA, with the indexer's parameters counted on top."""
    default = transformers.AutoConfig.for_model("qwen4_exp")
    text = default.get_text_config()
    indexed = text.layer_types.count("indexed_attention")
    short, long = model_cost(default, context=32768), model_cost(default, context=262144)
    assert (short.full_attention_layers, short.sparse_attention_layers) == (indexed, 0)
    assert short.linear_attention_layers == text.num_hidden_layers - indexed and short.residual_streams == 4
    assert 0 < short.params_active < short.params_total
    assert long.kv_cache_memory == 8 * short.kv_cache_memory  # every past token kept and read

    qsa = dict(indexer_n_heads=4, indexer_kv_heads=1, indexer_head_dim=256, indexer_budget=2048)
    config = transformers.AutoConfig.for_model("qwen4_exp", text_config=dict(**qsa, indexer_compress_ratio=4))
    on = model_cost(config, context=262144)
    assert (on.full_attention_layers, on.sparse_attention_layers) == (0, indexed)
    one_indexer = text.hidden_size * (4 + 1) * 256 + 2 * 256  # index_qk_proj (no bias) + its q and k RMSNorms
    assert on.params_total - long.params_total == indexed * one_indexer
    assert on.decode_flops < long.decode_flops  # 2048 selected keys instead of 262144


def test_layer_kinds_cost_what_they_read():
    v32 = transformers.AutoConfig.for_model("deepseek_v32")
    dsa = model_cost(v32, context=262144)
    v3 = model_cost(transformers.AutoConfig.for_model("deepseek_v3"), context=262144)
    assert dsa.sparse_attention_layers == 61 and v3.full_attention_layers == 61
    assert dsa.decode_flops < v3.decode_flops  # 2048 selected keys instead of 262144 (the indexer scans cheaply)
    llama = model_cost(transformers.AutoConfig.for_model("llama4"), context=262144)
    assert llama.sliding_attention_layers == 36  # chunked layers keep one 8192-token chunk
    v4 = model_cost(transformers.AutoConfig.for_model("deepseek_v4"), context=262144)
    assert v4.residual_streams == 4 and v4.mtp_layers == 1
    assert v4.kv_cache_memory < v3.kv_cache_memory / 4  # compressed keys (4x, 128x) + a 128-token window
    jamba = model_cost(transformers.AutoConfig.for_model("jamba"), context=4096)
    assert jamba.linear_attention_layers == 28 and jamba.state_memory > 0


def test_host_tables_and_zero_experts_are_counted_apart():
    model = random_moe("qwen4_exp_text")
    params = ql.active_parameters(model).set_index("component")
    host = params.loc["embedding tables (host)"]
    assert 0 < host.active < host.total
    cost = model_cost(model.config, context=64)
    assert cost.host_memory == 2 * host.total and cost.decode_bytes_host > 0
    assert cost.weights_memory == 2 * params.loc["total", "total"] - cost.host_memory

    longcat = random_moe("longcat_flash")
    with ql.capture(longcat) as trace:
        longcat(torch.randint(3, 90, (1, 12)))
    assert trace.zero_experts == 2 and trace.num_experts == 10
    per_token = ql.active_parameters(longcat, trace).set_index("component").loc["routed experts", "active"]
    zero_share = (trace.topk_ids >= 8).float().mean().item()
    experts = ql.active_parameters(longcat).set_index("component").loc["routed experts", "total"]
    expected = trace.num_layers * trace.top_k * (1 - zero_share) * experts / trace.num_layers / 8
    assert per_token == pytest.approx(expected, abs=1)


def test_hash_routed_layers_may_repeat_an_expert():
    model = random_moe("deepseek_v4")
    hashed = [i for i, t in enumerate(model.config.mlp_layer_types) if t == "hash_moe"]
    assert hashed
    with torch.no_grad():
        for i in hashed:
            model.model.layers[i].mlp.gate.tid2eid.copy_(
                torch.tensor([3, 3]).expand_as(model.model.layers[i].mlp.gate.tid2eid)
            )
    with ql.capture(model) as trace:
        model(torch.randint(3, 90, (1, 5)))
    assert trace.hash_layers == hashed
    assert (trace.layer(hashed[0]).topk_ids == 3).all()
    learned = [i for i in trace.layer_indices if i not in hashed]
    assert all(len(set(row.tolist())) == 2 for i in learned for row in trace.layer(i).topk_ids[0])
    with pytest.raises(ValueError, match="repeats expert 3"):  # outside hash layers a repeat is still refused
        RoutingTrace(
            topk_ids=trace.topk_ids,
            topk_weights=trace.topk_weights,
            token_ids=trace.token_ids,
            seq_index=trace.seq_index,
            position=trace.position,
            layer_indices=trace.layer_indices,
            num_experts=trace.num_experts,
            top_k=trace.top_k,
        )
    # active parameters per token count distinct experts: the hash layers' doubled expert 3 is one expert's weights
    params = ql.active_parameters(model, trace).set_index("component").loc["routed experts"]
    per_expert = params.total / (trace.num_layers * trace.num_experts)  # every layer has the same experts
    distinct = len(hashed) * 1 + len(learned) * trace.top_k
    assert params.active == pytest.approx(distinct * per_expert, abs=1)
    config_k = ql.active_parameters(model).set_index("component").loc["routed experts", "active"]
    assert config_k == pytest.approx(trace.num_layers * trace.top_k * per_expert, abs=1)  # from the config: k each


def test_hash_layers_and_zero_experts_survive_save_and_views(tmp_path):
    model = random_moe("deepseek_v4")
    with ql.capture(model) as trace:
        model(torch.randint(3, 90, (1, 5)))
    trace.save(tmp_path / "t.safetensors")
    back = RoutingTrace.load(tmp_path / "t.safetensors")
    assert back.hash_layers == trace.hash_layers and torch.equal(back.topk_ids, trace.topk_ids)
    assert trace.layers([trace.layer_indices[-1]]).hash_layers == []
    assert RoutingTrace.concat([trace, trace]).hash_layers == trace.hash_layers

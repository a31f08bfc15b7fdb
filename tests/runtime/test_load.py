"""load(): local directories, the bundled model, and clear errors for missing or dense models."""

import os
from pathlib import Path

import huggingface_hub
import pytest
import torch
import transformers

import qnext_lab
from qnext_lab import load
from qnext_lab.runtime.experts_module import experts_modules
from qnext_lab.runtime.loading import load_pretrained
from qnext_lab.tiny.tokenizer import build_tokenizer

SMALL = dict(vocab_size=112, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1)


def _save(model: torch.nn.Module, path) -> None:
    model.save_pretrained(path)
    build_tokenizer().save_pretrained(path)


@pytest.fixture
def moe_dir(tmp_path):
    cfg = transformers.Qwen3MoeConfig(
        **SMALL, head_dim=16, intermediate_size=40, moe_intermediate_size=12, num_experts=4, num_experts_per_tok=2
    )
    _save(transformers.AutoModelForCausalLM.from_config(cfg), tmp_path)
    return tmp_path


def test_load_local_moe_selects_qnext(moe_dir):
    model, tok = qnext_lab.load(moe_dir, dtype=torch.float32)
    assert model.config._experts_implementation == "qnext" and not model.training
    assert experts_modules(model) == ["model.layers.0.mlp.experts"]
    ids = tok("12+34", return_tensors="pt").input_ids
    with torch.no_grad():
        assert model(ids).logits.shape == (1, ids.shape[1], 112)
    model, _ = load(str(moe_dir), experts_implementation="eager", dtype=torch.bfloat16)
    assert model.config._experts_implementation == "eager" and model.dtype == torch.bfloat16


def test_dense_model_is_refused(tmp_path):
    cfg = transformers.LlamaConfig(**SMALL, intermediate_size=40)
    _save(transformers.AutoModelForCausalLM.from_config(cfg), tmp_path)
    with pytest.raises(ValueError, match="no Mixture-of-Experts layers"):
        load(tmp_path)


def test_missing_local_path_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model directory"):
        load(tmp_path / "nope" / "model")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load(tmp_path)


def test_missing_hub_model_is_clear_offline(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # never wait on the network in tests
    with pytest.raises(OSError, match="could not load model config for 'qnext-lab-test/no-such-model'"):
        load("qnext-lab-test/no-such-model")


def test_pickle_weights_are_refused(moe_dir):
    with pytest.raises(ValueError, match="safetensors"):
        load(moe_dir, use_safetensors=False)
    with pytest.raises(TypeError):
        load(42)


def test_tiny_loads_when_shipped():
    from qnext_lab.tiny.paths import tiny_path

    if not (tiny_path(check=False) / "config.json").is_file():
        with pytest.raises(FileNotFoundError, match="qnext-tiny"):
            load("tiny")
        pytest.skip("the bundled qnext-tiny checkpoint is not trained yet")
    model, tok = load("tiny")
    assert model.config._experts_implementation == "qnext" and experts_modules(model)
    with torch.no_grad():
        out = model.generate(tok("1+1", return_tensors="pt").input_ids, max_new_tokens=3, do_sample=False)
    assert out.shape[1] >= 4


def test_loading_the_bundled_model_is_quiet_but_real_warnings_stay(tmp_path):
    """No "Loading weights" bar and no GPU-only fallback notices on a CPU machine; other warnings still print."""
    import subprocess
    import sys

    from qnext_lab.tiny.paths import tiny_path

    try:
        tiny_path()
    except FileNotFoundError:
        pytest.skip("the bundled qnext-tiny checkpoint is not trained yet")
    script = (
        "import logging, qnext_lab as ql\n"
        "model, tok = ql.load('tiny')\n"
        "ql.generate(model, tok, 'What is 1 + 2?', max_new_tokens=8)\n"
        "logging.getLogger('transformers.integrations.hub_kernels').warning('a real warning stays')\n"
    )
    env = {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")])
        ),
    }
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Loading weights" not in done.stderr
    assert "falling back to its reference PyTorch implementation" not in done.stderr
    assert "a real warning stays" in done.stderr


def test_the_runtime_loader_sends_gguf_files_to_the_public_load(tmp_path):
    with pytest.raises(ValueError, match="is a GGUF file: load it with qnext_lab.load"):
        load_pretrained(tmp_path / "model.gguf")

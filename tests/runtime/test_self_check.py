"""The first-use self-check of the Triton experts path, exercised on the CPU by injecting failing kernels.

The model runs the "qnext" experts as on a GPU (``resolve_backend`` is made to answer "triton"), while the
kernel the check runs is replaced: a wrong or crashing kernel must make the layout fall back to the torch path
with one warning (``auto``) or raise a clear error (explicit ``QNEXT_LAB_BACKEND=triton``). That the real
kernels pass the check is tested under Triton's interpreter (``self_check_worker.py``, with a real tile
configuration that fails, before and after the check) and on a GPU (tests/kernels/test_gpu.py).
"""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import transformers
from families import family_configs

import qnext_lab  # noqa: F401  registers "qnext"
from qnext_lab.kernels import HAS_TRITON, ExpertWeights, moe_experts, tuning
from qnext_lab.runtime import experts as runtime_experts
from qnext_lab.runtime import self_check
from qnext_lab.runtime.self_check import TritonSelfCheckError, check_triton_path, triton_verified


def torch_path(x, weights, ids, tw, gate, alpha, limit, tile_row=None):
    return moe_experts(x, weights, ids, tw, gate=gate, alpha=alpha, limit=limit, backend="torch")


class Kernel:
    """A stand-in for the Triton path: ``fn`` computes the answer; calls are counted."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


def off_by_half(*args):
    return torch_path(*args) * 1.5


def does_not_compile(*args):
    raise RuntimeError("triton.compiler.errors.CompilationError: at 12:4: unsupported tl.dot dtype")


@pytest.fixture(autouse=True)
def fresh_verdicts(monkeypatch):
    monkeypatch.delenv("QNEXT_LAB_BACKEND", raising=False)
    self_check.clear_verdicts()
    yield
    self_check.clear_verdicts()


@pytest.fixture
def model():
    torch.manual_seed(0)
    m = transformers.AutoModelForCausalLM.from_config(family_configs()["qwen3_moe"], experts_implementation="qnext")
    return m.eval()


@pytest.fixture
def as_on_gpu(monkeypatch):
    """Route the "qnext" experts to their Triton branch, as CUDA tensors would be."""
    monkeypatch.setattr(runtime_experts, "resolve_backend", lambda *args, **kwargs: "triton")


def _logits(model, ids):
    with torch.no_grad():
        return model(ids).logits


@pytest.mark.parametrize("broken", [off_by_half, does_not_compile], ids=["mismatch", "compile-error"])
def test_a_failing_kernel_falls_back_to_torch_with_one_warning(model, as_on_gpu, monkeypatch, broken):
    ids = torch.randint(0, 96, (2, 7), generator=torch.Generator().manual_seed(1))
    monkeypatch.setattr(runtime_experts, "resolve_backend", lambda *args, **kwargs: "torch")
    expected = _logits(model, ids)  # the torch path itself
    monkeypatch.setattr(runtime_experts, "resolve_backend", lambda *args, **kwargs: "triton")
    kernel = Kernel(broken)
    monkeypatch.setattr(self_check, "triton_experts", kernel)
    with pytest.warns(RuntimeWarning, match="failed their first-use self-check.*torch path instead") as caught:
        got = _logits(model, ids)
    assert len([w for w in caught if "self-check" in str(w.message)]) == 1  # two layers, one layout: one warning
    assert torch.equal(got, expected)  # the torch path's answer, not the broken kernel's
    assert kernel.calls == 1  # checked once for the layout both layers share
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second forward: no new warning, no new check
        assert torch.equal(_logits(model, ids), expected)
    assert kernel.calls == 1
    (reason,) = self_check.verdicts().values()
    assert ("relative error" in reason) if broken is off_by_half else ("CompilationError" in reason)


def test_explicit_triton_backend_raises_a_clear_error(model, as_on_gpu, monkeypatch):
    monkeypatch.setenv("QNEXT_LAB_BACKEND", "triton")
    monkeypatch.setattr(self_check, "triton_experts", Kernel(off_by_half))
    ids = torch.zeros(1, 3, dtype=torch.long)
    with pytest.raises(
        TritonSelfCheckError,
        match=r"QNEXT_LAB_BACKEND=triton, but the Triton experts failed their first-use self-check"
        r".*relative error.*Use QNEXT_LAB_BACKEND=torch",
    ):
        _logits(model, ids)
    with pytest.raises(TritonSelfCheckError):  # every call, not only the first
        _logits(model, ids)


def _weights(e=12, h=24, i=10, **layout):
    g = torch.Generator().manual_seed(3)
    return ExpertWeights(
        torch.randn(e, 2 * i, h, generator=g) / h**0.5, torch.randn(e, h, i, generator=g) / i**0.5, **layout
    )


def test_the_check_passes_a_correct_kernel_and_catches_subtle_faults(monkeypatch):
    w = _weights()
    monkeypatch.setattr(self_check, "triton_experts", torch_path)
    assert check_triton_path(w, "silu", 1.702, 7.0, top_k=2) is None
    assert triton_verified(w, "silu", 1.702, 7.0, top_k=2, explicit=True)

    def wrong_for_last_expert(x, weights, ids, tw, *rest):  # e.g. an offset bug at the end of the weight stack
        return torch_path(x, weights, ids, tw * (ids != weights.num_experts - 1), *rest)

    def wrong_on_decode(x, *rest):  # e.g. a bug in the one-block-per-slot decode path
        out = torch_path(x, *rest)
        return out.flip(-1) if x.shape[0] == 1 else out

    def nan_output(*args):
        return torch.full_like(torch_path(*args), float("nan"))

    for fault, words in (
        (wrong_for_last_expert, "relative error"),
        (wrong_on_decode, "on 1 token"),
        (nan_output, "NaN/inf"),
    ):
        monkeypatch.setattr(self_check, "triton_experts", fault)
        reason = check_triton_path(w, "silu", 1.702, 7.0, top_k=2)
        assert reason is not None and words in reason, (fault.__name__, reason)


def test_each_layout_is_checked_once_and_separately(monkeypatch):
    kernel = Kernel(torch_path)
    monkeypatch.setattr(self_check, "triton_experts", kernel)
    w, wt = _weights(), _weights(interleaved=True)
    for _ in range(3):
        assert triton_verified(w, "silu", 1.702, 7.0, top_k=2, explicit=False)
    calls_one_layout = kernel.calls
    assert calls_one_layout == len(self_check.check_runs(w))
    assert triton_verified(wt, "silu", 1.702, 7.0, top_k=2, explicit=False)  # another layout: its own check
    assert triton_verified(w, "clamped_swiglu", 1.702, 7.0, top_k=2, explicit=False)  # another gate: too
    assert kernel.calls == 3 * calls_one_layout and len(self_check.verdicts()) == 3
    state = torch.random.get_rng_state()
    self_check.clear_verdicts()
    triton_verified(w, "silu", 1.702, 7.0, top_k=2, explicit=False)
    assert torch.equal(torch.random.get_rng_state(), state)  # the check leaves the global RNG alone


def test_every_tile_configuration_of_the_table_is_checked(monkeypatch):
    """A long prefill picks the last tuning row; a fault only there (e.g. too much shared memory for the
    largest fp32 tiles) must fail the check before any model call uses it."""
    w = _weights()
    rows = []

    def fails_at_the_last_row(x, weights, ids, tw, gate, alpha, limit, tile_row):
        rows.append(tile_row)
        if tile_row == tuning.table_rows() - 1:
            raise RuntimeError("out of resource: shared memory, Required: 327680, Hardware limit: 232448")
        return torch_path(x, weights, ids, tw, gate, alpha, limit)

    monkeypatch.setattr(self_check, "triton_experts", fails_at_the_last_row)
    reason = check_triton_path(w, "silu", 1.702, 7.0, top_k=2)
    assert reason is not None and f"tuning row {tuning.table_rows() - 1}" in reason and "shared memory" in reason
    assert rows == [None, *range(tuning.table_rows())]  # decode tiles as picked, then every row


def test_a_launch_that_fails_after_the_check_falls_back_with_one_warning(model, as_on_gpu, monkeypatch):
    """The check passes (a correct stand-in), then the real launch fails (CPU tensors without the interpreter):
    that layout runs on the torch path from then on, after one warning."""
    ids = torch.randint(0, 96, (1, 5), generator=torch.Generator().manual_seed(2))
    monkeypatch.setattr(runtime_experts, "resolve_backend", lambda *args, **kwargs: "torch")
    expected = _logits(model, ids)
    monkeypatch.setattr(runtime_experts, "resolve_backend", lambda *args, **kwargs: "triton")
    monkeypatch.setattr(self_check, "triton_experts", torch_path)
    with pytest.warns(RuntimeWarning, match="passed their first-use self-check but then failed") as caught:
        got = _logits(model, ids)
    assert len([w for w in caught if "self-check" in str(w.message)]) == 1
    assert torch.equal(got, expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(_logits(model, ids), expected)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed")
def test_real_kernels_under_the_interpreter_check_every_row_and_fall_back_at_any_time():
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "TRITON_INTERPRET": "1",
        "QNEXT_LAB_BACKEND": "auto",
        "PYTHONPATH": os.pathsep.join(
            [str(root), str(root / "tests"), str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
        ),
    }
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("self_check_worker.py"))],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULTS ")]
    assert proc.returncode == 0 and lines, f"worker failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    results = json.loads(lines[-1][len("RESULTS ") :])

    good = results["good"]
    assert good["verdicts"] == [None] and good["warnings"] == [] and good["error"] < 1e-4

    seen = results["bad_row_seen_by_the_check"]  # the bad row is only picked by the long prompt
    assert len(seen["verdicts"]) == 1 and "tuning row 1" in seen["verdicts"][0]
    assert len(seen["warnings"]) == 1 and "first-use self-check" in seen["warnings"][0]
    assert seen["error"] == 0.0  # every call on the torch path

    later = results["bad_tiles_after_the_check"]
    assert len(later["warnings"]) == 1 and "passed their first-use self-check but then failed" in later["warnings"][0]
    assert "power of 2" in later["verdicts"][0]
    assert later["error"] < 1e-4

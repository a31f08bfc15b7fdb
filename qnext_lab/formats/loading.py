"""``load()``, the public entry point: a checkpoint in any supported weight format, with "qnext" selected.

Safetensors checkpoints ("tiny", a local Hugging Face directory or a hub id) go to
``runtime.loading.load_pretrained``; GGUF files (a path ending in ``.gguf`` (any case), or a directory with ``gguf_file=``
naming the file in it) to ``formats.gguf_load.load_gguf`` (qwen3next, qwen3moe, qwen2moe; dequantised to
float). It lives in ``formats`` because it needs both, and ``formats`` sits above ``runtime``. Knows nothing
about routing capture, thinking or widgets.

    model, tok = qnext_lab.load("tiny")
    model, tok = qnext_lab.load("qnext-tiny-Q4_0.gguf")
"""

from __future__ import annotations

import os
from typing import Any

import transformers

from ..runtime.loading import load_pretrained, names_gguf
from .gguf_load import load_gguf

__all__ = ["load"]


def load(
    name_or_path: str | os.PathLike,
    *,
    gguf_file: str | os.PathLike | None = None,
    **options: Any,
) -> tuple[transformers.PreTrainedModel, transformers.PreTrainedTokenizerBase]:
    """Load ``(model, tokenizer)`` with ``experts_implementation`` (default "qnext") selected, in eval mode.

    ``name_or_path``: "tiny", a local model directory or a hub id, read by ``runtime.load_pretrained``
    (safetensors weights only), whose keywords ``options`` are: ``dtype``, ``device_map``,
    ``experts_implementation``, ``trust_remote_code``, and any other keyword of ``from_pretrained``. Or a GGUF
    file: a path ending in ``.gguf`` (any case), or a directory with ``gguf_file=`` naming the file in it
    (qwen3next, qwen3moe, qwen2moe; dequantised to float), read by ``formats.gguf_load.load_gguf``, whose keywords
    are ``dtype``, ``experts_implementation`` and ``gguf_limits`` (no ``device_map``, no remote code).
    """
    if gguf_file is not None or names_gguf(name_or_path):
        if options.pop("trust_remote_code", False):
            raise ValueError("GGUF files are loaded without remote code; drop trust_remote_code=True")
        if options.pop("device_map", None) is not None:
            raise ValueError(
                "GGUF files are dequantised on the CPU; load without device_map, then call model.to(device)"
            )
        return load_gguf(name_or_path, gguf_file, **options)
    return load_pretrained(name_or_path, **options)

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

import torch
import transformers

from ..runtime.experts import IMPLEMENTATION_NAME
from ..runtime.loading import load_pretrained
from .gguf_load import load_gguf

__all__ = ["load"]


def load(
    name_or_path: str | os.PathLike,
    *,
    gguf_file: str | os.PathLike | None = None,
    dtype: torch.dtype | str | None = None,
    device_map: str | dict[str, Any] | None = None,
    experts_implementation: str = IMPLEMENTATION_NAME,
    trust_remote_code: bool = False,
    **kwargs: Any,
) -> tuple[transformers.PreTrainedModel, transformers.PreTrainedTokenizerBase]:
    """Load ``(model, tokenizer)`` with ``experts_implementation`` (default "qnext") selected, in eval mode.

    ``name_or_path``: "tiny", a local model directory or a hub id. ``dtype``/``device_map`` and any other
    keyword go to ``from_pretrained``. Only safetensors weights are read, or a GGUF file: a path ending in
    ``.gguf`` (any case), or a directory with ``gguf_file=`` naming the file in it (qwen3next, qwen3moe, qwen2moe;
    dequantised to float, see ``qnext_lab.formats.gguf_load``).
    """
    is_gguf = isinstance(name_or_path, (str, os.PathLike)) and os.fspath(name_or_path).lower().endswith(".gguf")
    if gguf_file is not None or is_gguf:
        if trust_remote_code:
            raise ValueError("GGUF files are loaded without remote code; drop trust_remote_code=True")
        if device_map is not None:
            raise ValueError(
                "GGUF files are dequantised on the CPU; load without device_map, then call model.to(device)"
            )
        return load_gguf(name_or_path, gguf_file, dtype=dtype, experts_implementation=experts_implementation, **kwargs)
    return load_pretrained(
        name_or_path,
        dtype=dtype,
        device_map=device_map,
        experts_implementation=experts_implementation,
        trust_remote_code=trust_remote_code,
        **kwargs,
    )

"""``load_pretrained()``: a Mixture-of-Experts checkpoint and its tokenizer, with the "qnext" experts selected.

A thin wrapper over ``AutoModelForCausalLM.from_pretrained`` that accepts ``"tiny"`` (the bundled model),
a local directory or a Hugging Face hub id; loads safetensors only (GGUF files go through ``qnext_lab.load``,
whose home is ``formats.loading``, one layer up); and turns the usual failures into errors that say what to do: a missing model (no hub traceback) or a model without experts (dense models
have nothing for "qnext" to run). Loading is quiet where the noise says nothing the user can act on: the
bundled model (66 tensors, a fraction of a second) loads without transformers' "Loading weights" bar, and on
a machine without CUDA the four "falling back to its reference PyTorch implementation" notices for Gated
DeltaNet (whose fused kernels, causal-conv1d and flash-linear-attention, need a GPU) are dropped; every
other warning stays visible. Knows nothing about routing capture, thinking or widgets.

    model, tok = load_pretrained("tiny")
    model, tok = load_pretrained("Qwen/Qwen3-Next-80B-A3B-Thinking", dtype=torch.bfloat16, device_map="auto")
    model, tok = load("qnext-tiny-Q4_0.gguf")   # or load(directory, gguf_file="model.gguf")
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import transformers

from .bundled import tiny_path
from .experts import IMPLEMENTATION_NAME
from .experts_module import experts_modules
from .template_guard import check_chat_template

__all__ = ["load_pretrained", "names_gguf"]


def names_gguf(name_or_path: object) -> bool:
    """Whether ``name_or_path`` is a path to a GGUF file (ends in ``.gguf``, any case)."""
    return isinstance(name_or_path, (str, os.PathLike)) and os.fspath(name_or_path).lower().endswith(".gguf")


def _reason(exc: OSError) -> str:
    """The first line of a loading error (transformers' run on for a page), or its type when it says nothing."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _source(name_or_path: str | os.PathLike) -> tuple[str, bool]:
    """(what to pass to from_pretrained, whether it is local)."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"load() takes a model name or path, got {type(name_or_path).__name__}")
    name = os.fspath(name_or_path)
    if name == "tiny":
        return str(tiny_path()), True  # FileNotFoundError with training instructions if not shipped yet
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is a directory but has no config.json: not a Hugging Face model directory")
        return str(path), True
    looks_like_path = name.startswith(("/", ".", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name
    if looks_like_path or path.exists():
        raise FileNotFoundError(f"no model directory at {name!r}; pass an existing directory, a hub id or 'tiny'")
    return name, False


# The notice transformers logs (once per function) when Gated DeltaNet runs its torch reference; the fused
# kernels it names (causal-conv1d, flash-linear-attention) are CUDA/Triton-only, so on a machine without CUDA
# the advice cannot be followed. Its wording changes between releases (5.24: "... because `X` is not
# installed."; 5.25: "... because `X` is either not installed or doesn't support the device of the inputs.
# ..."), so only what stays is matched: the phrase "reference PyTorch implementation" and the name of a
# GPU-only package. tests/runtime/test_quiet_load.py checks this against the message the installed
# transformers really emits.
_REFERENCE_FALLBACK = re.compile(r"reference PyTorch implementation", re.IGNORECASE)
_GPU_ONLY_PACKAGE = re.compile(r"causal[-_]conv1d|flash[-_]linear[-_]attention|`fla`", re.IGNORECASE)


def is_gpu_only_fallback(message: str) -> bool:
    """True for transformers' notice that a GPU-only kernel (Gated DeltaNet's) fell back to torch."""
    return bool(_REFERENCE_FALLBACK.search(message) and _GPU_ONLY_PACKAGE.search(message))


class _GpuOnlyFallbackFilter(logging.Filter):
    """Drops exactly the GPU-only fallback notices; lets every other record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not is_gpu_only_fallback(record.getMessage())


def _quiet_gpu_only_fallbacks(model: torch.nn.Module) -> None:
    """On a machine without CUDA, drop the fallback notices of kernels that only exist for GPUs (once).

    The filter sits on the handlers of transformers' library logger, where every ``transformers.*`` record
    ends up whichever module logs it (a filter on one named logger would miss the notice once it moves); where
    a set-up removed those handlers and lets records propagate, on the root logger's handlers instead.
    """
    if torch.cuda.is_available() or any(p.device.type == "cuda" for p in model.parameters()):
        return  # a GPU: the notice is real advice (install the fused kernels), keep it
    library = logging.getLogger("transformers")
    for target in library.handlers or logging.getLogger().handlers:
        if not any(isinstance(f, _GpuOnlyFallbackFilter) for f in target.filters):
            target.addFilter(_GpuOnlyFallbackFilter())


@contextlib.contextmanager
def _no_progress_bar(quiet: bool) -> Iterator[None]:
    """Hide transformers' "Loading weights" bar for the duration of one load (restored afterwards)."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    if quiet and was_on:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if quiet and was_on:
            hf_logging.enable_progress_bar()


def _check_moe(config: transformers.PretrainedConfig, trust_remote_code: bool, name: str) -> None:
    # Build the architecture on the meta device (no memory, no weights) to look for experts modules
    # before reading gigabytes of a dense checkpoint.
    with torch.device("meta"):
        skeleton = transformers.AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    if not experts_modules(skeleton):
        raise ValueError(
            f"{name!r} ({type(skeleton).__name__}) has no Mixture-of-Experts layers: no module uses "
            "transformers' experts interface, so there is nothing for qnext-lab to route or trace. "
            "Load an MoE model (Qwen3-Next, Qwen3-MoE, Mixtral, OLMoE, DeepSeek-V3, GPT-OSS, ...) or 'tiny'."
        )


def load_pretrained(
    name_or_path: str | os.PathLike,
    *,
    dtype: torch.dtype | str | None = None,
    device_map: str | dict[str, Any] | None = None,
    experts_implementation: str = IMPLEMENTATION_NAME,
    trust_remote_code: bool = False,
    **kwargs: Any,
) -> tuple[transformers.PreTrainedModel, transformers.PreTrainedTokenizerBase]:
    """Load ``(model, tokenizer)`` with ``experts_implementation`` (default "qnext") selected, in eval mode.

    ``name_or_path``: "tiny", a local model directory or a hub id. ``dtype``/``device_map`` and any other
    keyword go to ``from_pretrained``. Only safetensors weights are read. ``qnext_lab.load`` is the public
    entry point: it reads GGUF files too (``qnext_lab.formats``, one layer up) and calls this for the rest.
    """
    if names_gguf(name_or_path):
        raise ValueError(
            f"{os.fspath(name_or_path)!r} is a GGUF file: load it with qnext_lab.load (or qnext_lab.formats.load_gguf)"
        )
    source, local = _source(name_or_path)
    if "use_safetensors" in kwargs and not kwargs.pop("use_safetensors"):
        raise ValueError("qnext-lab loads safetensors checkpoints only (pickled .bin weights can run code)")
    try:
        config = transformers.AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    except OSError as exc:
        where = "in that directory" if local else "locally or on the Hugging Face Hub (offline, or no such model?)"
        raise OSError(f"could not load model config for {name_or_path!r} {where}: {_reason(exc)}") from None
    _check_moe(config, trust_remote_code, os.fspath(name_or_path))
    try:
        with _no_progress_bar(quiet=name_or_path == "tiny"):  # the bundled model loads in a blink
            model = transformers.AutoModelForCausalLM.from_pretrained(
                source,
                config=config,
                dtype=dtype,
                device_map=device_map,
                experts_implementation=experts_implementation,
                trust_remote_code=trust_remote_code,
                use_safetensors=True,
                **kwargs,
            )
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    except OSError as exc:
        raise OSError(
            f"could not load {name_or_path!r} (safetensors weights and a tokenizer are needed): {_reason(exc)}"
        ) from None
    _quiet_gpu_only_fallbacks(model)
    check_chat_template(tokenizer, str(name_or_path))  # a checkpoint's template that never ends: refused here
    return model.eval(), tokenizer

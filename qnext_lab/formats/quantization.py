"""``quantize()``: a copy of a model whose chosen weights went through one of llama.cpp's block formats.

Each selected weight is quantised and dequantised with the ``gguf`` package's own numpy quantisers
(``gguf.quants.quantize`` / ``dequantize``: llama.cpp's reference numerics), so the copy computes exactly what a
GGUF file of that type holds, in float. Blocks run along the last dimension of the Hugging Face weight, which is
the row that GGUF stores (ggml's ``ne0``), so the result is the same as quantising the converted tensor.
Which weights: ``parts`` from ``PARTS`` (experts, shared expert, router, attention, embeddings); by default the
ones a llama.cpp file quantises (``GGUF_PARTS``: everything but the router, norms, conv kernels and 1-D tensors,
as llama.cpp's converter keeps those in F32). Knows the runtime's experts modules; knows nothing about traces.

    q4 = quantize(model, "Q4_0")                       # like a Q4_0 GGUF file
    q8_experts = quantize(model, "Q8_0", parts="experts")
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field

import gguf
import numpy as np
import torch
from torch import nn

from ..runtime.experts_module import experts_modules

__all__ = ["FORMATS", "GGUF_PARTS", "PARTS", "QuantizationInfo", "quantizable", "quantize", "round_trip", "weight_part"]

# the block formats quantize() offers: llama.cpp's classic 8/5/4-bit formats and OCP's MXFP4 (gpt-oss's experts)
FORMATS = ("Q8_0", "Q5_0", "Q4_0", "MXFP4")
PARTS = ("experts", "shared_expert", "router", "attention", "embeddings")
# what a GGUF file of a quantised type holds quantised (llama.cpp's converter keeps the router in F32)
GGUF_PARTS = ("experts", "shared_expert", "attention", "embeddings")


@dataclass(frozen=True)
class QuantizationInfo:
    """What ``quantize`` did, stored on the returned model as ``model.qnext_lab_quantization``."""

    format: str
    parts: tuple[str, ...]
    tensors: dict[str, str] = field(default_factory=dict)  # parameter name -> type it went through
    # parameters whose rows are not a multiple of the block size: F16 instead, as llama.cpp's converter does
    fallbacks: tuple[str, ...] = ()

    @property
    def num_tensors(self) -> int:
        return len(self.tensors)


def qtype_of(name: str) -> gguf.GGMLQuantizationType:
    """ "Q4_0" -> GGMLQuantizationType.Q4_0 (also F32/F16/BF16 for export); ValueError naming the choices."""
    if not isinstance(name, str):
        raise TypeError(f"format must be a string such as 'Q4_0', got {type(name).__name__}")
    key = name.strip().upper()
    if key not in (*FORMATS, "F32", "F16", "BF16"):
        raise ValueError(f"unknown format {name!r}: choose one of {', '.join(FORMATS)} (or F32/F16/BF16 for export)")
    return gguf.GGMLQuantizationType[key]


def round_trip(weight: torch.Tensor, qtype: gguf.GGMLQuantizationType) -> torch.Tensor:
    """``weight`` quantised to ``qtype`` and back (float32 math, result in weight's dtype and device).

    Raises ``gguf.quants.QuantError`` when the last dimension is not a multiple of the block size.
    """
    data = weight.detach().to(torch.float32).cpu().numpy()  # (..., R): blocks along R
    packed = gguf.quants.quantize(data, qtype)  # (..., R / block * bytes) uint8, or float16/float32
    back = gguf.quants.dequantize(packed, qtype).reshape(data.shape)
    return torch.from_numpy(np.ascontiguousarray(back)).to(device=weight.device, dtype=weight.dtype)


def _parent(name: str) -> str:
    return name.rpartition(".")[0]


def weight_part(model: nn.Module, name: str, experts: Iterable[str] | None = None) -> str | None:
    """Which of ``PARTS`` the parameter ``name`` belongs to (None: not part of any, e.g. a norm).

    ``experts``: the experts-module names (found once by the caller when classifying many parameters).
    """
    experts = set(experts_modules(model) if experts is None else experts)
    module = _parent(name)
    if module in experts:
        return "experts"
    if any(module == f"{_parent(e)}.{r}" for e in experts for r in ("gate", "router")):
        return "router"
    pieces = name.split(".")
    if any(p.startswith("shared_expert") for p in pieces):
        return "shared_expert"
    if any(p in ("self_attn", "linear_attn", "attn", "attention") for p in pieces):
        return "attention"
    if "embed_tokens" in pieces or pieces[0] == "lm_head":
        return "embeddings"
    return None


def quantizable(name: str, param: torch.Tensor) -> bool:
    """The weights llama.cpp's converter may quantise: matrices (>= 2-D), no norms, no conv kernels, no biases."""
    leaf = name.rpartition(".")[2]
    return (
        param.dim() >= 2
        and param.is_floating_point()
        and "norm" not in name
        and "conv1d" not in name
        and not leaf.startswith("bias")
        and not leaf.endswith("bias")
    )


def _check_parts(parts: str | Iterable[str] | None) -> tuple[str, ...]:
    if parts is None:
        return GGUF_PARTS
    if isinstance(parts, str):
        parts = PARTS if parts == "all" else (parts,)
    chosen = tuple(dict.fromkeys(parts))
    unknown = [p for p in chosen if p not in PARTS]
    if unknown or not chosen:
        raise ValueError(
            f"unknown part(s) {unknown or '(none given)'}: parts are any of {', '.join(PARTS)} "
            "(or 'all'; default: the parts a GGUF file quantises)"
        )
    return chosen


def quantize(model: nn.Module, format: str, parts: str | Iterable[str] | None = None) -> nn.Module:
    """A deep copy of ``model`` whose ``parts`` went through ``format`` ("Q8_0", "Q5_0", "Q4_0", "MXFP4").

    The original is untouched. The copy carries ``qnext_lab_quantization`` (a ``QuantizationInfo``).
    Raises ValueError for an unknown format or part, or when no weight of the chosen parts exists.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"quantize() takes a torch model (e.g. from qnext_lab.load), got {type(model).__name__}")
    qtype = qtype_of(format)
    if qtype.name not in FORMATS:
        raise ValueError(
            f"quantize() applies a block format ({', '.join(FORMATS)}); {qtype.name} is a plain float type"
        )
    chosen = _check_parts(parts)
    experts = experts_modules(model)
    if not experts:
        raise ValueError(
            f"{type(model).__name__} has no experts modules: quantize() works on the MoE models qnext_lab.load() returns"
        )
    copied = copy.deepcopy(model)
    tensors: dict[str, str] = {}
    fallbacks: list[str] = []
    with torch.no_grad():
        for name, param in copied.named_parameters():
            if weight_part(copied, name, experts) not in chosen or not quantizable(name, param):
                continue
            try:
                param.copy_(round_trip(param, qtype))
                tensors[name] = qtype.name
            except gguf.quants.QuantError:
                param.copy_(round_trip(param, gguf.GGMLQuantizationType.F16))
                tensors[name] = "F16"
                fallbacks.append(name)
    if not tensors:
        raise ValueError(f"no quantisable weight in parts {chosen} of {type(model).__name__}")
    copied.qnext_lab_quantization = QuantizationInfo(qtype.name, chosen, tensors, tuple(fallbacks))
    return copied

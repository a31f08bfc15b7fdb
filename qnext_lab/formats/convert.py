"""Tensor conversions between a Hugging Face MoE checkpoint and llama.cpp's GGUF layout, both ways.

The forward direction applies what llama.cpp's converter (``convert_hf_to_gguf.py``: ``Qwen2MoeModel``,
``Qwen3MoeModel``, ``Qwen3NextModel``) applies, named by the ``gguf`` package's tensor-name tables:

- ``qwen3next``: ``A_log`` -> ``-exp(A_log)`` (``ssm_a``); ``dt_bias`` -> ``ssm_dt.bias``; the conv1d kernel
  squeezed to (channels, kernel); +1 on every RMSNorm weight except the gated norm of the linear attention
  (Qwen3-Next's norms are zero-centred, llama.cpp multiplies by the weight); ``in_proj_qkvz`` (grouped per key
  head as [q, k, v, z]) split into ``attn_qkv`` ([all q, all k, all v]) and ``attn_gate`` (all z); MTP weights
  skipped.
- both: the fused experts ``gate_up_proj`` (E, 2I, H) split into ``ffn_gate_exps`` / ``ffn_up_exps``,
  ``down_proj`` (E, H, I) as ``ffn_down_exps``; everything else renamed by ``gguf.get_tensor_name_map``.

and the same rule for which tensors stay F32 (1-D tensors, norms, the router, conv kernels, non-weights). The
inverse direction undoes each step, so a ``qwen3next`` GGUF becomes a ``Qwen3NextForCausalLM`` state dict
again. Knows nothing about files (``export.py`` writes, ``gguf_load.py`` reads) or traces.

    for gguf_name, tensor, keep_f32 in to_gguf_tensors(model.state_dict(), model.config): ...
    state = from_gguf_tensors({name: array, ...}, config)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import gguf
import numpy as np
import torch
from transformers import PretrainedConfig

__all__ = ["ARCHITECTURES", "from_gguf_tensors", "gguf_arch", "to_gguf_tensors"]

# Hugging Face model_type -> llama.cpp architecture name
ARCHITECTURES = {"qwen3_next": "qwen3next", "qwen3_moe": "qwen3moe"}
_ARCH_ENUM = {"qwen3next": gguf.MODEL_ARCH.QWEN3NEXT, "qwen3moe": gguf.MODEL_ARCH.QWEN3MOE}
_T = gguf.MODEL_TENSOR


def gguf_arch(config: PretrainedConfig) -> str:
    """The llama.cpp architecture for a config, or ValueError naming the supported ones."""
    arch = ARCHITECTURES.get(getattr(config, "model_type", None))
    if arch is None:
        raise ValueError(
            f"GGUF export supports {sorted(ARCHITECTURES)} (llama.cpp's {sorted(ARCHITECTURES.values())}); "
            f"this model is {getattr(config, 'model_type', type(config).__name__)!r}"
        )
    return arch


def _name(tensor: gguf.MODEL_TENSOR, bid: int | None = None, suffix: str = ".weight") -> str:
    return gguf.TENSOR_NAMES[tensor].format(bid=bid) + suffix


def _layer(name: str) -> int | None:
    parts = name.split(".")
    return int(parts[2]) if len(parts) > 2 and parts[1] == "layers" and parts[2].isdigit() else None


def _keep_f32(hf_name: str, gguf_name: str, tensor: torch.Tensor) -> bool:
    """llama.cpp's converter: 1-D tensors, norms, router, conv kernels and non-``.weight`` tensors stay F32."""
    bid = _layer(hf_name)
    forced = {_name(_T.FFN_GATE_INP, bid), _name(_T.SSM_CONV1D, bid)}
    return (
        tensor.dim() <= 1
        or gguf_name.endswith("_norm.weight")
        or gguf_name in forced
        or not gguf_name.endswith(".weight")
    )


def _qkvz_split(w: torch.Tensor, config: PretrainedConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(nk * (2 dk + 2 r dv), H) grouped [q, k, v, z] per key head -> qkv (nk * (2 dk + r dv), H), z (nk * r dv, H)."""
    nk, dk, dv = config.linear_num_key_heads, config.linear_key_head_dim, config.linear_value_head_dim
    r = config.linear_num_value_heads // nk  # value heads per key head
    grouped = w.reshape(nk, 2 * dk + 2 * r * dv, w.shape[-1])  # (nk, q|k|v|z, H)
    q, k, v, z = torch.split(grouped, [dk, dk, r * dv, r * dv], dim=1)
    qkv = torch.cat([t.reshape(-1, w.shape[-1]) for t in (q, k, v)], dim=0)
    return qkv, z.reshape(-1, w.shape[-1])


def _qkvz_join(qkv: torch.Tensor, z: torch.Tensor, config: PretrainedConfig) -> torch.Tensor:
    """Inverse of ``_qkvz_split``."""
    nk, dk, dv = config.linear_num_key_heads, config.linear_key_head_dim, config.linear_value_head_dim
    r = config.linear_num_value_heads // nk
    H = qkv.shape[-1]
    q, k, v = torch.split(qkv, [nk * dk, nk * dk, nk * r * dv], dim=0)
    grouped = torch.cat(
        [q.reshape(nk, dk, H), k.reshape(nk, dk, H), v.reshape(nk, r * dv, H), z.reshape(nk, r * dv, H)], dim=1
    )  # (nk, q|k|v|z, H)
    return grouped.reshape(-1, H)


def _is_shifted_norm(arch: str, hf_name: str) -> bool:
    return arch == "qwen3next" and hf_name.endswith("norm.weight") and not hf_name.endswith("linear_attn.norm.weight")


def to_gguf_tensors(
    state: Mapping[str, torch.Tensor], config: PretrainedConfig
) -> Iterator[tuple[str, torch.Tensor, bool]]:
    """Yield ``(gguf_name, float32 tensor in GGUF's row-major shape, keep_f32)`` for each exported tensor."""
    arch = gguf_arch(config)
    names = gguf.get_tensor_name_map(_ARCH_ENUM[arch], config.num_hidden_layers)
    for hf_name, tensor in state.items():
        if hf_name.startswith("mtp") or ".mtp." in hf_name:
            continue  # the multi-token-prediction head: llama.cpp's converter skips it too
        data = tensor.detach().to(torch.float32).cpu()
        bid = _layer(hf_name)
        if hf_name.endswith("mlp.experts.gate_up_proj"):
            half = data.shape[-2] // 2  # (E, 2I, H): gate rows first, then up
            yield _name(_T.FFN_GATE_EXP, bid), data[:, :half].contiguous(), False
            yield _name(_T.FFN_UP_EXP, bid), data[:, half:].contiguous(), False
            continue
        if hf_name.endswith("mlp.experts.down_proj"):
            yield _name(_T.FFN_DOWN_EXP, bid), data, False
            continue
        if arch == "qwen3next" and hf_name.endswith("linear_attn.in_proj_qkvz.weight"):
            qkv, z = _qkvz_split(data, config)
            yield _name(_T.ATTN_QKV, bid), qkv, False
            yield _name(_T.ATTN_GATE, bid), z, False
            continue
        if arch == "qwen3next":
            if hf_name.endswith(".A_log"):
                data = -torch.exp(data)
            elif hf_name.endswith(".dt_bias"):
                hf_name = hf_name.rpartition(".dt_bias")[0] + ".dt_proj.bias"
            elif "conv1d" in hf_name:
                data = data.squeeze()  # (C, 1, K) -> (C, K)
            elif _is_shifted_norm(arch, hf_name):
                data = data + 1
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ValueError(f"no GGUF name for {hf_name!r} in llama.cpp's {arch} layout (gguf {gguf.__name__} tables)")
        yield gguf_name, data, _keep_f32(hf_name, gguf_name, data)


def from_gguf_tensors(
    tensors: Mapping[str, np.ndarray | torch.Tensor], config: PretrainedConfig, expected: Mapping[str, torch.Size]
) -> dict[str, torch.Tensor]:
    """Dequantised GGUF tensors (float arrays in GGUF's row-major shape) -> the Hugging Face state dict.

    ``expected``: the HF model's parameter names and shapes (e.g. from a model built on the meta device);
    a missing, extra or misshapen tensor raises ValueError naming it.
    """
    arch = gguf_arch(config)
    got = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()}  # writable copies
    used: set[str] = set()

    def take(name: str) -> torch.Tensor:
        if name not in got:
            raise ValueError(f"the GGUF file has no tensor {name!r} (is it a complete {arch} file?)")
        used.add(name)
        return got[name]

    # GGUF name of each plain HF tensor: the forward conversion run on zero-size stand-ins
    state: dict[str, torch.Tensor] = {}
    for hf_name, shape in expected.items():
        bid = _layer(hf_name)
        if hf_name.endswith("mlp.experts.gate_up_proj"):
            data = torch.cat([take(_name(_T.FFN_GATE_EXP, bid)), take(_name(_T.FFN_UP_EXP, bid))], dim=-2)
        elif hf_name.endswith("mlp.experts.down_proj"):
            data = take(_name(_T.FFN_DOWN_EXP, bid))
        elif arch == "qwen3next" and hf_name.endswith("linear_attn.in_proj_qkvz.weight"):
            data = _qkvz_join(take(_name(_T.ATTN_QKV, bid)), take(_name(_T.ATTN_GATE, bid)), config)
        else:
            # a zero-size stand-in of the same rank: only its name is needed, and a hostile config's shapes
            # must not be allocated before they are checked against the file
            ((gguf_name, _, _),) = to_gguf_tensors({hf_name: torch.zeros((0,) * len(shape))}, config)
            data = take(gguf_name)
            if arch == "qwen3next" and hf_name.endswith(".A_log"):
                data = torch.log(-data)
            elif _is_shifted_norm(arch, hf_name):
                data = data - 1
        data = data.reshape(shape) if data.numel() == torch.Size(shape).numel() else data
        if tuple(data.shape) != tuple(shape):
            raise ValueError(
                f"GGUF tensor for {hf_name!r} has shape {tuple(data.shape)}, the model expects {tuple(shape)}"
            )
        state[hf_name] = data
    extra = sorted(set(got) - used)
    if extra:
        raise ValueError(f"the GGUF file has tensors this {arch} config does not use: {extra[:5]}")
    return state

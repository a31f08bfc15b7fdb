"""Routing recorded by serving engines (vLLM, SGLang), turned into a RoutingTrace the kit's figures and metrics read.

Both engines can return, per request, the experts each token was routed to in each MoE layer, for routing replay
in RL ("R3"); neither returns the routing weights or the router distribution.

- vLLM, server flag ``--enable-return-routed-experts`` (``enable_return_routed_experts=True`` in engine args;
  vllm-project/vllm PR #28284): ``RequestOutput.prompt_routed_experts`` with shape (prompt_len, moe_layers, top_k)
  and ``RequestOutput.outputs[i].routed_experts`` with shape (gen_len, moe_layers, top_k), numpy int16
  (``vllm/outputs.py``: ``routed_experts: np.ndarray | None  # [seq_len,layer_num,topk]``; the host cache in
  ``vllm/model_executor/layers/fused_moe/routed_experts_capturer.py`` is ``np.int16``, unfilled rows -1). The
  layer axis counts MoE layers only. The last sampled token is never fed back, so it has no routing (a missing
  or unfilled row).
- SGLang, server flag ``--enable-return-routed-experts`` and request field ``return_routed_experts=True``
  (sgl-project/sglang PR #12162; an earlier proposal, PR #9499, prefilled unused slots with 255):
  ``meta_info["routed_experts"]`` (``/generate``) or ``sgl_ext.routed_experts`` (OpenAI endpoints, PR #17434) is a
  base64 string of int32 values, logical shape (num_tokens, num_layers, top_k) over prompt + output tokens;
  the layer axis counts every decoder layer (dense layers stay unfilled). Unfilled slots hold -1 (255 in
  PR #9499's layout).

What the trace holds: ``topk_ids`` as recorded (rank order as the engine stored it); ``topk_weights`` uniform 1/k,
because the engines do not record weights (weight-based views then show every chosen expert equally; counts,
load, co-activation, repetition and specialisation are exact); ``probs`` None; ``token_ids`` and, with a
tokenizer, ``tokens`` (the decoded text of each token); positions count from the prompt start. Tokens whose
every slot is unfilled are dropped (their ids too); a token with some layers filled and others not is refused,
as are ids outside [0, num_experts). Knows nothing about models, figures or the engines' own packages.

    trace = routing_from_vllm(request_output, tokenizer, num_experts=512)
    trace = routing_from_sglang(response["meta_info"]["routed_experts"], token_ids, tokenizer, num_experts=512)

Dimension legend: N = tokens, L = layers in the engine's array, k = top-k.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..checks import as_int
from .routing_trace import RoutingTrace

__all__ = ["routing_from_sglang", "routing_from_vllm"]

_UNFILLED = -1
_SGLANG_OLD_FILL = 255  # PR #9499's prefill value: only unambiguous when there are at most 255 experts


def _check_num_experts(num_experts: object) -> int:
    num_experts = as_int(
        num_experts, "num_experts", low=1, hint=" (the model's routed experts, e.g. 512 for Qwen3-Next)"
    )
    return int(num_experts)


def _as_ids(name: str, array: Any) -> np.ndarray:
    a = np.asarray(array)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer expert ids, got dtype {a.dtype}")
    if a.ndim != 3:
        raise ValueError(f"{name} must have shape (tokens, layers, top_k), got {a.shape}")
    return a.astype(np.int64)


def _build(
    ids: np.ndarray,
    token_ids: Sequence[int],
    tokenizer,
    num_experts: int,
    fills: tuple[int, ...],
    layer_indices: Sequence[int] | None,
    model_name: str,
    source: str,
) -> RoutingTrace:
    """ids: (N, L, k) int64 with unfilled slots marked by a value in ``fills``; token_ids: (N,)."""
    n, num_layers, k = ids.shape
    if len(token_ids) != n:
        raise ValueError(f"{source}: {n} routed tokens but {len(token_ids)} token ids")
    unfilled = np.isin(ids, fills)  # (N, L, k)
    slot_filled = ~unfilled
    bad = slot_filled & ((ids < 0) | (ids >= num_experts))
    if bad.any():
        t, layer, r = map(int, np.argwhere(bad)[0])
        raise ValueError(
            f"{source}: expert id {int(ids[t, layer, r])} at token {t}, layer {layer} is outside "
            f"[0, {num_experts}); is num_experts right?"
        )
    layer_used = slot_filled.any(axis=(0, 2))  # (L,) dense layers never fill a slot
    if layer_indices is None:
        layer_indices = [i for i in range(num_layers) if layer_used[i]]
        keep_layers = layer_used
    else:
        layer_indices = [int(i) for i in layer_indices]
        if len(layer_indices) != num_layers:
            raise ValueError(f"{source}: layer_indices has {len(layer_indices)} entries for {num_layers} layers")
        keep_layers = np.ones(num_layers, dtype=bool)
    ids, filled = ids[:, keep_layers], slot_filled[:, keep_layers]  # (N, L', k)
    token_has = filled.any(axis=(1, 2))
    partial = token_has & ~filled.all(axis=(1, 2))
    if partial.any():
        t = int(np.argmax(partial))
        raise ValueError(
            f"{source}: token {t} has routing for some layers/slots but not others; the array does not "
            f"follow the documented layout (fill value {fills})"
        )
    rows = np.flatnonzero(token_has)  # tokens with routing, in order
    topk = torch.from_numpy(np.ascontiguousarray(ids[rows].transpose(1, 0, 2))).to(torch.int32)  # (L', N', k)
    kept_ids = [int(token_ids[i]) for i in rows]
    tokens = None
    if tokenizer is not None:
        tokens = [tokenizer.decode([i], skip_special_tokens=False) for i in kept_ids]
    return RoutingTrace(
        topk_ids=topk,
        topk_weights=torch.full(topk.shape, 1.0 / k if k else 0.0),
        token_ids=torch.tensor(kept_ids),
        seq_index=torch.zeros(len(rows), dtype=torch.int32),
        position=torch.from_numpy(rows.astype(np.int32)),
        layer_indices=layer_indices,
        num_experts=num_experts,
        top_k=k,
        model_name=model_name,
        tokens=tokens,
    )


def routing_from_vllm(
    request_output: Any,
    tokenizer=None,
    *,
    num_experts: int,
    completion: int = 0,
    layer_indices: Sequence[int] | None = None,
    model_name: str = "",
) -> RoutingTrace:
    """A RoutingTrace of one vLLM request: prompt rows from ``prompt_routed_experts``, then the generated rows.

    Args:
        request_output: a ``vllm.RequestOutput`` (or any object with ``prompt_token_ids``,
            ``prompt_routed_experts`` and ``outputs[i].token_ids`` / ``.routed_experts``) from an engine started
            with ``enable_return_routed_experts=True``.
        tokenizer: decodes each token's text into ``trace.tokens`` (optional).
        num_experts: routed experts per layer (the arrays do not say).
        completion: which of the request's ``n`` samples.
        layer_indices: decoder-layer index of each MoE layer of the array (default 0..L-1, MoE-layer order).
    """
    num_experts = _check_num_experts(num_experts)
    outputs = getattr(request_output, "outputs", None)
    if outputs is None or not hasattr(request_output, "prompt_token_ids"):
        raise TypeError(
            f"expected a vllm RequestOutput (with .prompt_token_ids and .outputs), got {type(request_output).__name__}"
        )
    if not 0 <= completion < len(outputs):
        raise ValueError(f"completion {completion} out of range: the request has {len(outputs)} output(s)")
    out = outputs[completion]
    parts, token_ids = [], []
    prompt = getattr(request_output, "prompt_routed_experts", None)
    if prompt is not None:
        parts.append(_as_ids("prompt_routed_experts", prompt))
        token_ids += list(request_output.prompt_token_ids)[: parts[-1].shape[0]]
        if len(token_ids) != parts[-1].shape[0]:
            raise ValueError(
                f"prompt_routed_experts has {parts[-1].shape[0]} rows for "
                f"{len(request_output.prompt_token_ids)} prompt tokens"
            )
    generated = getattr(out, "routed_experts", None)
    if generated is not None:
        gen = _as_ids("routed_experts", generated)
        ids = list(out.token_ids)
        if gen.shape[0] > len(ids):
            raise ValueError(f"routed_experts has {gen.shape[0]} rows for {len(ids)} generated tokens")
        parts.append(gen)
        token_ids += ids[: gen.shape[0]]  # the last sampled token may have no row
    if not parts:
        raise ValueError(
            "this RequestOutput carries no routing: start vLLM with --enable-return-routed-experts "
            "(enable_return_routed_experts=True)"
        )
    if len(parts) == 2 and parts[0].shape[1:] != parts[1].shape[1:]:
        raise ValueError(
            f"prompt and generated routing differ in (layers, top_k): {parts[0].shape[1:]} vs {parts[1].shape[1:]}"
        )
    # int16 in vLLM: -1 marks a row never filled
    return _build(
        np.concatenate(parts),
        token_ids,
        tokenizer,
        num_experts,
        (_UNFILLED,),
        layer_indices,
        model_name,
        "vLLM routed_experts",
    )


def routing_from_sglang(
    routed_experts: str | bytes | np.ndarray,
    token_ids: Sequence[int],
    tokenizer=None,
    *,
    num_experts: int,
    top_k: int | None = None,
    num_layers: int | None = None,
    layer_indices: Sequence[int] | None = None,
    model_name: str = "",
) -> RoutingTrace:
    """A RoutingTrace of one SGLang request from its ``routed_experts`` field.

    Args:
        routed_experts: the base64 string (``meta_info["routed_experts"]`` / ``sgl_ext.routed_experts``), its
            decoded bytes, or an int32 array of shape (tokens, layers, top_k).
        token_ids: the request's prompt + output token ids, in order (``input_ids`` + ``output_ids``); rows
            beyond the array (the last sampled token) are ignored.
        num_experts: routed experts per layer. top_k / num_layers: the flat array's shape (one is enough).
        layer_indices: decoder-layer index of each row layer (default: the array's layer position; layers with no
            filled slot, i.e. dense layers, are dropped).
    """
    num_experts = _check_num_experts(num_experts)
    if isinstance(routed_experts, (str, bytes)):
        try:
            raw = base64.b64decode(routed_experts, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"routed_experts is not valid base64 ({exc})") from exc
        if len(raw) % 4:
            raise ValueError(f"routed_experts decodes to {len(raw)} bytes, not a whole number of int32 values")
        flat = np.frombuffer(raw, dtype="<i4")
        n = len(token_ids)
        if top_k is None and num_layers is None:
            raise ValueError("give top_k or num_layers: the base64 payload is a flat array")
        unit = (top_k or 1) * (num_layers or 1)  # values per token known so far
        rows = next(
            (
                r
                for r in (n, n - 1)  # every token, or all but the last sampled one
                if r > 0
                and flat.size % (r * unit) == 0
                and (top_k is None or num_layers is None or flat.size == r * unit)
            ),
            None,
        )
        if rows is None:
            raise ValueError(
                f"routed_experts holds {flat.size} values: not {n} or {n - 1} tokens x "
                f"{num_layers or 'layers'} x {top_k or 'top_k'}"
            )
        per_token = flat.size // rows
        top_k = top_k or per_token // num_layers
        num_layers = num_layers or per_token // top_k
        array = flat.reshape(-1, num_layers, top_k)
    else:
        array = np.asarray(routed_experts)
        if array.dtype != np.int32:
            raise TypeError(f"SGLang returns int32 expert ids; got dtype {array.dtype}")
        array = _as_ids("routed_experts", array)
        if array.shape[0] not in (len(token_ids), len(token_ids) - 1):
            raise ValueError(f"routed_experts has {array.shape[0]} rows for {len(token_ids)} token ids")
    fills = (_UNFILLED, _SGLANG_OLD_FILL) if num_experts <= _SGLANG_OLD_FILL else (_UNFILLED,)
    return _build(
        array.astype(np.int64),
        list(token_ids)[: array.shape[0]],
        tokenizer,
        num_experts,
        fills,
        layer_indices,
        model_name,
        "SGLang routed_experts",
    )

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
as are ids outside [0, num_experts) (physical expert slots after expert-parallel load balancing are mapped
through ``physical_to_logical``). Row counts must match the token ids exactly (only the last sampled token may
lack a row); the flat SGLang payload needs both ``top_k`` and ``num_layers``. Knows nothing about models, figures or the engines' own packages.

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

from ..checks import as_int, as_int_list
from .routing_trace import MAX_EXPERTS, RoutingTrace

__all__ = ["routing_from_sglang", "routing_from_vllm"]

_UNFILLED = -1
_SGLANG_OLD_FILL = 255  # PR #9499's prefill value: only unambiguous when there are at most 255 experts


def _check_num_experts(num_experts: object) -> int:
    return as_int(
        num_experts,
        "num_experts",
        low=1,
        high=MAX_EXPERTS,
        hint=" (the model's routed experts, e.g. 512 for Qwen3-Next; logical experts, not physical slots)",
    )


def _as_ids(name: str, array: Any) -> np.ndarray:
    if array is None or isinstance(array, (str, bytes)):
        raise TypeError(f"{name} must be an integer array of shape (tokens, layers, top_k), got {type(array).__name__}")
    a = np.asarray(array)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer expert ids, got dtype {a.dtype}")
    if a.ndim != 3:
        raise ValueError(f"{name} must have shape (tokens, layers, top_k), got {a.shape}")
    if 0 in a.shape[1:]:
        raise ValueError(f"{name} has shape {a.shape}: no layers or no top-k slots, so no routing to read")
    return a.astype(np.int64)


def _token_ids(token_ids: Any, what: str) -> list[int]:
    if token_ids is None or isinstance(token_ids, (str, bytes)):
        raise TypeError(f"{what} must be a list of token ids (ints), got {type(token_ids).__name__}")
    return as_int_list(token_ids, what, low=0, hint="; token ids are the tokenizer's ids, >= 0")


def _outside(ids: np.ndarray, filled: np.ndarray, limit: int) -> str | None:
    """The first filled slot of ``ids`` (N, L, k) outside [0, limit), as "7 at token 3, layer 1"; None if none."""
    bad = filled & ((ids < 0) | (ids >= limit))
    if not bad.any():
        return None
    t, layer, r = map(int, np.argwhere(bad)[0])
    return f"{int(ids[t, layer, r])} at token {t}, layer {layer}"


def _logical(ids: np.ndarray, mapping: Any, num_experts: int, fills: tuple[int, ...], source: str) -> np.ndarray:
    """Physical expert slots (after expert-parallel load balancing, EPLB) -> logical expert ids.

    ``mapping``: SGLang's ``physical_to_logical_map``, shape (layers, physical slots) with one row per layer
    of the array, or (physical slots,) for every layer alike."""
    table = np.asarray(mapping)
    if table.dtype.kind not in "iu" or table.ndim not in (1, 2) or table.shape[-1] == 0:
        raise TypeError(
            f"{source}: physical_to_logical must be an integer array of shape (physical slots,) or "
            f"(layers, physical slots), got {table.dtype} {table.shape}"
        )
    table = table.astype(np.int64)
    if table.ndim == 2 and table.shape[0] != ids.shape[1]:
        raise ValueError(f"{source}: physical_to_logical has {table.shape[0]} rows for {ids.shape[1]} layers")
    if table.min() < 0 or table.max() >= num_experts:
        raise ValueError(f"{source}: physical_to_logical maps to ids outside [0, {num_experts})")
    slots = table.shape[-1]
    filled = ~np.isin(ids, fills)
    where = _outside(ids, filled, slots)
    if where:
        raise ValueError(f"{source}: physical slot {where} is outside the map's {slots} slots")
    safe = np.where(filled, ids, 0)  # (N, L, k)
    logical = table[safe] if table.ndim == 1 else table[np.arange(ids.shape[1])[None, :, None], safe]
    return np.where(filled, logical, ids)


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
    if n == 0:
        raise ValueError(f"{source}: the array has no rows, so there is no routing to read")
    unfilled = np.isin(ids, fills)  # (N, L, k)
    if unfilled.all():
        raise ValueError(
            f"{source}: every slot is unfilled ({fills[0]}): the engine recorded no routing for this request; "
            "was routing capture on (--enable-return-routed-experts)?"
        )
    slot_filled = ~unfilled
    where = _outside(ids, slot_filled, num_experts)
    if where:
        raise ValueError(
            f"{source}: expert id {where} is outside [0, {num_experts}); is num_experts right? The ids must be "
            "logical expert ids: after expert-parallel load balancing (EPLB) an engine may report physical slots "
            "(sgl-project/sglang PR #25285); pass its physical_to_logical map"
        )
    layer_used = slot_filled.any(axis=(0, 2))  # (L,) dense layers never fill a slot
    if layer_indices is None:
        layer_indices = [i for i in range(num_layers) if layer_used[i]]
        keep_layers = layer_used
    else:
        layer_indices = as_int_list(layer_indices, "layer_indices", low=0)
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
    physical_to_logical: Any = None,
    model_name: str = "",
) -> RoutingTrace:
    """A RoutingTrace of one vLLM request: prompt rows from ``prompt_routed_experts``, then the generated rows.

    Args:
        request_output: a ``vllm.RequestOutput`` (or any object with ``prompt_token_ids``,
            ``prompt_routed_experts`` and ``outputs[i].token_ids`` / ``.routed_experts``) from an engine started
            with ``enable_return_routed_experts=True``.
        tokenizer: decodes each token's text into ``trace.tokens`` (optional).
        num_experts: routed (logical) experts per layer (the arrays do not say).
        completion: which of the request's ``n`` samples.
        layer_indices: decoder-layer index of each MoE layer of the array (default 0..L-1, MoE-layer order).
        physical_to_logical: the engine's physical-slot -> logical-expert map, shape (slots,) or (layers,
            slots), when the ids are physical slots (expert-parallel load balancing with redundant experts).

    The prompt must have exactly one row per prompt token, the generation one per generated token or one
    fewer (only the last sampled token may lack a row); anything else is refused, since a shifted row would
    pin every later token's routing on the wrong token.
    """
    num_experts = _check_num_experts(num_experts)
    outputs = getattr(request_output, "outputs", None)
    if outputs is None or not hasattr(request_output, "prompt_token_ids"):
        raise TypeError(
            f"expected a vllm RequestOutput (with .prompt_token_ids and .outputs), got {type(request_output).__name__}"
        )
    completion = as_int(completion, "completion", low=0)
    if completion >= len(outputs):
        raise ValueError(f"completion {completion} out of range: the request has {len(outputs)} output(s)")
    out = outputs[completion]
    parts, token_ids = [], []
    prompt = getattr(request_output, "prompt_routed_experts", None)
    if prompt is not None:
        parts.append(_as_ids("prompt_routed_experts", prompt))
        prompt_ids = _token_ids(request_output.prompt_token_ids, "prompt_token_ids")
        if len(prompt_ids) != parts[-1].shape[0]:
            raise ValueError(
                f"prompt_routed_experts has {parts[-1].shape[0]} rows for {len(prompt_ids)} prompt tokens; "
                "it must have one row per prompt token (pass the RequestOutput as vLLM returned it)"
            )
        token_ids += prompt_ids
    generated = getattr(out, "routed_experts", None)
    if generated is not None:
        gen = _as_ids("routed_experts", generated)
        ids = _token_ids(out.token_ids, "outputs[completion].token_ids")
        if gen.shape[0] not in (len(ids), len(ids) - 1):
            raise ValueError(
                f"routed_experts has {gen.shape[0]} rows for {len(ids)} generated tokens; it must have one row per "
                "generated token, or one fewer (the last sampled token is never fed back)"
            )
        parts.append(gen)
        token_ids += ids[: gen.shape[0]]
    if not parts:
        raise ValueError(
            "this RequestOutput carries no routing: start vLLM with --enable-return-routed-experts "
            "(enable_return_routed_experts=True)"
        )
    if len(parts) == 2 and parts[0].shape[1:] != parts[1].shape[1:]:
        raise ValueError(
            f"prompt and generated routing differ in (layers, top_k): {parts[0].shape[1:]} vs {parts[1].shape[1:]}"
        )
    ids = np.concatenate(parts)
    source = "vLLM routed_experts"
    if physical_to_logical is not None:
        ids = _logical(ids, physical_to_logical, num_experts, (_UNFILLED,), source)
    # int16 in vLLM: -1 marks a row never filled
    return _build(ids, token_ids, tokenizer, num_experts, (_UNFILLED,), layer_indices, model_name, source)


def _sglang_payload(routed_experts: str | bytes, rows_for: tuple[int, int], top_k: Any, num_layers: Any) -> np.ndarray:
    """The flat int32 payload (base64 text, base64 bytes, or the decoded bytes) as (tokens, layers, top_k)."""
    raw: bytes | None = None
    if isinstance(routed_experts, str):
        try:
            raw = base64.b64decode(routed_experts, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"routed_experts is not valid base64 ({exc})") from exc
    else:
        data = bytes(routed_experts)
        try:  # base64 bytes; decoded int32 ids always hold a byte outside base64's alphabet (0x00 or 0xff)
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raw = data  # the decoded bytes
    if len(raw) % 4:
        raise ValueError(f"routed_experts decodes to {len(raw)} bytes, not a whole number of int32 values")
    if top_k is None or num_layers is None:
        raise ValueError(
            "give both top_k and num_layers (config.num_experts_per_tok and config.num_hidden_layers): the payload "
            "is a flat array, and a wrong guess for one would silently reshape it into wrong layers"
        )
    top_k = as_int(top_k, "top_k", low=1, high=MAX_EXPERTS)
    num_layers = as_int(num_layers, "num_layers", low=1)
    flat = np.frombuffer(raw, dtype="<i4")
    unit = top_k * num_layers
    if flat.size % unit or flat.size // unit not in rows_for:
        n = rows_for[0]
        raise ValueError(
            f"routed_experts holds {flat.size} values: not {n} or {n - 1} tokens x {num_layers} layers x "
            f"{top_k} top_k; check top_k, num_layers and token_ids"
        )
    return flat.reshape(-1, num_layers, top_k)


def routing_from_sglang(
    routed_experts: str | bytes | np.ndarray,
    token_ids: Sequence[int],
    tokenizer=None,
    *,
    num_experts: int,
    top_k: int | None = None,
    num_layers: int | None = None,
    layer_indices: Sequence[int] | None = None,
    physical_to_logical: Any = None,
    model_name: str = "",
) -> RoutingTrace:
    """A RoutingTrace of one SGLang request from its ``routed_experts`` field.

    Args:
        routed_experts: the base64 string (``meta_info["routed_experts"]`` / ``sgl_ext.routed_experts``), the
            same as bytes, its decoded bytes, or an int32 array of shape (tokens, layers, top_k).
        token_ids: the request's prompt + output token ids, in order (``input_ids`` + ``output_ids``); the
            array has a row for each, or for all but the last sampled one.
        num_experts: routed (logical) experts per layer.
        top_k, num_layers: the flat payload's shape, both required for base64 or bytes
            (``config.num_experts_per_tok``, ``config.num_hidden_layers``); checked against an array's shape.
        layer_indices: decoder-layer index of each row layer (default: the array's layer position; layers with no
            filled slot, i.e. dense layers, are dropped).
        physical_to_logical: SGLang's ``physical_to_logical_map`` (shape (layers, physical slots), or (slots,)),
            when the ids are physical slots: with expert-parallel load balancing (EPLB) and redundant experts
            the engine may report physical slots (sgl-project/sglang PR #25285). Without it the ids must be
            logical, in [0, num_experts).
    """
    num_experts = _check_num_experts(num_experts)
    token_ids = _token_ids(token_ids, "token_ids")
    n = len(token_ids)
    if isinstance(routed_experts, (str, bytes, bytearray, memoryview)):
        array = _sglang_payload(routed_experts, (n, n - 1), top_k, num_layers)
    else:
        array = np.asarray(routed_experts)
        if array.dtype != np.int32:
            raise TypeError(f"SGLang returns int32 expert ids; got dtype {array.dtype}")
        array = _as_ids("routed_experts", array)
        if array.shape[0] not in (n, n - 1):
            raise ValueError(f"routed_experts has {array.shape[0]} rows for {n} token ids (it needs {n} or {n - 1})")
        for name, given, actual in (("top_k", top_k, array.shape[2]), ("num_layers", num_layers, array.shape[1])):
            if given is not None and as_int(given, name, low=1) != actual:
                raise ValueError(f"{name}={given} but the array's shape {array.shape} says {actual}")
    fills = (_UNFILLED, _SGLANG_OLD_FILL) if num_experts <= _SGLANG_OLD_FILL else (_UNFILLED,)
    ids = array.astype(np.int64)
    source = "SGLang routed_experts"
    if physical_to_logical is not None:
        ids = _logical(ids, physical_to_logical, num_experts, fills, source)
    return _build(ids, token_ids[: array.shape[0]], tokenizer, num_experts, fills, layer_indices, model_name, source)

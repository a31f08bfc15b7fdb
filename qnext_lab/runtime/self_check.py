"""First-use self-check of the Triton experts path: a GPU path that cannot silently be wrong.

``load()`` selects the ``"qnext"`` experts, which run the Triton kernels on CUDA tensors. Some of what they do
(bf16 ``tl.dot``, the tile shapes a given GPU compiles) cannot be checked by Triton's CPU interpreter, so the
first time the Triton path meets a (device, dtype, weight layout) it is checked here against the pure-torch
reference on small inputs drawn from the real weights, routed to a spread of experts that includes the first
and the last: one decode-sized batch (1 token: the one-block-per-slot alignment when 4*S <= E, tiles as picked)
and, for every row of the tuning table (``kernels.tuning``: each row can be picked for any model, the last by a
long enough prefill), a 33-token batch run with that row's tiles for both GEMMs (rows whose tiles coincide at
this model's shapes run once). So every kernel configuration the model can launch is compiled, launched and
compared before the verdict "passed". On a mismatch or an error (a kernel that does not compile, too little
shared memory, an out-of-memory, ...) the verdict is kept for the process: under ``QNEXT_LAB_BACKEND=auto`` a
warning is issued once and that layout runs on the torch path from then on; under an explicit ``triton`` a
``TritonSelfCheckError`` says what failed and what to do. A failure after the check passed (``report_failure``,
called by the experts entry point for any exception a Triton launch raises) gets the same treatment. Knows the
kernels and their references; knows nothing about transformers modules, routing capture or widgets.

    if not triton_verified(weights, "silu", 1.702, 7.0, top_k=10, explicit=False):
        ...  # run the torch path instead

Dimension legend: T = tokens, H = hidden, I = expert intermediate, E = experts, k = experts per token,
S = chosen experts for the check (a spread over 0..E-1).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable

import torch

from ..kernels.backend import ENV_VAR
from ..kernels.layout import ExpertWeights

__all__ = [
    "CHECK_TOKENS",
    "TOLERANCE",
    "TritonSelfCheckError",
    "check_triton_path",
    "clear_verdicts",
    "layout_key",
    "report_failure",
    "triton_verified",
    "verdicts",
]

TOLERANCE = {torch.float32: 5e-3, torch.float16: 1e-2, torch.bfloat16: 3e-2}
"""Largest accepted relative error ||triton - reference|| / ||reference|| (Frobenius) per weight dtype. The
reference runs in fp32 on the same (rounded) inputs: bf16 rounding of the intermediate and the output gives
about 0.5 %, fp32 ``tl.dot`` may use TF32 (about 0.1 %); a wrong layout, stride or offset gives an error of
order 1."""
CHECK_TOKENS = (1, 33)  # decode-sized (one token) and prefill-sized batches: the two alignment paths
_MAX_CHECK_EXPERTS = 16  # experts the check routes to (S), at least 2k so each token can pick k distinct ones


class TritonSelfCheckError(RuntimeError):
    """The Triton experts path disagreed with the torch reference (or failed) on this device and layout."""


def _triton_experts(
    x: torch.Tensor,
    weights: ExpertWeights,
    ids: torch.Tensor,
    tw: torch.Tensor,
    gate: str,
    alpha: float,
    limit: float,
    tile_row: int | None,
) -> torch.Tensor:
    """The path under check: (T, H) tokens, (T, k) ids and weights -> (T, H) on the Triton kernels.

    ``tile_row``: the tuning-table row both GEMMs use (None: the row the batch size picks).
    """
    from ..kernels.moe import moe_experts  # imports triton: only where the Triton path runs

    return moe_experts(x, weights, ids, tw, gate=gate, alpha=alpha, limit=limit, backend="triton", tile_row=tile_row)


# The function the check runs; tests replace it with a failing kernel to exercise the fallback on a CPU.
triton_experts: Callable[..., torch.Tensor] = _triton_experts

_UNCHECKED = object()
_verdicts: dict[tuple, str | None] = {}  # layout key -> None (passed) or why it failed
_warned: set[tuple] = set()
_lock = threading.Lock()  # one check per key, even when several threads hit a new layout at once


def layout_key(weights: ExpertWeights, gate: str) -> tuple:
    """What the check is done once for: device, dtype, shapes, strides, layout flags, biases and gate."""
    return (
        str(weights.gate_up.device),
        weights.dtype,
        tuple(weights.gate_up.shape),
        weights.gate_up.stride(),
        tuple(weights.down.shape),
        weights.down.stride(),
        weights.transposed,
        weights.interleaved,
        weights.gate_up_bias is not None,
        weights.down_bias is not None,
        gate,
    )


def _subset(weights: ExpertWeights, experts: torch.Tensor) -> ExpertWeights:
    """The chosen experts' weights as a small fp32 copy (the reference must not copy all E experts)."""

    def pick(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.index_select(0, experts.to(t.device)).float()

    return ExpertWeights(
        pick(weights.gate_up),
        pick(weights.down),
        pick(weights.gate_up_bias),
        pick(weights.down_bias),
        transposed=weights.transposed,
        interleaved=weights.interleaved,
    )


def check_triton_path(weights: ExpertWeights, gate: str, alpha: float, limit: float, top_k: int) -> str | None:
    """Run the Triton path and the fp32 torch reference on small inputs; None if they agree, else why not.

    The inputs come from a private generator (the global RNG is left alone); the tokens are routed to S experts
    spread over 0..E-1, so the check reads the first and the last expert's weights. Autocast is off, so the
    reference really runs in fp32.
    """
    with torch.no_grad(), torch.autocast(weights.gate_up.device.type, enabled=False):
        return _compare(weights, gate, alpha, limit, top_k)


def check_runs(weights: ExpertWeights) -> list[tuple[int, int | None]]:
    """The (tokens, tuning-table row) batches the check runs: one decode-sized batch with the tiles it picks,
    then a prefill-sized batch per row whose (gate_up, down) tiles differ at these shapes."""
    from ..kernels.tuning import pick_config, table_rows  # imports triton: only where the Triton path runs

    runs: list[tuple[int, int | None]] = [(CHECK_TOKENS[0], None)]
    seen = set()
    for row in range(table_rows()):
        I, H, E = weights.intermediate_size, weights.hidden_size, weights.num_experts
        tiles = (pick_config(1, E, I, H, row=row), pick_config(1, E, H, I, row=row))
        if tiles not in seen:
            seen.add(tiles)
            runs.append((CHECK_TOKENS[1], row))
    return runs


def _tiles(weights: ExpertWeights, row: int | None, tokens: int, top_k: int) -> str:
    from ..kernels.tuning import pick_config

    I, H, E = weights.intermediate_size, weights.hidden_size, weights.num_experts
    a, b = pick_config(tokens * top_k, E, I, H, row=row), pick_config(tokens * top_k, E, H, I, row=row)
    where = "the tiles it picks" if row is None else f"tuning row {row}"
    return (
        f"{tokens} token(s), {where} (gate_up {a.block_m}x{a.block_n}x{a.block_k}, "
        f"down {b.block_m}x{b.block_n}x{b.block_k}, {a.num_warps} warps, {a.num_stages} stages)"
    )


def _compare(weights: ExpertWeights, gate: str, alpha: float, limit: float, top_k: int) -> str | None:
    E, H, device, dtype = weights.num_experts, weights.hidden_size, weights.gate_up.device, weights.dtype
    k = max(1, min(int(top_k), E))
    S = min(E, max(2 * k, _MAX_CHECK_EXPERTS))
    experts = torch.linspace(0, E - 1, S).round().long().unique()  # (S,) spread, first and last included
    S = experts.numel()
    reference_weights = _subset(weights, experts)
    g = torch.Generator().manual_seed(0)
    tolerance = TOLERANCE.get(dtype, TOLERANCE[torch.float32])
    from ..kernels.moe import moe_experts  # imports triton: only where the Triton path runs

    for T, row in check_runs(weights):
        local = torch.stack([torch.randperm(S, generator=g)[:k] for _ in range(T)])  # (T, k) positions in subset
        ids = experts[local].to(device=device, dtype=torch.int32)  # (T, k) real expert ids, distinct per row
        tw = torch.softmax(torch.randn(T, k, generator=g), dim=-1).to(device)  # (T, k) fp32
        x = torch.randn(T, H, generator=g).to(device=device, dtype=dtype)  # (T, H)
        try:
            got = triton_experts(x, weights, ids, tw, gate, alpha, limit, row)  # (T, H)
        except Exception as exc:  # any failure (compile, launch, OOM) means: do not use this path
            return f"the Triton kernels failed on {_tiles(weights, row, T, k)}: {type(exc).__name__}: {exc}"
        ref = moe_experts(
            x.float(),
            reference_weights,
            local.to(device=device, dtype=torch.int32),
            tw,
            gate=gate,
            alpha=alpha,
            limit=limit,
            backend="torch",
        )  # (T, H) fp32
        if not isinstance(got, torch.Tensor) or got.shape != ref.shape:
            shape = getattr(got, "shape", type(got).__name__)
            return f"the Triton kernels returned {shape} for {tuple(ref.shape)} on {_tiles(weights, row, T, k)}"
        got = got.float()
        if not bool(torch.isfinite(got).all()):
            return f"the Triton kernels returned NaN/inf on {_tiles(weights, row, T, k)} where the reference is finite"
        error = float((got - ref).norm() / ref.norm().clamp_min(1e-6))
        if error > tolerance:
            return (
                f"the Triton kernels differ from the torch reference on {_tiles(weights, row, T, k)}: relative "
                f"error {error:.3g} > {tolerance:g} for {dtype}"
            )
    return None


def triton_verified(weights: ExpertWeights, gate: str, alpha: float, limit: float, top_k: int, explicit: bool) -> bool:
    """True if the Triton path passed its check for this layout (checking it on first use).

    False (after one warning) when it failed and the backend is ``auto``; raises ``TritonSelfCheckError`` when
    it failed and ``QNEXT_LAB_BACKEND=triton`` was asked for explicitly.
    """
    key = layout_key(weights, gate)
    reason = _verdicts.get(key, _UNCHECKED)
    if reason is _UNCHECKED:
        with _lock:
            if key not in _verdicts:
                _verdicts[key] = check_triton_path(weights, gate, alpha, limit, top_k)
            reason = _verdicts[key]
    if reason is None:
        return True
    _act_on_failure(key, weights, reason, explicit, "failed their first-use self-check")
    return False


def report_failure(weights: ExpertWeights, gate: str, exc: BaseException, explicit: bool) -> None:
    """A Triton launch failed after the check passed (a shape the check could not foresee, an OOM, ...).

    The layout is marked failed for the process, so every later call takes the torch path: one warning under
    ``auto``; ``TritonSelfCheckError`` (chained to ``exc``) under an explicit ``triton``.
    """
    key = layout_key(weights, gate)
    reason = f"{type(exc).__name__}: {exc}"
    with _lock:
        _verdicts[key] = f"failed after passing the self-check: {reason}"
    try:
        _act_on_failure(key, weights, reason, explicit, "passed their first-use self-check but then failed")
    except TritonSelfCheckError as error:
        raise error from exc


def _act_on_failure(key: tuple, weights: ExpertWeights, reason: str, explicit: bool, what: str) -> None:
    where = f"{weights.gate_up.device} / {weights.dtype} / experts {tuple(weights.gate_up.shape)}"
    if explicit:
        raise TritonSelfCheckError(
            f"{ENV_VAR}=triton, but the Triton experts {what} on {where}: {reason}. "
            f"Use {ENV_VAR}=torch (or auto, which falls back to torch with a warning), "
            "and please report this with your GPU, dtype and triton version"
        )
    if key not in _warned:
        _warned.add(key)
        warnings.warn(
            f"qnext-lab: the Triton experts {what} on {where} ({reason}); "
            f"these experts run on the torch path instead (slower, correct). Set {ENV_VAR}=torch to "
            "skip the check",
            RuntimeWarning,
            stacklevel=5,
        )


def verdicts() -> dict[tuple, str | None]:
    """The checks done so far: layout key -> None (passed) or the reason it failed."""
    return dict(_verdicts)


def clear_verdicts() -> None:
    """Forget every verdict (the next call checks again); for tests and after changing the triton install."""
    with _lock:
        _verdicts.clear()
        _warned.clear()

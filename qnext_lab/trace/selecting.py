"""capture_selection(): record which past tokens each query of an indexed-attention layer attended to.

The second routing of a sparse-attention model. DeepSeek DSA (``deepseek_v32``, ``glm_moe_dsa``) and Qwen QSA
(``qwen4_exp``) give each full-attention layer an ``indexer`` that scores the earlier tokens and keeps a budget
of them; the attention then sees only those. Hooks, all removed on exit (also on error):

- a forward pre-hook (with kwargs) on the model you pass: ``input_ids``, the 2-D ``attention_mask`` and the
  cache length of each forward, so padding is dropped and cache columns become positions in the sequence;
- on each indexer, a pre-hook that keeps the attention mask it is given and a hook on what it returns: DSA
  returns top-k token indices (B, t, K) (when fewer than K tokens are visible, ``topk`` also returns masked
  ones: those are dropped here, as the attention drops them), QSA a boolean selection mask (B, 1, t, S).

Rules as ``capture``: the model lock is held for the whole block (``timeout=`` bounds the wait), only the
forwards of the thread that opened the block are recorded, padding is dropped, a forward over a non-empty
cache continues the previous forward's sequences. Memory is bounded: each recorded query costs its selected
count of int32 per layer; past ``max_entries`` the block stops recording and raises on exit (narrow it with
``layers=`` or fewer tokens) instead of filling memory or keeping a silently shortened trace.
Which indexer modules are known and what they return: ``INDEXERS`` (class name -> "indices" | "mask"); another
module can declare ``qnext_lab_selection_kind``. Knows nothing about figures.

    with ql.capture_selection(model) as sel:
        model.generate(**batch, max_new_tokens=8)
    sel.matrix(layer=sel.layer_indices[0])

Dimension legend: B = batch rows, t = new tokens in this forward, S = cached + new columns, K = selection
width, n = non-padding queries, L = layers.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from ..checks import as_int, as_int_list
from .blocks import RecordingBlock
from .capturing import model_name
from .forwards import Forward, ForwardHooks, ForwardLog
from .hooks import ThreadHooks
from .selection import SelectionTrace

__all__ = ["INDEXERS", "IndexerLayer", "capture_selection", "find_indexers"]

# indexer class -> what its forward returns: "indices" = int top-k token columns (B, t, K) that may include
# masked columns when fewer than K are visible; "mask" = bool (B, 1, t, S) of the columns kept
INDEXERS = {
    "DeepseekV32Indexer": "indices",  # DeepSeek-V3.2 DSA (lightning indexer, top index_topk tokens)
    "GlmMoeDsaIndexer": "indices",  # GLM-5 DSA (same indexer, interleaved RoPE)
    "Qwen4ExpTextQSAIndexer": "mask",  # Qwen3.8-Flash-Next QSA (top blocks of compress_ratio tokens + tail)
}
DEFAULT_MAX_ENTRIES = 50_000_000  # int32 entries kept (200 MB), over all layers and queries
_LAYER_RE = re.compile(r"(?:^|\.)(?:layers|h|blocks|block|layer)\.(\d+)(?:\.|$)")


@dataclass(frozen=True)
class IndexerLayer:
    index: int  # decoder-layer index, from the module path
    path: str
    module: nn.Module
    kind: str  # "indices" | "mask"


def find_indexers(model: nn.Module) -> list[IndexerLayer]:
    """The sparse-attention indexers of ``model`` in layer order; ValueError when it has none."""
    found = []
    for path, module in model.named_modules():
        kind = getattr(module, "qnext_lab_selection_kind", None) or INDEXERS.get(type(module).__name__)
        if kind is None:
            continue
        if kind not in ("indices", "mask"):
            raise ValueError(f"{path}: qnext_lab_selection_kind must be 'indices' or 'mask', got {kind!r}")
        match = _LAYER_RE.findall(path)
        found.append(IndexerLayer(int(match[-1]) if match else len(found), path, module, kind))
    if not found:
        raise ValueError(
            f"{type(model).__name__} has no sparse-attention indexer: capture_selection records indexed attention "
            f"(DeepSeek DSA: deepseek_v32, glm_moe_dsa; Qwen QSA: qwen4_exp; classes {sorted(INDEXERS)}). "
            "For expert routing use capture()"
        )
    if len({m.index for m in found}) != len(found):
        raise ValueError(f"two indexers share a decoder-layer index: {[m.path for m in found]}")
    return found


def _mask_argument(module: nn.Module, args: tuple, kwargs: dict) -> torch.Tensor | None:
    """The ``attention_mask`` an indexer was called with (positional or keyword)."""
    if "attention_mask" in kwargs:
        return kwargs["attention_mask"]
    try:
        bound = inspect.signature(module.forward).bind_partial(*args, **kwargs)
    except TypeError:
        return None
    return bound.arguments.get("attention_mask")


def _visible(mask: torch.Tensor) -> torch.Tensor:
    """A transformers attention mask (bool: True = visible; float: 0 visible, very negative masked) as bool."""
    if mask.dtype == torch.bool:
        return mask
    return mask > torch.finfo(mask.dtype).min / 2


@dataclass
class _Forward:
    rows: torch.Tensor | None  # (n,) flat rows of (B*t) that are not padding; None = all
    column_position: torch.Tensor  # (B, S) position of each cache column in its sequence (-1 = padding)
    B: int
    t: int


class capture_selection(ForwardHooks, RecordingBlock):  # used as a function: `with capture_selection(model) as sel:`
    """Context manager that fills a ``SelectionTrace`` with the tokens each query's indexer selected.

    Args:
        model: a transformers model with DSA / QSA layers (the module you call).
        layers: decoder-layer indices to record: one index or a list (default: every indexed layer).
        timeout: seconds to wait for another thread holding the model; then ``ModelBusyError``.
        max_entries: the most selected-token entries (int32) kept over the block; past it recording stops
            and the block raises RuntimeError on exit.

    The lock, the hooks and the block's life: ``blocks.RecordingBlock``.
    """

    WHAT = "capture_selection"

    def __init__(
        self,
        model: nn.Module,
        layers: int | Iterable[int] | None = None,
        *,
        timeout: float | None = None,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        found = find_indexers(model)
        if layers is not None:
            wanted = as_int_list(layers, "layers", low=0)
            known = [m.index for m in found]
            missing = sorted(set(wanted) - set(known))
            if not wanted or missing:
                raise ValueError(f"layers={layers!r}: the indexed-attention layers of this model are {known}")
            found = [m for m in found if m.index in set(wanted)]
        self.model = model
        self.layers = found
        self.timeout = timeout
        self.max_entries = as_int(max_entries, "max_entries", low=1)
        self.trace: SelectionTrace | None = None
        self._reset()

    def _reset(self) -> None:
        self._chunks: list[list[torch.Tensor]] = [[] for _ in self.layers]  # per layer: (n, K) per forward
        self._masks: list[torch.Tensor | None] = [None for _ in self.layers]
        self._forwards = ForwardLog()  # tokens, sequences and positions of each forward (forwards.py)
        self._current: _Forward | None = None
        self._entries = 0
        self._problem: str | None = None

    # ------------------------------------------------------------------ hooks
    def _on_forward(self, forward: Forward) -> _Forward:
        B, t, mask = forward.B, forward.t, forward.mask
        if mask is not None:
            keep = mask.bool()  # (B, S)
            column_position = torch.where(keep, keep.long().cumsum(1) - 1, -1)  # (B, S)
            rows = None if bool(keep[:, -t:].all()) else keep[:, -t:].reshape(-1).nonzero().flatten()
        else:
            S = forward.past + t
            column_position = torch.arange(S, device=forward.device).expand(B, S)
            rows = None
        self._forwards.add(forward, column_position[:, -t:], rows)
        return _Forward(rows, column_position, B, t)

    def _indexer_pre(self, pos: int):
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            self._masks[pos] = _mask_argument(module, args, kwargs)

        return hook

    def _indexer_post(self, pos: int):
        layer = self.layers[pos]

        def hook(module: nn.Module, args: tuple, output: object) -> None:
            current, mask = self._current, self._masks[pos]
            self._masks[pos] = None
            if current is None or self._problem is not None:
                return
            out = output[0] if isinstance(output, (tuple, list)) else output
            if layer.kind == "indices":
                if mask is None or not torch.is_tensor(out) or out.dim() != 3 or out.is_floating_point():
                    self._problem = f"{layer.path} did not return (B, t, K) token indices with an attention mask"
                    return
                B, t = out.shape[:2]
                visible = _visible(mask if mask.dim() == 3 else mask[:, 0])  # (B or 1, t, S)
                visible = visible.expand(B, t, visible.shape[-1])
                chosen = torch.zeros_like(visible).scatter_(-1, out.long(), True) & visible  # (B, t, S)
            else:
                if not torch.is_tensor(out) or out.dtype != torch.bool or out.dim() != 4:
                    self._problem = f"{layer.path} did not return a (B, 1, t, S) boolean selection mask"
                    return
                chosen = out[:, 0]  # (B, t, S)
            self._record(pos, chosen, current)

        return hook

    def _record(self, pos: int, chosen: torch.Tensor, current: _Forward) -> None:
        B, t, S = chosen.shape
        if (B, t) != (current.B, current.t) or S != current.column_position.shape[1]:
            self._problem = (
                f"{self.layers[pos].path} selected over {(B, t, S)} (batch, queries, columns) in a forward of "
                f"{(current.B, current.t, current.column_position.shape[1])}"
            )
            return
        col_pos = current.column_position.to(chosen.device).unsqueeze(1).expand(B, t, S)  # (B, t, S)
        width = int(chosen.sum(-1).max()) if chosen.numel() else 0
        key = torch.where(chosen & (col_pos >= 0), col_pos, S + 1)  # unselected columns sort last
        picked = key.sort(-1).values[..., :width]  # (B, t, K) ascending positions
        picked = torch.where(picked > S, -1, picked).reshape(B * t, width)
        if current.rows is not None:
            picked = picked.index_select(0, current.rows.to(picked.device))
        self._entries += picked.numel()
        if self._entries > self.max_entries:
            self._problem = (
                f"the selection trace passed max_entries={self.max_entries} int32 entries; capture fewer layers "
                "(layers=), fewer tokens, or raise max_entries"
            )
            self._chunks = [[] for _ in self.layers]  # free what was kept: the trace will not be built
            return
        self._chunks[pos].append(picked.to(torch.int32).cpu())

    # ------------------------------------------------------------------ the block (blocks.RecordingBlock)
    def _install(self, hooks: ThreadHooks) -> None:
        hooks.pre(self.model, self._on_model_forward)
        hooks.post(self.model, self._after_model_forward, always_call=True)
        for pos, layer in enumerate(self.layers):
            hooks.pre(layer.module, self._indexer_pre(pos))
            hooks.post(layer.module, self._indexer_post(pos))

    def _empty(self) -> SelectionTrace:
        z = torch.zeros(0, dtype=torch.int64)
        return SelectionTrace(
            torch.zeros(len(self.layers), 0, 0, dtype=torch.int32),
            z,
            z,
            z,
            [m.index for m in self.layers],
            model_name(self.model),
        )

    def _build(self) -> SelectionTrace:
        if self._problem is not None:
            raise RuntimeError(f"capture_selection: {self._problem}")
        counts = {len(chunks) for chunks in self._chunks}
        if counts != {len(self._forwards)}:
            raise RuntimeError(
                f"capture_selection: indexers ran {sorted(counts)} times in {len(self._forwards)} model forwards; "
                "pass the module you call (e.g. the ForCausalLM model)"
            )
        if not self._forwards:
            return self._empty()
        width = max(c.shape[-1] for chunks in self._chunks for c in chunks)
        selected = torch.stack(
            [
                torch.cat([torch.nn.functional.pad(c, (0, width - c.shape[-1]), value=-1) for c in chunks])
                for chunks in self._chunks
            ]
        )  # (L, N, K)
        token_ids, seq_index, position = self._forwards.flat()
        return SelectionTrace(
            selected,
            token_ids,
            seq_index,
            position,
            [m.index for m in self.layers],
            model_name(self.model),
        )

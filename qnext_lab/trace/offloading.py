"""Run a model with its experts offloaded: each MoE layer keeps ``slots`` experts in a fast buffer, the rest in a
slow tier, and a request for an expert that is not resident loads it (and counts the load).

The real counterpart of ``analysis.expert_cache``'s replay, with the same semantics: per layer, requests are
served in token order and, within a token, in rank order (the top-k sorted by weight, descending, stable, as
``capture`` records them), one at a time, from a cache that starts empty. So under greedy decoding the tokens
equal the run without offload, and the loads per layer equal ``expert_cache(trace, slots, policy)``'s misses on
the same run's trace (padding tokens of a batched forward are routed and loaded too, but a trace drops them:
compare single-sequence or unpadded runs).

While the block runs, the experts module's weights ARE the slot buffers (``gate_up_proj`` (slots, 2I, H),
``down_proj`` (slots, H, I), biases alike), so a wrong cache gives wrong results. The slow tier: on a CUDA model,
pinned host memory (the GPU copies move there and come back on exit, so the GPU really holds only the slots);
on the CPU, a memory-mapped safetensors file in a temporary folder, read one expert at a time. Each forward of
an experts module becomes a loop over its requests that loads misses and calls the module's own forward (so the
configured experts implementation, ``"qnext"`` or any other, does the math) on the slot buffers with the ids
remapped to slots, once per run of requests that needs no slot twice. Online policies only (``"lru"``,
``"lfu"``: the same rules as ``expert_cache``); ``"static"`` and ``"belady"`` need the future, so simulate them.
It takes the model lock for the block (``capture`` and ``generate`` inside it share it), composes with
``capture`` (the hooks see the real expert ids) and ``intervene``, and restores every parameter and forward on
exit, also on error. Inference only (the slot buffers do not train). It lives in ``trace/``, like ``intervene``,
because it needs ``moe_layers`` and the model lock.

    with ql.offload(model, slots=8) as off, ql.capture(model) as trace:
        ql.generate(model, tok, "What is 478 + 356?")
    off.misses            # {layer: loads}; off.bytes_moved; off.to_dataframe()

Dimension legend: T = tokens of a forward, k = top-k, E = experts, S = slots, H = hidden, I = expert width.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ..checks import as_int
from .lock import hold
from .moe_layers import find_moe_layers

__all__ = ["OFFLOAD_POLICIES", "Offload", "offload"]

OFFLOAD_POLICIES = ("lru", "lfu")
_MARK = "_qnext_lab_offload"


@dataclass
class Offload:
    """What an offloaded run did, per MoE layer (filled while the block runs)."""

    slots: int
    policy: str
    tier: str  # "pinned host memory" (CUDA) or "memory-mapped safetensors file" (CPU)
    expert_bytes: dict[int, int] = field(default_factory=dict)  # layer -> bytes of one expert's weights
    requests: dict[int, int] = field(default_factory=dict)  # layer -> expert requests served
    misses: dict[int, int] = field(default_factory=dict)  # layer -> experts loaded from the slow tier
    bytes_moved: int = 0  # bytes copied from the slow tier into the slots

    @property
    def hits(self) -> dict[int, int]:
        return {layer: self.requests[layer] - self.misses[layer] for layer in self.requests}

    def to_dataframe(self) -> Any:
        """One row per layer: layer, requests, hits, misses, hit_rate, bytes_moved (``expert_cache``'s columns + bytes)."""
        import pandas as pd

        rows = [
            (
                layer,
                n,
                n - self.misses[layer],
                self.misses[layer],
                (n - self.misses[layer]) / n if n else float("nan"),
                self.misses[layer] * self.expert_bytes[layer],
            )
            for layer, n in self.requests.items()
        ]
        return pd.DataFrame(rows, columns=["layer", "requests", "hits", "misses", "hit_rate", "bytes_moved"])


class _SlotCache:
    """Which expert sits in which slot, and whom to evict (LRU, or LFU with ties to the least recently used)."""

    def __init__(self, slots: int, policy: str) -> None:
        self.slots, self.policy = slots, policy
        self.resident: OrderedDict[int, int] = OrderedDict()  # expert -> slot, least recently used first
        self.count: dict[int, int] = {}  # expert -> requests so far (kept after eviction)

    def request(self, expert: int) -> tuple[int, bool]:
        """(slot holding ``expert`` after this request, whether it had to be loaded)."""
        self.count[expert] = self.count.get(expert, 0) + 1
        slot = self.resident.get(expert)
        if slot is not None:
            self.resident.move_to_end(expert)
            return slot, False
        if len(self.resident) < self.slots:
            slot = len(self.resident)
        elif self.policy == "lru":
            _, slot = self.resident.popitem(last=False)
        else:  # lfu: fewest requests, then least recent (resident is in recency order, min keeps the first)
            victim = min(self.resident, key=self.count.__getitem__)
            slot = self.resident.pop(victim)
        self.resident[expert] = slot
        return slot, True


class _Layer:
    """One MoE layer under offload: its slot buffers, its slow tier, its cache and its forward."""

    def __init__(self, index: int, module: nn.Module, slots: int, policy: str, stats: Offload, store: Any) -> None:
        self.index, self.module, self.stats = index, module, stats
        self.cache = _SlotCache(slots, policy)
        self.names = [n for n, p in module.named_parameters(recurse=False) if p.shape[:1] == (module.num_experts,)]
        self.originals = {n: getattr(module, n) for n in self.names}
        self.store = store  # name -> callable(expert) -> tensor of one expert (the slow tier)
        # filled with real weights (the first experts) so that a first-use self-check of the Triton path sees real
        # numbers; the cache still starts empty: every slot is loaded before a request uses it
        self.buffers = {n: p[:slots].detach().clone() for n, p in self.originals.items()}
        stats.expert_bytes[index] = sum(p[0].nbytes for p in self.originals.values())
        stats.requests[index] = 0
        stats.misses[index] = 0

    def install(self) -> None:
        for n, buf in self.buffers.items():
            setattr(self.module, n, nn.Parameter(buf, requires_grad=False))
        self.module.forward = self.forward  # instance attribute: nn.Module.__call__ still runs the hooks first
        setattr(self.module, _MARK, True)

    def restore(self) -> None:
        for n, p in self.originals.items():
            setattr(self.module, n, p)
        self.module.__dict__.pop("forward", None)
        self.module.__dict__.pop(_MARK, None)

    def _load(self, expert: int, slot: int) -> None:
        for n, buf in self.buffers.items():
            buf[slot].copy_(self.store[n](expert))
        self.stats.misses[self.index] += 1
        self.stats.bytes_moved += self.stats.expert_bytes[self.index]

    def forward(
        self,
        hidden_states: torch.Tensor,  # (T, H)
        top_k_index: torch.Tensor,  # (T, k)
        top_k_weights: torch.Tensor,  # (T, k)
    ) -> torch.Tensor:  # (T, H)
        weights, order = top_k_weights.sort(dim=-1, descending=True, stable=True)  # rank order, as capture has it
        ids = top_k_index.gather(-1, order).tolist()  # (T, k) expert ids
        out = torch.zeros_like(hidden_states)
        pending: list[tuple[int, int, int]] = []  # (token, rank, slot) served by the current buffers
        used: set[int] = set()
        for t, row in enumerate(ids):
            for r, expert in enumerate(row):
                slot, load = self.cache.request(expert)
                if load:
                    if slot in used:  # the slot still holds an expert pending requests need: run them first
                        self._run(hidden_states, weights, pending, out)
                        pending, used = [], set()
                    self._load(expert, slot)
                pending.append((t, r, slot))
                used.add(slot)
        self.stats.requests[self.index] += sum(len(row) for row in ids)
        self._run(hidden_states, weights, pending, out)
        return out

    def _run(self, x: torch.Tensor, weights: torch.Tensor, pending: list, out: torch.Tensor) -> None:
        """Add the pending requests' contributions: the module's own forward on the slots, other ranks weight 0."""
        if not pending:
            return
        tokens = sorted({t for t, _, _ in pending})
        row_of = {t: i for i, t in enumerate(tokens)}
        k = weights.shape[1]
        slot_ids = torch.zeros((len(tokens), k), dtype=torch.long)  # (T', k)
        keep = torch.zeros((len(tokens), k), dtype=torch.bool)  # (T', k)
        for t, r, slot in pending:
            slot_ids[row_of[t], r] = slot
            keep[row_of[t], r] = True
        rows = torch.tensor(tokens, device=x.device)
        keep = keep.to(x.device)
        w = torch.where(keep, weights[rows], torch.zeros((), dtype=weights.dtype, device=x.device))  # (T', k)
        y = type(self.module).forward(self.module, x[rows], slot_ids.to(x.device), w)  # (T', H)
        if len(tokens) == x.shape[0]:
            out += y
        else:
            out.index_add_(0, rows, y)


def _store_cpu(layers: list[Any], folder: Path) -> dict[int, dict[str, Any]]:
    """Write every layer's expert weights to one safetensors file; read back one expert at a time, memory-mapped."""
    path = folder / "experts.safetensors"
    save_file(
        {
            f"{m.index}.{n}": p.detach().contiguous()
            for m in layers
            for n, p in m.experts.named_parameters(recurse=False)
        },
        str(path),
    )
    handle = safe_open(str(path), framework="pt", device="cpu")
    return {
        m.index: {
            n: handle.get_slice(f"{m.index}.{n}").__getitem__ for n, _ in m.experts.named_parameters(recurse=False)
        }
        for m in layers
    }


@contextmanager
def offload(model: nn.Module, slots: int, policy: str = "lru", *, timeout: float | None = None) -> Iterator[Offload]:
    """Run ``model`` with ``slots`` experts per MoE layer in a fast buffer and the rest in a slow tier (module doc).

    Yields an :class:`Offload` whose ``misses`` (layer -> loads), ``requests`` and ``bytes_moved`` fill as the
    model runs. ``policy``: ``"lru"`` or ``"lfu"``. Holds the model lock for the block (``timeout`` as for
    ``capture``); everything is restored on exit, also on error.
    """
    if not isinstance(policy, str) or policy not in OFFLOAD_POLICIES:
        hint = " (they need the future: simulate them with expert_cache)" if policy in ("static", "belady") else ""
        raise ValueError(f"policy must be one of {OFFLOAD_POLICIES}, got {policy!r}{hint}")
    found = find_moe_layers(model)
    num_experts = min(m.num_experts for m in found)
    slots = as_int(slots, "slots", low=1, high=num_experts, hint=f" (experts per layer; the model has {num_experts})")
    with hold(model, timeout=timeout, what="offload"):
        if any(getattr(m.experts, _MARK, False) for m in found):
            raise ValueError("this model is already running under offload(); offload blocks do not nest")
        cuda = next(found[0].experts.parameters()).device.type == "cuda"
        folder = None if cuda else Path(tempfile.mkdtemp(prefix="qnext-offload-"))
        stats = Offload(slots, policy, "pinned host memory" if cuda else "memory-mapped safetensors file")
        layers: list[_Layer] = []
        moved: list[tuple[nn.Parameter, torch.Tensor]] = []  # CUDA: (parameter, its copy in pinned host memory)
        try:
            if cuda:
                stores = {}
                for m in found:
                    stores[m.index] = {}
                    for n, p in m.experts.named_parameters(recurse=False):
                        host = p.detach().to("cpu").pin_memory()
                        moved.append((p, host))
                        stores[m.index][n] = host.__getitem__
                layers = [_Layer(m.index, m.experts, slots, policy, stats, stores[m.index]) for m in found]
                for p, _ in moved:  # the GPU now holds only the slots; the full weights wait in host memory
                    p.data = torch.empty(0, dtype=p.dtype, device=p.device)
            else:
                stores = _store_cpu(found, folder)
                layers = [_Layer(m.index, m.experts, slots, policy, stats, stores[m.index]) for m in found]
            for layer in layers:
                layer.install()
            yield stats
        finally:
            for layer in layers:
                layer.restore()
            for p, host in moved:
                if p.numel() == 0:
                    p.data = host.to(p.device)
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

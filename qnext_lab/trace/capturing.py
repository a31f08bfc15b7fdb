"""capture(): record the routing of every token a model processes into a RoutingTrace.

Hooks, all removed on exit (also on error or KeyboardInterrupt):
- a forward pre-hook (with kwargs) on the model you pass, to learn ``input_ids`` / ``attention_mask`` / the
  cache length of each forward, so that padding is dropped and each token gets its sequence and position;
- a forward pre-hook on every experts module, which sees ``(hidden_states, top_k_index, top_k_weights)``
  whatever experts implementation runs (``"qnext"``, ``"eager"``, ``"grouped_mm"``, ...); for the families
  whose experts module does not see the router's real choice (``families.registry``, ``capture="router"``:
  Llama 4, JetMoE, LongCat-Flash's zero-computation experts) a forward hook on the router reads it instead;
- with ``probs=True``, a forward hook on each router, turning its ``router_logits`` into probabilities, and,
  where the family's rule chooses with a bias the combine weights do not use (``families.rules``:
  ``selection_bias``; DeepSeek-V3/V3.2, GLM-4.5, Kimi Linear, MiniMax-M2, LongCat-Flash, ...), into the
  biased selection scores the router's top-k compared (``RoutingTrace.selection_scores``).

Hooks only slice tensors and append them to lists (no host sync per layer); everything is joined,
moved to the CPU and sorted into rank order once, on exit. Knows nothing about figures or chat templates.

Threads: the block holds the model's lock (``trace.lock``) from entry to exit, so another thread's
``generate``/``capture``/``intervene`` on the same model waits for it (``timeout=`` bounds this thread's
own wait). The hooks record only the forwards of the thread that opened the block (``trace.hooks``), so a
forward run beside it without the lock is never recorded; open the capture on the thread that runs the
model. Each ``with`` returns a new trace: a capture object used again never overwrites an earlier one.

    with qnext_lab.capture(model) as trace:
        model.generate(**batch, max_new_tokens=20)
    trace.to_dataframe()

``generate`` never feeds its last sampled token back through the model, so that token has no routing.
With ``num_beams > 1`` sequences are beam rows. Dimension legend: B = batch rows, t = new tokens in this
forward, S = cached + new tokens, T = B*t, n = non-padding tokens, k = top-k, E = experts, L = layers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from ..families.config_fields import top_k as config_top_k
from ..families.registry import read_router_output
from .blocks import RecordingBlock
from .forwards import Forward, ForwardHooks, ForwardLog
from .hooks import ThreadHooks
from .moe_layers import MoELayer, find_moe_layers, router_probs, select_layers, selection_bias
from .routing_trace import RoutingTrace


@dataclass
class _Forward:
    """What the model pre-hook learned about one forward call."""

    rows: torch.Tensor | None  # int64 (n,) flat rows of (B*t) that are not padding; None = all rows
    num_rows: int  # T = B*t


def model_name(model: nn.Module) -> str:
    """What a trace records as its model: the checkpoint's name or path, else the class name."""
    name = getattr(model, "name_or_path", "") or getattr(getattr(model, "config", None), "_name_or_path", "")
    return str(name) or type(model).__name__


class capture(ForwardHooks, RecordingBlock):  # used as a function: `with capture(model) as trace:`
    """Context manager that fills a RoutingTrace with the routing of everything ``model`` processes.

    Args:
        model: a transformers MoE model (the module you call: ``model(...)`` / ``model.generate(...)``).
        probs: also record the full router distribution (L, N, E) float32 (softmax of the router logits;
            sigmoid scores for DeepSeek-V3-style routers). Costs E floats per token and layer. For routers
            that choose with a selection-only bias (the registry's rule says ``selection_bias``) it also
            records ``selection_scores`` (L, N, E): the scores plus that bias, what the top-k compared
            (E more floats per token and layer; None for every other router).
        layers: decoder-layer indices to record: one index or a list (numpy / torch integers too; default:
            every MoE layer).
        timeout: seconds to wait for another thread that holds the model (``None``: as long as it takes);
            then ``ModelBusyError``.
        keep_rows: called before each forward; returns a bool tensor (B,) of the batch rows to record, or
            None for all. The generation engine passes the rows still generating, so the padding a batched
            ``generate`` feeds finished rows is not recorded as tokens.

    The trace returned by ``__enter__`` is empty until the block exits; then it holds every token of this
    thread's forwards inside the block. The lock, the hooks and the block's life: ``blocks.RecordingBlock``.
    """

    WHAT = "capture"

    def __init__(
        self,
        model: nn.Module,
        probs: bool = False,
        layers: int | Iterable[int] | None = None,
        *,
        timeout: float | None = None,
        keep_rows: Callable[[], torch.Tensor | None] | None = None,
    ) -> None:
        if not isinstance(probs, bool):
            raise TypeError(f"probs must be True or False, got {probs!r}")
        all_layers = select_layers(find_moe_layers(model), layers)
        if probs:
            for m in all_layers:
                if m.router is None:
                    raise ValueError(f"probs=True: no router module (.gate / .router) next to {m.path}")
                if m.probs_kind is None:
                    raise ValueError(
                        f"probs=True: don't know how {type(m.router).__name__} turns logits into probabilities "
                        "(the families registered in qnext_lab.families with a known router rule; see "
                        "docs/families.md). Capture with probs=False (ids and weights are exact for every "
                        "family), or set `router.qnext_lab_probs_kind = 'softmax'` (or 'sigmoid') if that is "
                        "what it does."
                    )
        self.model = model
        self.probs = probs
        rules = [m.rule for m in all_layers]  # scores with a selection-only bias: recorded where every layer has one
        self.selection = probs and all(r is not None and r.selection_bias for r in rules)
        self.timeout = timeout
        self.keep_rows = keep_rows
        self.layers: list[MoELayer] = all_layers
        self.trace: RoutingTrace | None = None  # the trace of the latest block (a new object for each block)
        self._reset()

    # ------------------------------------------------------------------ state
    def _reset(self) -> None:
        L = len(self.layers)
        self._ids: list[list[torch.Tensor]] = [[] for _ in range(L)]  # per layer: (n, k) per forward
        self._weights: list[list[torch.Tensor]] = [[] for _ in range(L)]
        self._probs: list[list[torch.Tensor]] = [[] for _ in range(L)]  # per layer: (n, E) per forward
        self._scores: list[list[torch.Tensor]] = [[] for _ in range(L)]  # per layer: (n, E) biased, per forward
        self._forwards = ForwardLog()  # tokens, sequences and positions of each forward (forwards.py)
        self._current: _Forward | None = None
        self._orphan_calls = 0
        self._misaligned: str | None = None

    def _config_top_k(self) -> int:
        config = getattr(self.model, "config", None)
        k = config_top_k(config) if config is not None and hasattr(config, "model_type") else None
        return min(k, self.layers[0].num_experts) if k else 1

    def _empty(self) -> RoutingTrace:
        L, k = len(self.layers), self._config_top_k()
        E = self.layers[0].num_experts
        return RoutingTrace(
            topk_ids=torch.zeros(L, 0, k, dtype=torch.int32),
            topk_weights=torch.zeros(L, 0, k),
            token_ids=torch.zeros(0, dtype=torch.int64),
            seq_index=torch.zeros(0, dtype=torch.int32),
            position=torch.zeros(0, dtype=torch.int32),
            layer_indices=[m.index for m in self.layers],
            num_experts=E,
            top_k=k,
            model_name=model_name(self.model),
            probs=torch.zeros(L, 0, E) if self.probs else None,
            selection_scores=torch.zeros(L, 0, E) if self.selection else None,
            hash_layers=[m.index for m in self.layers if m.hashed],
            zero_experts=self.layers[0].zero_experts,
        )

    # ------------------------------------------------------------------ hooks
    def _on_forward(self, forward: Forward) -> _Forward:
        # Runs once per forward (every decode step): only the few ops needed to drop padding here; tokens,
        # sequences and positions are expanded on exit.
        B, t, mask = forward.B, forward.t, forward.mask
        rows = None
        if mask is not None:
            new = mask[:, -t:]  # (B, t) the new tokens are the last columns
            if t == 1:
                position = mask.sum(1, keepdim=True) - 1  # (B, 1) padding not counted
            else:
                position = mask.cumsum(1)[:, -t:] - 1  # (B, t)
        else:
            position = torch.arange(forward.past, forward.past + t, device=forward.device).expand(B, t)
            new = None
        keep = self.keep_rows() if self.keep_rows is not None else None
        if keep is not None:  # (B,) rows the caller still wants
            new = (
                new.bool() if new is not None else torch.ones(B, t, dtype=torch.bool, device=forward.device)
            ) & keep.to(forward.device).reshape(B, 1)
        if new is not None and not bool(new.all()):  # one host sync per forward, none per layer
            rows = new.reshape(-1).nonzero().flatten()  # (n,) flat rows that are not padding
        self._forwards.add(forward, position, rows)
        return _Forward(rows=rows, num_rows=B * t)

    def _select(self, layer_pos: int, x: torch.Tensor) -> torch.Tensor | None:
        current = self._current
        if current is None:
            self._orphan_calls += 1
            return None
        x = x.detach()
        if x.shape[0] != current.num_rows:
            self._misaligned = (
                f"layer {self.layers[layer_pos].index} routed {x.shape[0]} tokens in a forward "
                f"of {current.num_rows} tokens"
            )
            return None
        return x if current.rows is None else x.index_select(0, current.rows)

    def _experts_hook(self, layer_pos: int):
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            ids = kwargs.get("top_k_index", args[1] if len(args) > 1 else None)
            weights = kwargs.get("top_k_weights", args[2] if len(args) > 2 else None)
            if ids is None or weights is None:
                self._misaligned = f"{self.layers[layer_pos].path} was called without top_k_index/top_k_weights"
                return
            ids = self._select(layer_pos, ids.reshape(-1, ids.shape[-1]))
            weights = self._select(layer_pos, weights.reshape(-1, weights.shape[-1]))
            if ids is not None and weights is not None:
                self._ids[layer_pos].append(ids)
                self._weights[layer_pos].append(weights)

        return hook

    def _router_hook(self, layer_pos: int):
        layer = self.layers[layer_pos]
        kind = layer.probs_kind if self.probs else None

        def hook(module: nn.Module, args: tuple, output: object) -> None:
            if layer.from_router:  # the router's output is the record (the experts module never sees it)
                logits, ids, weights = read_router_output(layer.family, module, output)
                ids = self._select(layer_pos, ids.reshape(-1, ids.shape[-1]))
                weights = self._select(layer_pos, weights.reshape(-1, weights.shape[-1]))
                if ids is not None and weights is not None:
                    self._ids[layer_pos].append(ids)
                    self._weights[layer_pos].append(weights)
            else:
                logits = output[0] if isinstance(output, (tuple, list)) else output
            if kind is not None:
                logits = self._select(layer_pos, logits.reshape(-1, logits.shape[-1]))
                if logits is not None:
                    probs = router_probs(kind, logits)  # (n, E) float32
                    self._probs[layer_pos].append(probs)
                    if self.selection:
                        bias = selection_bias(module, args)  # (E,)
                        if bias is None or bias.shape != probs.shape[-1:]:
                            self._misaligned = (
                                f"{layer.path}: its router ({type(module).__name__}) selects with a bias, but no "
                                f"e_score_correction_bias of {probs.shape[-1]} experts was found on it or in its call"
                            )
                            return
                        self._scores[layer_pos].append(probs + bias.detach().float())

        return hook

    # ------------------------------------------------------------------ the block (blocks.RecordingBlock)
    def _install(self, hooks: ThreadHooks) -> None:
        hooks.pre(self.model, self._on_model_forward)
        hooks.post(self.model, self._after_model_forward, always_call=True)
        for pos, layer in enumerate(self.layers):
            if not layer.from_router:
                hooks.pre(layer.experts, self._experts_hook(pos))
            if self.probs or layer.from_router:
                hooks.post(layer.router, self._router_hook(pos))

    def _hooks_removed(self, hooks: ThreadHooks) -> None:
        if not self._forwards and hooks.foreign_calls:
            warnings.warn(
                "capture recorded nothing: the model ran only on other threads while the block was "
                "open. capture records the thread that opens it; open it where the model runs (or "
                "pass capture=True to generate / stream_generate)",
                stacklevel=3,  # the user's `with` (-> __exit__ -> here)
            )

    def _build(self) -> RoutingTrace:
        if self._misaligned:
            raise RuntimeError(f"capture could not line up routing with tokens: {self._misaligned}")
        if self._orphan_calls and not any(self._ids):
            warnings.warn(
                "capture: MoE layers ran, but never inside a forward of the model given to capture(); "
                "pass the module you call (e.g. the ForCausalLM model)",
                stacklevel=3,
            )
        counts = {len(chunks) for chunks in self._ids}
        if counts != {len(self._forwards)} and any(self._ids):
            # e.g. a layer skipped by early exit: keep only forwards every layer saw is ambiguous; refuse
            raise RuntimeError(
                f"capture: MoE layers ran a different number of times ({sorted(counts)}) than the "
                f"model ({len(self._forwards)} forwards)"
            )
        if not any(self._ids):
            return self._empty()
        widths = {chunk.shape[-1] for chunks in self._ids for chunk in chunks}
        if len(widths) > 1:
            raise RuntimeError(
                f"capture: the number of experts per token changed during the capture ({sorted(widths)}); "
                "capture each routing setting (e.g. each intervene(top_k=...)) separately"
            )
        ids = torch.stack([torch.cat(chunks) for chunks in self._ids]).cpu()  # (L, N, k)
        weights = torch.stack([torch.cat(chunks) for chunks in self._weights]).float().cpu()  # (L, N, k)
        weights, order = weights.sort(dim=-1, descending=True, stable=True)  # rank order
        ids = ids.gather(-1, order)
        probs = torch.stack([torch.cat(chunks) for chunks in self._probs]).cpu() if self.probs else None  # (L, N, E)
        scores = (
            torch.stack([torch.cat(chunks) for chunks in self._scores]).cpu() if self.selection else None
        )  # (L, N, E)
        token_ids, seq_index, position = self._forwards.flat()
        return RoutingTrace(
            topk_ids=ids,
            topk_weights=weights,
            token_ids=token_ids,
            seq_index=seq_index,
            position=position,
            layer_indices=[m.index for m in self.layers],
            num_experts=self.layers[0].num_experts,
            top_k=ids.shape[-1],
            model_name=model_name(self.model),
            probs=probs,
            selection_scores=scores,
            hash_layers=[m.index for m in self.layers if m.hashed],
            zero_experts=self.layers[0].zero_experts,
        )

"""The CPU runtime of the "qnext" experts: pure torch, fast, differentiable.

Dimension legend: T = tokens, k = experts per token, S = T*k slots, H = hidden, I = expert intermediate,
E = experts, A = experts active in this call (A <= min(S, E)).

Three strategies, chosen per call by size:
- small experts x few slots (<= 2 MB of weights to copy, e.g. the bundled model's decode): copy each slot's
  expert weights and run two batched matmuls, no sort, ~10 ops per call;
- otherwise one sort of the S slots by expert, then one fused C++ grouped matmul over all groups
  (``torch.nn.functional.grouped_mm``, when its 16-byte stride rule holds, no gradient is needed and there
  are more than 32 slots) or one ``linear -> gate -> linear`` per ACTIVE expert (A of them, never all E).
In fp32 the routing weight scales the (S, I) activations before the down projection, not its (S, H)
output: the same product (W2 is linear), fewer multiplies. The k contributions of a token are
combined in fp32: with one thread by ``index_add_`` (sequential: deterministic), otherwise by unsorting and
summing each token's k rows in rank order (``index_add_`` with 2+ CPU threads is ~100x slower). Works with any experts module
that follows transformers v5's contract: it calls the module's own ``_apply_gate`` (GPT-OSS's clamped
SwiGLU included), ``act_fn`` when ``has_gate`` is False, and ``post_expert_norm`` when present.

Inside ``torch.compile`` (``torch.compiler.is_compiling()``) nothing may depend on the routing's values on the
host (a ``.tolist()`` of the counts is a data-dependent guard, ``GuardOnDataDependentSymNode`` under
``fullgraph=True``): the small case is the gathered batched matmuls as in eager; otherwise the slots are sorted,
the group offsets come from ``searchsorted`` (a fixed (E,) shape) and both projections go through
transformers' ``grouped_mm_fallback`` custom op (opaque to the compiler, its one host sync happens at run
time, differentiable), and the k contributions are combined by unsort + rank-order sum. No module-global
state is read on any path. Knows nothing about Triton or routing capture.

    out = torch_experts_forward(module, hidden_states, top_k_index, top_k_weights)   # (T, H)
"""

import torch
import torch.nn.functional as F
import transformers.integrations.moe  # noqa: F401  registers torch.ops.transformers.grouped_mm_fallback

__all__ = ["grouped_mm_usable", "torch_experts_forward"]

_LOOP_MAX_SLOTS = 32  # up to this many (token, expert) slots, loop over active experts instead of grouped_mm
# Up to this many bytes of gathered expert weights, copy each slot's weights and run two batched matmuls:
# for small experts (the bundled model's are 48 KB) a decode step is then ~10 ops instead of ~8 per expert.
_GATHER_MAX_BYTES = 2 * 2**20


def _projections(module: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    if module.has_gate:
        return module.gate_up_proj, getattr(module, "gate_up_proj_bias", None) if module.has_bias else None
    return module.up_proj, getattr(module, "up_proj_bias", None) if module.has_bias else None


def _activate(module: torch.nn.Module, pre: torch.Tensor) -> torch.Tensor:
    # The module's own gate keeps every family's quirks (interleaving, clamps) without copying them here.
    return module._apply_gate(pre) if module.has_gate else module.act_fn(pre)


def grouped_mm_usable(hidden_states: torch.Tensor, weights: tuple[torch.Tensor, ...]) -> bool:
    """Whether torch's fused grouped matmul can take these tensors on this call.

    Its CPU kernel needs 16-byte aligned strides and data pointers (odd H or I fail with
    "strides should be multiple of 16 bytes"), and its backward on CPU is fragile, so it is used for
    inference only; training takes the per-expert loop, which autograd differentiates directly.
    """
    if not hasattr(F, "grouped_mm") or hidden_states.device.type != "cpu":
        return False
    if torch.is_grad_enabled() and (hidden_states.requires_grad or any(w.requires_grad for w in weights)):
        return False
    if hidden_states.dtype not in (torch.float32, torch.bfloat16):
        return False
    item = hidden_states.element_size()
    for t in (hidden_states, *weights):
        if t.dtype != hidden_states.dtype or t.data_ptr() % 16:
            return False
        if any((s * item) % 16 for s, n in zip(t.stride(), t.shape) if n > 1 and s != 1):
            return False
    # Row strides of the activations it makes are H, 2I and I elements: all must be 16-byte multiples.
    return all((n * item) % 16 == 0 for w in weights for n in w.shape[-2:])


def _mlp(module, rows, proj_bias, index, scale, gate_up, down):
    """The experts' MLP on ``rows`` with the strategy's two matmuls: ``gate_up(rows)`` (+ bias), the module's gate,
    the routing ``scale`` (if folded), ``down(act)`` (+ bias). ``index``: the expert of each row (or the one expert)."""
    pre = gate_up(rows)  # (S, 2I)
    if proj_bias is not None:
        pre = pre + proj_bias[index]
    act = _activate(module, pre)  # (S, I)
    if scale is not None:
        act = act * scale
    y = down(act)  # (S, H)
    if module.has_bias:
        y = y + module.down_proj_bias[index]
    return y


def _by_rows(module, proj):
    """(E, H, 2I) and (E, I, H) views of the two projections, rows times weights whatever the layout."""
    if module.is_transposed:
        return proj, module.down_proj
    return proj.transpose(-2, -1), module.down_proj.transpose(-2, -1)


def _fused_grouped_mm(x, w, offsets):
    return F.grouped_mm(x.contiguous(), w, offs=offsets)  # torch's fused kernel (eager, its stride rule checked)


def _traced_grouped_mm(x, w, offsets):
    # transformers' custom op: compiled graphs call it, never trace it (its one host sync happens at run time)
    return torch.ops.transformers.grouped_mm_fallback(x.to(w.dtype), w, offsets)


def _grouped(module, rows, proj, proj_bias, sorted_experts, offsets, scale, grouped_mm):
    """The sorted strategy: each projection is one ``grouped_mm`` over the experts' groups of rows (``offsets``:
    (E,) end row of each group)."""
    w1, w2 = _by_rows(module, proj)
    return _mlp(
        module,
        rows,
        proj_bias,
        sorted_experts,
        scale,
        lambda x: grouped_mm(x, w1, offsets),
        lambda act: grouped_mm(act, w2, offsets),
    )


def _per_active_expert(module, rows, proj, proj_bias, active, counts, scale):
    def linear(x, w):  # (c, in) rows times one expert's (out, in) weight, or its (in, out) transposed one
        return x @ w if module.is_transposed else F.linear(x, w)

    outs = []
    start = 0
    for expert, count in zip(active, counts):  # A iterations, one host sync before the loop
        part = slice(start, start + count)
        outs.append(
            _mlp(
                module,
                rows[part],  # (c, H)
                proj_bias,
                expert,
                None if scale is None else scale[part],
                lambda x, e=expert: linear(x, proj[e]),
                lambda act, e=expert: linear(act, module.down_proj[e]),
            )
        )  # (c, H)
        start += count
    return torch.cat(outs)  # (S, H)


def _gathered(module, hidden_states, flat, top_k, proj, proj_bias, scale):
    num_tokens, hidden = hidden_states.shape
    # (S, H) in slot order, no sort; a view (stride 0) for one token, where decode spends its time
    x = hidden_states.unsqueeze(1).expand(num_tokens, top_k, hidden).reshape(num_tokens * top_k, hidden)

    def per_slot(v, w):  # (S, in) rows times each slot's own (S, out, in) weights, or (S, in, out) transposed
        if module.is_transposed:
            return torch.bmm(v.unsqueeze(1), w).squeeze(1)  # (S, out)
        return torch.bmm(w, v.unsqueeze(-1)).squeeze(-1)

    # proj[flat] and down_proj[flat] copy each slot's weights: small, by the caller's check
    return _mlp(
        module,
        x,
        proj_bias,
        flat,
        scale,
        lambda v: per_slot(v, proj[flat]),
        lambda act: per_slot(act, module.down_proj[flat]),
    )


def torch_experts_forward(
    module: torch.nn.Module,
    hidden_states: torch.Tensor,  # (T, H)
    top_k_index: torch.Tensor,  # (T, k)
    top_k_weights: torch.Tensor,  # (T, k)
) -> torch.Tensor:  # (T, H)
    num_tokens, top_k = top_k_index.shape
    num_experts = module.num_experts
    compiling = torch.compiler.is_compiling()  # a constant to the compiler: picks the sync-free formulation
    flat = top_k_index.reshape(-1)  # (S,)
    if flat.numel() == 0:
        return torch.zeros_like(hidden_states)
    proj, proj_bias = _projections(module)
    # W2 is linear, so the routing weight can scale the (S, I) activations instead of the (S, H) outputs
    # (I < H in every MoE we know): exact unless a bias or a norm follows W2; fp32 only, so 16-bit
    # models keep their weighting in fp32 after the down projection.
    fold = not module.has_bias and not getattr(module, "has_post_expert_norm", False) and proj.dtype == torch.float32
    gather_bytes = (
        flat.numel()
        * (proj.shape[1] * proj.shape[2] + module.down_proj.shape[1] * module.down_proj.shape[2])
        * proj.element_size()
    )
    if gather_bytes <= _GATHER_MAX_BYTES:
        order = token_of_row = None  # slot order kept: slot s is token s // k
        scale = top_k_weights.reshape(-1, 1).float() if fold else None
        y = _gathered(module, hidden_states, flat, top_k, proj, proj_bias, scale)
        route_w = top_k_weights.reshape(-1, 1)
    else:
        sorted_experts, order = torch.sort(flat, stable=True)  # (S,) the one sort
        token_of_row = order // top_k  # (S,)
        rows = hidden_states[token_of_row]  # (S, H) grouped by expert
        route_w = top_k_weights.reshape(-1)[order].unsqueeze(-1)  # (S, 1) weights in sorted order
        scale = route_w.float() if fold else None
        if compiling:  # no host sync in the traced graph: group ends by searchsorted, a fixed (E,) shape
            experts = torch.arange(num_experts, device=flat.device, dtype=sorted_experts.dtype)  # (E,)
            offsets = torch.searchsorted(sorted_experts, experts, right=True)  # (E,) end row of each group
            y = _grouped(module, rows, proj, proj_bias, sorted_experts, offsets, scale, _traced_grouped_mm)
        # Few slots (decode): a Python loop over the few active experts beats grouped_mm's walk over all
        # E groups (measured at E=512: 1.8 vs 3.0 ms for one token, k=10; see docs/benchmarks.md).
        elif flat.numel() > _LOOP_MAX_SLOTS and grouped_mm_usable(rows, (proj, module.down_proj)):
            offsets = torch.cumsum(torch.bincount(flat, minlength=num_experts), 0, dtype=torch.int32)  # (E,)
            y = _grouped(module, rows, proj, proj_bias, sorted_experts, offsets, scale, _fused_grouped_mm)
        else:
            counts = torch.bincount(flat, minlength=num_experts)  # (E,)
            active = torch.nonzero(counts).squeeze(1)  # (A,)
            y = _per_active_expert(module, rows, proj, proj_bias, active.tolist(), counts[active].tolist(), scale)

    if getattr(module, "has_post_expert_norm", False):
        y = module.post_expert_norm(y)
    if not fold:
        y = y.float() * route_w.float()  # (S, H) fp32
    if order is None:  # slot order: sum each token's k rows in rank order
        return y.float().view(num_tokens, top_k, -1).sum(dim=1).to(hidden_states.dtype)
    if not compiling and y.device.type == "cpu" and torch.get_num_threads() == 1:
        out = torch.zeros(num_tokens, y.shape[-1], dtype=torch.float32, device=y.device)  # (T, H)
        out.index_add_(0, token_of_row, y.float())  # fp32 combine of the k contributions, sequential on CPU
    else:
        # CUDA's index_add_ uses atomics (order varies), and CPU's with 2+ threads costs ~100x its 1-thread time
        # (measured 241 vs 2.8 ms for 2560 rows of 1024, docs/benchmarks.md): unsort, then sum the k rows in
        # rank order, both parallel and deterministic.
        out = y.float().new_empty(y.shape).index_copy_(0, order, y.float()).view(num_tokens, top_k, -1).sum(dim=1)
    return out.to(hidden_states.dtype)

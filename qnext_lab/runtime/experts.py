"""The "qnext" experts implementation registered in transformers' ExpertsInterface.

Knows the experts-module contract of transformers v5 (weights ``gate_up_proj`` (E, 2I, H) and
``down_proj`` (E, H, I), flags ``has_gate``/``has_bias``/``is_transposed``/``is_concatenated``);
knows nothing about routing capture or widgets.

    import qnext_lab  # registers "qnext"
    model.set_experts_implementation("qnext")
"""

from __future__ import annotations

import torch
from transformers.integrations.moe import ALL_EXPERTS_FUNCTIONS

IMPLEMENTATION_NAME = "qnext"


def qnext_experts_forward(
    self: torch.nn.Module,
    hidden_states: torch.Tensor,  # (T, H)
    top_k_index: torch.Tensor,  # (T, k)
    top_k_weights: torch.Tensor,  # (T, k)
) -> torch.Tensor:  # (T, H)
    # T = tokens, k = experts per token, S = T*k routed slots, H = hidden, I = expert intermediate.
    num_tokens, k = top_k_index.shape
    flat_ids = top_k_index.reshape(-1)  # (S,)
    order = torch.argsort(flat_ids, stable=True)  # (S,) slots grouped by expert
    counts = torch.bincount(flat_ids, minlength=self.num_experts).tolist()
    rows = hidden_states[order // k]  # (S, H)
    out = torch.empty(order.numel(), hidden_states.shape[-1], dtype=torch.float32, device=hidden_states.device)
    start = 0
    for expert, count in enumerate(counts):
        if count == 0:
            continue
        x = rows[start : start + count]
        gate_up = x @ self.gate_up_proj[expert].T  # (c, 2I)
        gate, up = gate_up.chunk(2, dim=-1)
        y = (self.act_fn(gate) * up) @ self.down_proj[expert].T  # (c, H)
        out[start : start + count] = y.float()
        start += count
    weighted = torch.empty_like(out)
    weighted[order] = out * top_k_weights.reshape(-1)[order, None].float()
    return weighted.view(num_tokens, k, -1).sum(dim=1).to(hidden_states.dtype)


def register_experts_implementation() -> None:
    """Register ``"qnext"`` in transformers' global ExpertsInterface (idempotent)."""
    ALL_EXPERTS_FUNCTIONS.register(IMPLEMENTATION_NAME, qnext_experts_forward)

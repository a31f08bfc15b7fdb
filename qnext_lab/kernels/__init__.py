"""MoE kernels: routing, alignment, grouped GEMMs (Triton) and their pure-torch references.

Knows nothing about transformers. Every Triton kernel has a ``*_reference`` beside it; the backend
(``QNEXT_LAB_BACKEND=auto|triton|torch``) picks one per call.

    from qnext_lab.kernels import ExpertWeights, moe_forward
    res = moe_forward(x, router_logits, ExpertWeights(w1, w2), top_k=2)
"""

from __future__ import annotations

from .._lazy import lazy_exports

# public name -> module of this package (imported on first access; see qnext_lab/_lazy.py)
__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AlignResult": "align",
        "ExpertWeights": "layout",
        "GemmConfig": "tuning",
        "HAS_TRITON": "backend",
        "MoeResult": "moe",
        "align_block_size": "align",
        "align_reference": "align",
        "down_combine": "gemm_down",
        "down_reference": "gemm_down",
        "gate_up": "gemm_gate_up",
        "gate_up_reference": "gemm_gate_up",
        "moe_experts": "moe",
        "moe_forward": "moe",
        "pick_config": "tuning",
        "resolve_backend": "backend",
        "route": "routing",
        "route_reference": "routing",
    },
)

"""MoE kernels: routing, alignment, grouped GEMMs (Triton) and their pure-torch references.

Knows nothing about transformers. Every Triton kernel has a ``*_reference`` beside it; the backend
(``QNEXT_LAB_BACKEND=auto|triton|torch``) picks one per call.

    from qnext_lab.kernels import ExpertWeights, moe_forward
    res = moe_forward(x, router_logits, ExpertWeights(w1, w2), top_k=2)
"""

from .align import AlignResult, align_block_size, align_reference
from .backend import HAS_TRITON, resolve_backend
from .gemm_down import down_combine, down_reference
from .gemm_gate_up import gate_up, gate_up_reference
from .layout import ExpertWeights
from .moe import MoeResult, moe_experts, moe_forward
from .routing import route, route_reference
from .tuning import GemmConfig, pick_config

__all__ = [
    "HAS_TRITON",
    "AlignResult",
    "ExpertWeights",
    "GemmConfig",
    "MoeResult",
    "align_block_size",
    "align_reference",
    "down_combine",
    "down_reference",
    "gate_up",
    "gate_up_reference",
    "moe_experts",
    "moe_forward",
    "pick_config",
    "resolve_backend",
    "route",
    "route_reference",
]

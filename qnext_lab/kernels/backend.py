"""Backend choice for the MoE kernels: Triton or pure torch.

Knows whether Triton is importable and whether its CPU interpreter is on; knows nothing about
transformers or models. ``QNEXT_LAB_BACKEND`` picks the backend for the whole process:

- ``auto`` (default): Triton for CUDA tensors, torch for CPU tensors;
- ``triton``: Triton everywhere (CPU tensors need ``TRITON_INTERPRET=1`` set before triton is imported);
- ``torch``: the pure-torch references / CPU runtime everywhere.

    from qnext_lab.kernels.backend import resolve_backend
    resolve_backend(hidden_states)  # -> "triton" or "torch"
"""

import importlib.util
import os

import torch

# Whether triton is installed, without importing it (importing triton costs seconds; a CPU-only set-up has
# none: torch's CUDA wheels bring it, CPU machines never run it outside tests). The kernels import it
# through ``triton_lang`` when they are first used.
HAS_TRITON = importlib.util.find_spec("triton") is not None

BACKENDS = ("auto", "triton", "torch")
ENV_VAR = "QNEXT_LAB_BACKEND"

__all__ = ["BACKENDS", "ENV_VAR", "HAS_TRITON", "interpreting", "requested_backend", "resolve_backend"]


def interpreting() -> bool:
    """True when Triton's CPU interpreter is on (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def requested_backend(backend: str | None = None) -> str:
    """The backend asked for: the argument if given, else ``QNEXT_LAB_BACKEND``, else ``"auto"``."""
    name = (backend if backend is not None else os.environ.get(ENV_VAR, "auto")).strip().lower()
    if name not in BACKENDS:
        source = "backend argument" if backend is not None else f"{ENV_VAR} environment variable"
        raise ValueError(f"unknown qnext-lab backend {name!r} (from the {source}); choose one of {BACKENDS}")
    return name


def resolve_backend(tensor: torch.Tensor, backend: str | None = None) -> str:
    """Return ``"triton"`` or ``"torch"`` for computing on ``tensor``.

    ``auto`` uses Triton only for CUDA tensors (the interpreter is for tests, never chosen implicitly).
    An explicit ``triton`` that cannot run raises, so a test or benchmark never measures the wrong path.
    """
    name = requested_backend(backend)
    if name == "torch":
        return "torch"
    if name == "auto":
        return "triton" if HAS_TRITON and tensor.is_cuda else "torch"
    if not HAS_TRITON:
        raise RuntimeError(
            f"{ENV_VAR}=triton but triton is not installed; install triton (Linux) or use {ENV_VAR}=torch"
        )
    if not tensor.is_cuda and not interpreting():
        raise RuntimeError(
            f"{ENV_VAR}=triton with {tensor.device.type} tensors needs Triton's interpreter: set "
            "TRITON_INTERPRET=1 before triton is imported, or move the model to a CUDA device"
        )
    return "triton"

"""Backend choice for the MoE kernels: Triton or pure torch.

Knows whether Triton is importable and whether its CPU interpreter is on; knows nothing about
transformers or models. ``QNEXT_LAB_BACKEND`` picks the backend for the whole process:

- ``auto`` (default): Triton for CUDA tensors, torch for CPU tensors;
- ``triton``: Triton everywhere (CPU tensors need ``TRITON_INTERPRET=1`` set before triton is imported);
- ``torch``: the pure-torch references / CPU runtime everywhere.

    from qnext_lab.kernels.backend import resolve_backend
    resolve_backend(hidden_states)  # -> "triton" or "torch"
"""

import os

import torch

try:  # Triton is Linux-only; the kit must work without it.
    import triton
    import triton.language as tl

    HAS_TRITON = True
except ImportError:  # pragma: no cover - exercised only on machines without triton
    HAS_TRITON = False

    class _MissingLanguage:
        """Stands in for ``triton.language`` so kernel signatures still parse without triton."""

        constexpr = object

    class _MissingTriton:
        @staticmethod
        def jit(fn):
            return fn

        @staticmethod
        def cdiv(a: int, b: int) -> int:
            return -(-a // b)

        @staticmethod
        def next_power_of_2(n: int) -> int:
            return 1 << max(n - 1, 0).bit_length()

    triton = _MissingTriton()  # type: ignore[assignment]
    tl = _MissingLanguage()  # type: ignore[assignment]

BACKENDS = ("auto", "triton", "torch")
ENV_VAR = "QNEXT_LAB_BACKEND"

__all__ = ["BACKENDS", "ENV_VAR", "HAS_TRITON", "interpreting", "requested_backend", "resolve_backend", "tl", "triton"]


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

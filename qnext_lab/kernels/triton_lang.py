"""``triton`` and ``triton.language`` for the kernel modules, or stand-ins where triton is not installed.

Kernel signatures must still parse on a machine without triton (a CPU-only set-up installs none), so the
stand-ins provide ``jit`` (returns the function), ``cdiv``, ``next_power_of_2`` and ``constexpr``; calling a
kernel there is refused earlier, by ``backend.resolve_backend``. Imported only by the kernel modules, so
``import qnext_lab`` never pays for importing triton.

    from .triton_lang import tl, triton
"""

from .backend import HAS_TRITON

__all__ = ["tl", "triton"]

if HAS_TRITON:
    import triton
    import triton.language as tl
else:

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

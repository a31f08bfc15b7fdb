"""The "qnext" experts implementation for transformers, backend choice, and load().

- ``experts.py``: ``qnext_experts_forward`` (registered in transformers' ExpertsInterface on import of
  ``qnext_lab``), dispatching per call to the Triton kernels (CUDA) or ``torch_experts.py`` (CPU);
  the backend rule itself lives in ``qnext_lab.kernels.backend`` (``QNEXT_LAB_BACKEND=auto|triton|torch``)
  because the kernels, one layer down, use it too.
- ``experts_module.py``: what an experts module is (``is_experts_module``), used by the runtime, ``load()``
  and routing capture alike.
- ``torch_experts.py``: the fast, differentiable CPU runtime.
- ``self_check.py``: the first-use check of the Triton path against the torch reference (falls back to torch).
- ``bundled.py``: where the bundled checkpoint lives (``tiny_path``).
- ``loading.py``: ``load_pretrained(name_or_path) -> (model, tokenizer)`` for "tiny", local directories and
  hub ids (``qnext_lab.load``, in ``formats``, adds GGUF files).
"""

from __future__ import annotations

from .._lazy import lazy_exports

# public name -> module of this package (imported on first access; see qnext_lab/_lazy.py)
__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "IMPLEMENTATION_NAME": "experts",
        "TritonSelfCheckError": "self_check",
        "UnsupportedExpertsError": "experts",
        "is_experts_module": "experts_module",
        "load_pretrained": "loading",
        "tiny_path": "bundled",
    },
)

"""The "qnext" experts implementation for transformers, backend choice, and load().

- ``experts.py``: ``qnext_experts_forward`` (registered in transformers' ExpertsInterface on import of
  ``qnext_lab``), dispatching per call to the Triton kernels (CUDA) or ``torch_experts.py`` (CPU);
  the backend rule itself lives in ``qnext_lab.kernels.backend`` (``QNEXT_LAB_BACKEND=auto|triton|torch``)
  because the kernels, one layer down, use it too.
- ``experts_module.py``: what an experts module is (``is_experts_module``), used by the runtime, ``load()``
  and routing capture alike.
- ``torch_experts.py``: the fast, differentiable CPU runtime.
- ``load.py``: ``load(name_or_path) -> (model, tokenizer)`` for "tiny", local directories and hub ids.
"""

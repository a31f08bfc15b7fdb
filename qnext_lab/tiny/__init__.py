"""The bundled model ``qnext-tiny``: task generator, tokenizer + chat template, training, evaluation.

Knows nothing about widgets, traces or the Triton runtime; it only needs transformers and tokenizers.

    from qnext_lab.tiny import tiny_path, make_problems, STOP_TEXT
    problems = make_problems(10, seed=1)
"""

from __future__ import annotations

from .._lazy import lazy_exports

# public name -> module of this package (imported on first access; see qnext_lab/_lazy.py)
__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "FAMILIES": "tasks",
        "HARD_FAMILIES": "tasks",
        "Problem": "tasks",
        "answer_key": "recognise",
        "read_question": "recognise",
        "STOP_TEXT": "paths",
        "checkpoint_fingerprint": "results",
        "load_results": "results",
        "make_problems": "tasks",
        "save_results": "results",
        "score": "tasks",
        "tiny_path": "paths",
    },
)

"""The bundled model ``qnext-tiny``: task generator, tokenizer + chat template, training, evaluation.

Knows nothing about widgets, traces or the Triton runtime; it only needs transformers and tokenizers.

    from qnext_lab.tiny import tiny_path, make_problems, STOP_TEXT
    problems = make_problems(10, seed=1)
"""

from __future__ import annotations

from .paths import STOP_TEXT, tiny_path
from .tasks import FAMILIES, HARD_FAMILIES, Problem, make_problems, score

__all__ = ["FAMILIES", "HARD_FAMILIES", "Problem", "STOP_TEXT", "make_problems", "score", "tiny_path"]

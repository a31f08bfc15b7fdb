"""A bound on how long a chat template may run: a template came with a checkpoint or a GGUF file from a stranger.

transformers renders chat templates in Jinja's ``ImmutableSandboxedEnvironment``, which stops a template from
touching Python objects and caps one ``range()`` at 100 000 items, but not loops inside loops: two nested
100 000-step loops render for hours. Jinja compiles a template to Python code whose file name is
``"<template>"``; ``bounded_template()`` counts the lines that code executes (a ``sys.settrace`` tracer on
the calling thread only, active only during the render, the previous tracer restored after) and raises
``TemplateTooLongError`` past ``max_steps``. A normal render of a long conversation with tools takes a few
thousand steps; the default allows a million (about a second). A render that runs out of memory (a string
multiplied by a huge number) becomes a ValueError too. Knows nothing about models, GGUF or generation.

    with bounded_template():
        text = tokenizer.apply_chat_template(messages, tokenize=False)
    check_chat_template(tokenizer, "model.gguf")   # at load: a short conversation must render in bounds
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["MAX_TEMPLATE_STEPS", "TemplateTooLongError", "bounded_template", "check_chat_template"]

MAX_TEMPLATE_STEPS = 1_000_000
_JINJA_FILE = "<template>"  # the file name of code Jinja compiles from a string (transformers' from_string)


class TemplateTooLongError(ValueError):
    """A chat template ran past its step bound (a loop inside a loop, or a template that never ends)."""


@contextmanager
def bounded_template(max_steps: int = MAX_TEMPLATE_STEPS, what: str = "the chat template") -> Iterator[None]:
    """Run the ``with`` body with Jinja-compiled code limited to ``max_steps`` executed lines (this thread)."""
    steps = [0]

    def count(frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            steps[0] += 1
            if steps[0] > max_steps:
                raise TemplateTooLongError(
                    f"{what} ran past {max_steps:,} steps without finishing (a loop inside a loop?); it was "
                    "stopped. Use a template from a source you trust, or set tokenizer.chat_template"
                )
        return count

    def calls(frame: Any, event: str, arg: Any) -> Any:
        return count if frame.f_code.co_filename == _JINJA_FILE else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        yield
    except MemoryError:
        raise ValueError(f"{what} ran out of memory while rendering (it builds a huge string)") from None
    finally:
        sys.settrace(previous)


def check_chat_template(tokenizer: Any, source: str, max_steps: int = MAX_TEMPLATE_STEPS) -> None:
    """Render a short conversation with ``tokenizer``'s template under the bound; TemplateTooLongError
    naming ``source`` (where the template came from) if it does not finish. Other template errors are left to
    the first real render (a template may refuse roles or options this sample uses)."""
    if not isinstance(getattr(tokenizer, "chat_template", None), str):
        return
    sample = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "What is 2 + 3?"},
        {"role": "assistant", "content": "5"},
        {"role": "user", "content": "And 4 + 4?"},
    ]
    try:
        with bounded_template(max_steps, f"the chat template of {source}"):
            tokenizer.apply_chat_template(sample, tokenize=False, add_generation_prompt=True)
    except TemplateTooLongError:
        raise
    except ValueError as err:
        if "out of memory" in str(err):
            raise
    except Exception:  # noqa: BLE001 - a template error on this sample is the real render's to report
        pass

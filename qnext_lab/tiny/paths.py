"""The stop-thinking text the bundled ``qnext-tiny`` was trained with, and where its checkpoint lives.

Knows nothing about how the model is built or trained; it only locates files.

    from qnext_lab.tiny.paths import tiny_path
    model = AutoModelForCausalLM.from_pretrained(tiny_path())
"""

from __future__ import annotations

from ..runtime.bundled import tiny_path  # the location is the runtime's: load("tiny") needs it

__all__ = ["STOP_TEXT", "tiny_path"]

# The text forced in when a thinking budget runs out. Short in tokens because a budget processor feeds
# it one token per step; it ends in "</think>\n\n" like Qwen's documented budget text.
STOP_TEXT = "\n\nTime is up.\n</think>\n\n"

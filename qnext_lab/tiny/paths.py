"""Where the bundled ``qnext-tiny`` checkpoint lives, and the stop-thinking text it was trained with.

Knows nothing about how the model is built or trained; it only locates files.

    from qnext_lab.tiny.paths import tiny_path
    model = AutoModelForCausalLM.from_pretrained(tiny_path())
"""

from __future__ import annotations

import pathlib

# The text forced in when a thinking budget runs out. Short in tokens because a budget processor feeds
# it one token per step; it ends in "</think>\n\n" like Qwen's documented budget text.
STOP_TEXT = "\n\nTime is up.\n</think>\n\n"

_TINY_DIR = pathlib.Path(__file__).resolve().parent / "qnext-tiny"


def tiny_path(check: bool = True) -> pathlib.Path:
    """Return the directory of the bundled checkpoint (a plain Hugging Face model directory).

    With ``check=True`` (default) raise FileNotFoundError when the checkpoint has not been trained yet.
    """
    if check and not (_TINY_DIR / "config.json").is_file():
        raise FileNotFoundError(
            f"The bundled qnext-tiny checkpoint is missing at {_TINY_DIR}. Train it with "
            "`python -m qnext_lab.tiny.train` (about an hour on 2 CPU cores), or reinstall qnext-lab."
        )
    return _TINY_DIR

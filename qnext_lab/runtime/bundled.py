"""Where the bundled ``qnext-tiny`` checkpoint lives (``load("tiny")`` reads it from here).

The checkpoint ships inside the package, in ``qnext_lab/tiny/qnext-tiny/`` beside the code that trained it;
``runtime`` locates it because ``load()`` is the lowest layer that needs it. Knows nothing about how the model
was built or trained.

    from qnext_lab.runtime.bundled import tiny_path
    model = AutoModelForCausalLM.from_pretrained(tiny_path())
"""

from __future__ import annotations

import pathlib

__all__ = ["tiny_path"]

_TINY_DIR = pathlib.Path(__file__).resolve().parents[1] / "tiny" / "qnext-tiny"


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

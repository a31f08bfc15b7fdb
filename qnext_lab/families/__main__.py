"""Rewrite the README's family table from the registry: ``python -m qnext_lab.families README.md``."""

from __future__ import annotations

import sys
from pathlib import Path

from .registry import readme_with_families


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m qnext_lab.families README.md", file=sys.stderr)
        return 2
    path = Path(argv[0])
    path.write_text(readme_with_families(path.read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

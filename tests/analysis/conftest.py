"""Shared helpers: the small random MoE models of tests/trace (moe_models.py) are importable here too."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trace"))

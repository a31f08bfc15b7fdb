"""The thinking tests' Qwen3 helpers (qwen3.py: the real tokenizer, a random Qwen3-MoE, scripted text) are
importable here too, for the tests of capture during generation."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "thinking"))

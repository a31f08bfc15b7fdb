"""The self-check with the real Triton kernels under Triton's CPU interpreter; prints one JSON line.

Started by ``test_self_check.py`` in a subprocess with ``TRITON_INTERPRET=1`` (the interpreter must be on
before triton is imported). The "qnext" experts are sent down their Triton branch as on a GPU; the tuning
table is replaced by tables holding a real configuration that fails (``BLOCK_M=24``: ``tl.arange`` needs a
power of two), either before the check (the check must see it) or after the check passed (the launch must
fall back). Each scenario reports the verdicts, the warnings and how far the logits are from the torch path.
"""

import json
import warnings

import torch
import transformers
from families import VOCAB, family_configs

import qnext_lab  # noqa: F401  registers "qnext"
from qnext_lab.kernels import tuning
from qnext_lab.kernels.tuning import GemmConfig
from qnext_lab.runtime import experts as runtime_experts
from qnext_lab.runtime import self_check

GOOD = GemmConfig(16, 64, 64, 4, 1)
BAD = GemmConfig(24, 64, 64, 4, 1)  # compiles nowhere: BLOCK_M must be a power of two
SHORT = torch.randint(0, VOCAB, (1, 3), generator=torch.Generator().manual_seed(0))  # 6 slots over 8 experts
LONG = torch.randint(0, VOCAB, (1, 40), generator=torch.Generator().manual_seed(1))  # 80 slots: 10 per expert


def logits(model, ids, backend):
    runtime_experts.resolve_backend = lambda *args, **kwargs: backend  # the CUDA branch, on CPU tensors
    with torch.no_grad():
        return model(ids).logits


def scenario(model, table_at_check, table_after=None):
    self_check.clear_verdicts()
    tuning._INTERPRETER_TABLE = table_at_check
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        short = logits(model, SHORT, "triton")
        if table_after is not None:
            tuning._INTERPRETER_TABLE = table_after
        long = logits(model, LONG, "triton")
        again = logits(model, LONG, "triton")
    expected_short, expected_long = logits(model, SHORT, "torch"), logits(model, LONG, "torch")
    return {
        "verdicts": [v for v in self_check.verdicts().values()],
        "warnings": [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)],
        "error": max(
            float((short - expected_short).abs().max()),
            float((long - expected_long).abs().max()),
            float((again - expected_long).abs().max()),
        ),
    }


def main():
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(family_configs()["qwen3_moe"], experts_implementation="qnext")
    model.eval()
    inf = float("inf")
    results = {
        "good": scenario(model, ((inf, GOOD),)),
        "bad_row_seen_by_the_check": scenario(model, ((4.0, GOOD), (inf, BAD))),
        "bad_tiles_after_the_check": scenario(model, ((inf, GOOD),), table_after=((4.0, GOOD), (inf, BAD))),
    }
    print("RESULTS " + json.dumps(results))


if __name__ == "__main__":
    main()

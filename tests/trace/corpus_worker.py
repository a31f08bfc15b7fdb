"""A corpus-tracing run as a user starts it: ``torchrun --nproc_per_node 2 corpus_worker.py OUT`` (or
``accelerate launch``, or plain ``python``). Shared by tests/trace/test_corpus.py (texts, tokenizer, model)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # random_moe.py

TEXTS = ["abc", "hello", "xy", "moe routing", "z", "qwen next", "tokens", "ab", "experts!", "end"]


class CharTokenizer:
    """One token per character (ids 3..62), no pad token: enough to drive a random 64-word model."""

    pad_token_id = None

    def __call__(self, texts, add_special_tokens=True, truncation=False, max_length=None):
        rows = [[3 + ord(c) % 60 for c in t] for t in texts]
        return {"input_ids": [r[:max_length] if truncation else r for r in rows]}

    def convert_ids_to_tokens(self, ids):
        return [f"<{i}>" for i in ids]


def main(out: str) -> None:
    import torch
    from moe_models import make_model

    import qnext_lab

    torch.set_num_threads(1)
    model = make_model("qwen3_moe")
    calls = []
    model.register_forward_pre_hook(lambda m, a, k: calls.append(1), with_kwargs=True)
    shards = qnext_lab.trace_corpus(
        model, CharTokenizer(), TEXTS, batch_size=2, shard_batches=1, out=out, progress=False
    )
    rank = int(os.environ.get("RANK", "0"))
    report = dict(
        rank=rank, world=int(os.environ.get("WORLD_SIZE", "1")), forwards=len(calls), complete=shards.complete
    )
    Path(out, f"report-{rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])

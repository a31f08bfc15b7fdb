"""Seconds to read a GGUF file's metadata: the kit's checked scan (``formats.gguf_checks.scan_gguf``, which
bounds every claim by the file's size and decodes the values) vs ``gguf.GGUFReader`` (what the loader used
before, twice per load). The file carries a Qwen3-sized vocabulary (151,936 tokens, their types, 151,387
merges: ~455k array items) and no tensors, so only the metadata is measured. Medians of ``--repeats`` runs.

    PYTHONPATH=. nice -n 15 /work/venv/bin/python benchmarks/bench_gguf_scan.py
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import platform
import tempfile
from pathlib import Path

import gguf
from measure import median_s

from qnext_lab.formats.gguf_checks import scan_gguf


def make_file(path: Path, vocab: int, merges: int) -> None:
    writer = gguf.GGUFWriter(path, "qwen3next")
    writer.add_token_list([f"tok{i}" for i in range(vocab)])
    writer.add_token_types([1] * vocab)
    writer.add_token_merges([f"a{i} b{i}" for i in range(merges)])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=151_936)
    parser.add_argument("--merges", type=int, default=151_387)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vocab.gguf"
        make_file(path, args.vocab, args.merges)
        scan = median_s(lambda: scan_gguf(path), args.repeats)
        reader = median_s(lambda: gguf.GGUFReader(path), args.repeats)
    print(
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}"
    )
    print(f"gguf {importlib.metadata.version('gguf')}, {args.vocab} tokens, {args.merges} merges")
    print(f"scan_gguf (checks + decoded metadata): {scan:.3f} s")
    print(f"gguf.GGUFReader: {reader:.3f} s ({reader / scan:.0f}x)")


if __name__ == "__main__":
    main()

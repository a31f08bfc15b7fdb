"""GGUF files from strangers: every crafted or corrupted file is refused with a ValueError that names the file
and what is wrong (or loads, for the harmless ones), within bounded memory and time.

The files are made by ``gguf_hostile_worker.py`` (``gguf.GGUFWriter`` rewrites of the bundled model's export,
plus byte-level corruption) and loaded there, in one subprocess under a 4 GiB address-space limit and a
timeout (``tests/bounded.py``): before these checks several cases looped until MemoryError or for minutes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bounded import run_bounded  # noqa: E402

from qnext_lab.formats.gguf_checks import DEQUANTIZABLE, GGUFLimits, scan_gguf  # noqa: E402
from qnext_lab.runtime.template_guard import TemplateTooLongError, bounded_template  # noqa: E402

# case -> (outcome, words the message must hold)
EXPECTED = {
    "good_f32": ("ok", ""),
    "upper_suffix": ("ok", ""),  # load("x.GGUF"): the suffix is matched case-insensitively
    "array_claim": ("ValueError", "claims 1000000000000 items"),
    "tiny_claim": ("ValueError", "claims 4611686018427387904 items"),
    "block_count_1e9": ("ValueError", "block_count must be in [1, 1024]"),
    "block_count_200000": ("ValueError", "block_count must be in [1, 1024]"),
    "expert_count_1e9": ("ValueError", "expert_count must be in [1, 4096]"),
    "expert_count_2e20": ("ValueError", "expert_count must be in [1, 4096]"),
    "expert_count_4096": ("ValueError", "does not match the tensors"),
    "template_loops": ("TemplateTooLongError", "without finishing"),
    "truncated": ("ValueError", "truncated"),
    "header_only": ("ValueError", "cannot hold that many"),
    "offset_past_end": ("ValueError", "the file is truncated"),
    "kv_count": ("ValueError", "9,223,372,036,854,775,808 key/value fields"),
    "duplicate_key": ("ValueError", "appears twice"),
    "missing_tokens": ("ValueError", "no tokenizer.ggml.tokens"),
    "head_count_zero": ("ValueError", "attention.head_count must be"),
    "head_count_kv_zero": ("ValueError", "head_count_kv must be"),
    "key_length_zero": ("ValueError", "key_length must be"),
    "interval_zero": ("ValueError", "full_attention_interval must be"),
    "expert_used_zero": ("ValueError", "expert_used_count must be in [1, 32]"),
    "nan_rms_eps": ("ValueError", "layer_norm_rms_epsilon must be a finite number"),
    "i32_tensor": ("ValueError", "stored as I32"),
    "f64_tensor": ("ValueError", "stored as F64"),
    "unknown_type": ("ValueError", "type id 99"),
    "nan_weight": ("ValueError", "NaN/inf"),
    "inf_weight": ("ValueError", "NaN/inf"),
    "random_q8": ("ValueError", "NaN/inf"),
    "qwen3moe_good": ("ok", ""),
    "qwen3moe_block_count_1e6": ("ValueError", "qwen3moe.block_count must be in [1, 1024]"),
    "qwen3moe_expert_count_4096": ("ValueError", "does not match the tensors"),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile-gguf")
    done = run_bounded([str(HERE / "gguf_hostile_worker.py"), str(out), *EXPECTED])
    results = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            results[row["case"]] = row
    assert results, f"the worker printed nothing (rc {done.returncode}): {done.stderr[-2000:]}"
    return results


@pytest.mark.parametrize("case", list(EXPECTED))
def test_hostile_file_gets_a_clear_answer(outcomes, case):
    assert case in outcomes, f"the worker died before {case!r} (killed by the memory limit or the timeout?)"
    outcome, words = EXPECTED[case]
    got = outcomes[case]
    assert got["outcome"] == outcome, got
    assert words in got["message"], got
    if outcome != "ok":
        assert ".gguf" in got["message"] or "template" in got["message"], "the message names the file"


def test_every_listed_tensor_type_dequantises():
    for qtype in DEQUANTIZABLE:
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        if qtype in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            raw = np.zeros(block, dtype=np.float32 if qtype.name == "F32" else np.float16)
        else:
            raw = np.zeros((1, size), dtype=np.uint8)
        assert gguf.quants.dequantize(raw, qtype).size == block, qtype


def test_the_metadata_item_ceiling_is_configurable(tmp_path):
    path = tmp_path / "vocab.gguf"
    writer = gguf.GGUFWriter(path, "qwen3next")
    writer.add_token_list([f"t{i}" for i in range(1000)])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert scan_gguf(path).tensors == ()
    with pytest.raises(ValueError, match="max_metadata_items"):
        scan_gguf(path, GGUFLimits(max_metadata_items=999))


def test_a_string_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "latin1.gguf"
    writer = gguf.GGUFWriter(path, "qwen3next")
    writer.add_string("general.name", "caf\u00e9")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    path.write_bytes(path.read_bytes().replace("caf\u00e9".encode(), b"caf\xe9 "))
    with pytest.raises(ValueError, match="not UTF-8"):
        scan_gguf(path)


def test_a_template_loop_inside_a_loop_is_stopped():
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    template = ImmutableSandboxedEnvironment().from_string(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    )
    with pytest.raises(TemplateTooLongError, match="10,000 steps"), bounded_template(10_000):
        template.render()
    with bounded_template(10_000):  # an ordinary render is untouched
        assert ImmutableSandboxedEnvironment().from_string("{{ x }}!").render(x="hi") == "hi!"


def test_the_checked_scan_reads_what_gguf_reads(tmp_path):
    """The scan's metadata and tensor data are gguf.GGUFReader's, value for value (the loader uses the scan's:
    the reader spends ~10-40 us per array item, tens of seconds on a real vocabulary)."""
    import qnext_lab as ql
    from qnext_lab.formats.gguf_load import read_metadata

    model, tok = ql.load("tiny")
    for qtype in ("F16", "Q4_0"):
        path = ql.export_gguf(model, tok, tmp_path / f"t-{qtype}.gguf", qtype=qtype)
        layout, reader = scan_gguf(path), gguf.GGUFReader(path)
        assert layout.metadata == read_metadata(reader)
        assert [t.name for t in layout.tensors] == [t.name for t in reader.tensors]
        for info, t in zip(layout.tensors, reader.tensors):
            assert info.tensor_type == t.tensor_type and np.array_equal(layout.array(info), t.data), t.name


def test_per_layer_metadata_arrays_are_checked_item_by_item():
    from qnext_lab.formats.gguf_checks import check_metadata

    meta = {"x.attention.head_count": 4, "x.attention.head_count_kv": [0, 2, 0, 2], "tokenizer.ggml.tokens": ["a"]}
    check_metadata(meta, "x", "f.gguf")  # a hybrid's recurrent layers have no KV heads
    with pytest.raises(ValueError, match="at least one >= 1"):
        check_metadata({**meta, "x.attention.head_count_kv": [0, 0]}, "x", "f.gguf")
    with pytest.raises(TypeError, match=r"head_count_kv\[0\] must be an integer"):
        check_metadata({**meta, "x.attention.head_count_kv": [1.5]}, "x", "f.gguf")
    with pytest.raises(ValueError, match=r"eos_token_id must be in \[0, 0\]"):
        check_metadata({**meta, "tokenizer.ggml.eos_token_id": 7}, "x", "f.gguf")

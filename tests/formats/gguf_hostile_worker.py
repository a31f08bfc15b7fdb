"""Crafts hostile GGUF files and loads each with ``qnext_lab.load``, one JSON line per case on stdout.

Run by ``test_gguf_hostile.py`` in a subprocess under an address-space limit (``RLIMIT_AS``) and a timeout,
so a case that allocates without bound dies here, not in the test process. Every file starts from the bundled
model exported by ``export_gguf`` (the kit's own writer) and is changed either through ``gguf.GGUFWriter``
(metadata and tensors rewritten: what a careless or hostile converter can write) or byte by byte (what the
writer refuses to write: impossible counts, duplicate keys, unknown type ids, truncation).

    python gguf_hostile_worker.py OUT_DIR [CASE ...]
"""

from __future__ import annotations

import json
import shutil
import signal
import struct
import sys
from pathlib import Path

import gguf
import numpy as np

import qnext_lab as ql

V = gguf.GGUFValueType
Q = gguf.GGMLQuantizationType
ARCH = "qwen3next"


def rewrite(base: Path, out: Path, meta: dict | None = None, tensors=None, drop=(), arch: str = ARCH) -> Path:
    """``base`` written again through GGUFWriter with ``meta`` keys replaced/added ({key: (value, vtype)}),
    keys in ``drop`` left out and each tensor passed through ``tensors(name, data, type) -> (data, type)``."""
    meta = dict(meta or {})
    reader = gguf.GGUFReader(base)
    writer = gguf.GGUFWriter(out, arch)
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture" or key in drop:
            continue
        if key in meta:
            value, vtype = meta.pop(key)
            writer.add_key_value(key, value, vtype)
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == V.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub)
    for key, (value, vtype) in meta.items():
        writer.add_key_value(key, value, vtype)
    for t in reader.tensors:
        data, qtype = np.array(t.data), t.tensor_type
        if tensors is not None:
            data, qtype = tensors(t.name, data, qtype)
        writer.add_tensor(t.name, data, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def patch(path: Path, offset: int, fmt: str, value) -> Path:
    data = bytearray(path.read_bytes())
    struct.pack_into("<" + fmt, data, offset, value)
    path.write_bytes(bytes(data))
    return path


def field_value_offset(path: Path, key: str) -> int:
    """Byte offset just past a field's key and type (where its value, or an array's item type, starts)."""
    field = gguf.GGUFReader(path).fields[key]
    return field.offset + 8 + len(key.encode()) + 4


def tensor_info(path: Path, name: str):
    reader = gguf.GGUFReader(path)
    t = next(t for t in reader.tensors if t.name == name)
    type_at = t.field.offset + 8 + len(name.encode()) + 4 + 8 * len(t.shape)
    return t, type_at


def a(key: str) -> str:
    return f"{ARCH}.{key}"


def make_cases(out: Path, f32: Path, q8: Path, moe: Path) -> dict:
    """name -> function building the file (each called lazily, so one failing craft fails one case)."""
    u32 = V.UINT32

    def override(name: str, key: str, value, vtype=u32):
        return lambda: rewrite(f32, out / f"{name}.gguf", {key: (value, vtype)})

    def tensor_swap(name: str, victim: str, make):
        def fn(tname, data, qtype):
            return make(data, qtype) if tname == victim else (data, qtype)

        return lambda: rewrite(f32, out / f"{name}.gguf", tensors=fn)

    def array_claim():  # tokenizer.ggml.token_type claims 10**12 items
        path = shutil.copy(f32, out / "array_claim.gguf")
        return patch(Path(path), field_value_offset(Path(path), "tokenizer.ggml.token_type") + 4, "Q", 10**12)

    def tiny_claim():  # a ~50-byte file claiming 2**62 uint8s
        raw = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1) + b"x" + struct.pack("<IIQ", 9, 0, 2**62)
        (out / "tiny_claim.gguf").write_bytes(raw)
        return out / "tiny_claim.gguf"

    def truncated():
        data = f32.read_bytes()
        (out / "truncated.gguf").write_bytes(data[: len(data) // 2])
        return out / "truncated.gguf"

    def header_only():
        data = f32.read_bytes()
        (out / "header_only.gguf").write_bytes(data[:30])
        return out / "header_only.gguf"

    def offset_past_end():
        path = Path(shutil.copy(f32, out / "offset_past_end.gguf"))
        t, type_at = tensor_info(path, "token_embd.weight")
        return patch(path, type_at + 4, "Q", 2**40)

    def kv_count():
        return patch(Path(shutil.copy(f32, out / "kv_count.gguf")), 16, "Q", 2**63)

    def duplicate_key():
        path = rewrite(f32, out / "duplicate_key.gguf", {"zz.a": (1, u32), "zz.b": (2, u32)})
        path.write_bytes(path.read_bytes().replace(b"zz.b", b"zz.a"))
        return path

    def unknown_type():
        path = Path(shutil.copy(f32, out / "unknown_type.gguf"))
        _, type_at = tensor_info(path, "output_norm.weight")
        return patch(path, type_at, "I", 99)

    def random_q8():
        path = Path(shutil.copy(q8, out / "random_q8.gguf"))
        reader = gguf.GGUFReader(path)
        spans = [(t.data_offset, t.n_bytes) for t in reader.tensors if t.tensor_type == Q.Q8_0]
        del reader
        data = bytearray(path.read_bytes())
        rng = np.random.default_rng(0)
        for start, n in spans:
            data[start : start + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        path.write_bytes(bytes(data))
        return path

    def upper_suffix():
        return Path(shutil.copy(f32, out / "UPPER.GGUF"))

    def nan_in(value):
        def make(data, qtype):
            data = data.copy()
            data.flat[0] = value
            return data, qtype

        return make

    def moe_override(name: str, key: str, value):
        return lambda: rewrite(moe, out / f"{name}.gguf", {f"qwen3moe.{key}": (value, u32)}, arch="qwen3moe")

    loop = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    return {
        "good_f32": lambda: f32,
        "upper_suffix": upper_suffix,
        "array_claim": array_claim,
        "tiny_claim": tiny_claim,
        "block_count_1e9": override("block_count_1e9", a("block_count"), 10**9),
        "block_count_200000": override("block_count_200000", a("block_count"), 200_000),
        "expert_count_1e9": override("expert_count_1e9", a("expert_count"), 10**9),
        "expert_count_2e20": override("expert_count_2e20", a("expert_count"), 2**20),
        "expert_count_4096": override("expert_count_4096", a("expert_count"), 4096),
        "template_loops": override("template_loops", "tokenizer.chat_template", loop, V.STRING),
        "truncated": truncated,
        "header_only": header_only,
        "offset_past_end": offset_past_end,
        "kv_count": kv_count,
        "duplicate_key": duplicate_key,
        "missing_tokens": lambda: rewrite(f32, out / "missing_tokens.gguf", drop=("tokenizer.ggml.tokens",)),
        "head_count_zero": override("head_count_zero", a("attention.head_count"), 0),
        "head_count_kv_zero": override("head_count_kv_zero", a("attention.head_count_kv"), 0),
        "key_length_zero": override("key_length_zero", a("attention.key_length"), 0),
        "interval_zero": override("interval_zero", a("full_attention_interval"), 0),
        "expert_used_zero": override("expert_used_zero", a("expert_used_count"), 0),
        "nan_rms_eps": override("nan_rms_eps", a("attention.layer_norm_rms_epsilon"), float("nan"), V.FLOAT32),
        "i32_tensor": tensor_swap(
            "i32_tensor", "output_norm.weight", lambda d, q: (np.zeros(d.shape, np.int32), Q.I32)
        ),
        "f64_tensor": tensor_swap("f64_tensor", "output_norm.weight", lambda d, q: (d.astype(np.float64), Q.F64)),
        "unknown_type": unknown_type,
        "nan_weight": tensor_swap("nan_weight", "output_norm.weight", nan_in(np.nan)),
        "inf_weight": tensor_swap("inf_weight", "blk.0.ffn_gate_inp.weight", nan_in(np.inf)),
        "random_q8": random_q8,
        # qwen3moe goes through transformers' GGUF loader: the same checks run before it
        "qwen3moe_good": lambda: moe,
        "qwen3moe_block_count_1e6": moe_override("qwen3moe_block_count_1e6", "block_count", 10**6),
        "qwen3moe_expert_count_4096": moe_override("qwen3moe_expert_count_4096", "expert_count", 4096),
    }


def _alarm(signum, frame):
    raise TimeoutError("the case ran past its time limit")


def main() -> None:
    out = Path(sys.argv[1])
    model, tok = ql.load("tiny")
    f32 = ql.export_gguf(model, tok, out / "base-f32.gguf", qtype="F32")
    q8 = ql.export_gguf(model, tok, out / "base-q8.gguf", qtype="Q8_0")
    sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "trace"), str(Path(__file__).resolve().parents[1])]
    from moe_models import gguf_qwen3_moe

    small_moe = gguf_qwen3_moe(len(tok))
    moe = ql.export_gguf(small_moe, tok, out / "base-qwen3moe.gguf", qtype="F32")
    del model, small_moe
    cases = make_cases(out, f32, q8, moe)
    signal.signal(signal.SIGALRM, _alarm)
    for name in sys.argv[2:] or list(cases):
        signal.alarm(90)  # a hang guard, not a speed check
        try:
            path = cases[name]()
            loaded, _ = ql.load(path)
            result = {"case": name, "outcome": "ok", "message": type(loaded).__name__}
        except BaseException as err:  # noqa: BLE001 - what the loader raised is the result
            result = {"case": name, "outcome": type(err).__name__, "message": str(err)[:800]}
        finally:
            signal.alarm(0)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

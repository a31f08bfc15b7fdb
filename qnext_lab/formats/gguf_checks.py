"""Checks on a GGUF file made by a stranger, before and after the ``gguf`` package reads it.

``scan_gguf(path)`` walks the header, every key/value field and every tensor-info record with ``struct`` over
the raw bytes, checking each length, count and offset against the bytes the file really has, *before*
``gguf.GGUFReader`` allocates anything: the reader trusts an array length (a 122-byte file claiming 2**62
uint8s makes it loop until MemoryError), a ``kv_count`` (IndexError) and a tensor's data offset ("cannot
reshape array of size 0"). The scan also refuses duplicate keys and tensor names, strings that are not UTF-8,
nested arrays, unknown value or tensor type ids, tensor types the kit cannot dequantise (I8/I16/I32/I64/F64,
Q8_1, Q8_K), shapes whose row is not a whole number of blocks, and more metadata array items than
``GGUFLimits.max_metadata_items`` (the reader spends ~10 us per item). ``check_metadata`` then checks what the
loader will build from the metadata (layer, expert and head counts, widths, ``rms_norm_eps``, the vocabulary and
special token ids) against ranges a real model has, ``check_size`` the model the metadata describes against
the weights the file holds and the machine's memory, and ``check_weights`` the loaded model (NaN/inf weights,
non-finite logits on one probe token). Every failure is a ``ValueError`` naming the file and what to do.

Knows the GGUF layout and llama.cpp's metadata keys; nothing about traces or widgets.

    layout = scan_gguf(path)                     # before gguf.GGUFReader(path)
    check_metadata(meta, "qwen3next", path)      # before building a config from it
"""

from __future__ import annotations

import math
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import torch

from ..checks import as_float, as_int, as_int_list

__all__ = [
    "DEQUANTIZABLE",
    "GGUFLayout",
    "GGUFLimits",
    "GGUFTensorInfo",
    "check_metadata",
    "check_size",
    "check_weights",
    "scan_gguf",
]

_Q = gguf.GGMLQuantizationType
# what gguf.quants.dequantize implements (tests/formats/test_gguf_hostile.py dequantises one block of each)
DEQUANTIZABLE = frozenset(
    _Q[name]
    for name in (
        *("F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"),
        *("IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "IQ1_M"),
        *("TQ1_0", "TQ2_0", "MXFP4"),
    )
    if name in _Q.__members__
)
_MAX_DIMS = 4  # GGML_MAX_DIMS in ggml.h
_V = gguf.GGUFValueType
_SCALAR = {
    _V.UINT8: "B",
    _V.INT8: "b",
    _V.UINT16: "H",
    _V.INT16: "h",
    _V.UINT32: "I",
    _V.INT32: "i",
    _V.FLOAT32: "f",
    _V.BOOL: "?",
    _V.UINT64: "Q",
    _V.INT64: "q",
    _V.FLOAT64: "d",
}


@dataclass(frozen=True)
class GGUFLimits:
    """Ceilings for what a GGUF file may claim; raise one (``load(path, gguf_limits=GGUFLimits(...))``) for a
    file that really is bigger. The defaults are several times the largest public MoE models."""

    max_metadata_items: int = 1_000_000  # array items over all keys (Qwen3 ~455k, Llama 3 ~540k, Gemma 3 ~790k)
    max_fields: int = 65_536  # key/value fields, and tensors (Qwen3-Next-80B: ~900 tensors)
    max_layers: int = 1_024  # block_count (largest public MoE: 94)
    max_experts: int = 4_096  # expert_count (largest public MoE: 512), as RoutingTrace's MAX_EXPERTS
    max_width: int = 1 << 20  # embedding / feed-forward / head widths
    max_heads: int = 4_096
    max_vocab: int = 4_000_000
    memory_bytes: int | None = None  # memory a load may use; None: the machine's physical memory


@dataclass(frozen=True)
class GGUFTensorInfo:
    name: str
    shape: tuple[int, ...]  # GGUF order (ne[0] first: the row length)
    tensor_type: gguf.GGMLQuantizationType
    offset: int  # absolute, in the file
    nbytes: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class GGUFLayout:
    """What the scan found: counts, alignment, where the data starts, every tensor's place in the file."""

    version: int
    kv_count: int
    alignment: int
    data_offset: int
    tensors: tuple[GGUFTensorInfo, ...]
    file_size: int
    metadata: dict[str, Any]  # every key/value field as Python data (as gguf's ReaderField.contents() gives)
    path: Path

    @property
    def numel(self) -> int:
        return sum(t.numel for t in self.tensors)

    def array(self, info: GGUFTensorInfo) -> np.ndarray:
        """A tensor's stored data, read-only from the file, in the form ``gguf.quants.dequantize`` takes (as
        ``GGUFReader`` presents it): float32/float16 in numpy order, else bytes of shape (rows..., row bytes)."""
        shape = tuple(reversed(info.shape))  # numpy order: the GGUF row (ne[0]) last
        raw = np.memmap(self.path, dtype=np.uint8, mode="r", offset=info.offset, shape=(info.nbytes,))
        if info.tensor_type == _Q.F32:
            return raw.view(np.float32).reshape(shape)
        if info.tensor_type == _Q.F16:
            return raw.view(np.float16).reshape(shape)
        return raw.reshape(gguf.quant_shape_to_byte_shape(shape, info.tensor_type))


class _Cursor:
    """Reads little- (or big-) endian values from a bytes buffer, refusing to read past its end."""

    def __init__(self, data: bytes | mmap.mmap, path: Path, endian: str) -> None:
        self.data, self.pos, self.path, self.endian = data, 0, path, endian

    def fail(self, what: str) -> ValueError:
        return ValueError(
            f"{self.path.name} is not a valid GGUF file: {what} (at byte {self.pos} of {len(self.data)}); "
            "the file is truncated or corrupt: download or export it again"
        )

    def left(self) -> int:
        return len(self.data) - self.pos

    def unpack(self, fmt: str, what: str) -> Any:
        size = struct.calcsize(fmt)
        if self.left() < size:
            raise self.fail(f"the file ends inside {what}")
        (value,) = struct.unpack_from(self.endian + fmt, self.data, self.pos)
        self.pos += size
        return value

    def string(self, what: str, max_len: int | None = None) -> str:
        n = self.unpack("Q", f"the length of {what}")
        if n > self.left() or (max_len is not None and n > max_len):
            raise self.fail(f"{what} claims {n} bytes, more than the {self.left()} left in the file")
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise self.fail(f"{what} is not UTF-8 ({err.reason})") from None

    def strings(self, count: int, key: str) -> list[str]:
        """Read an array of ``count`` strings (a vocabulary: keep the loop lean)."""
        data, pos, end, fmt = self.data, self.pos, len(self.data), self.endian + "Q"
        out = []
        for i in range(count):
            if end - pos < 8:
                self.pos = pos
                raise self.fail(f"the file ends inside item {i} of {key!r}")
            (n,) = struct.unpack_from(fmt, data, pos)
            pos += 8
            if n > end - pos:
                self.pos = pos
                raise self.fail(f"item {i} of {key!r} claims {n} bytes, more than the {end - pos} left in the file")
            try:
                out.append(data[pos : pos + n].decode("utf-8"))
            except UnicodeDecodeError as err:
                self.pos = pos
                raise self.fail(f"item {i} of {key!r} is not UTF-8 ({err.reason})") from None
            pos += n
        self.pos = pos
        return out

    def skip(self, n: int, what: str) -> None:
        if n > self.left():
            raise self.fail(f"{what} claims {n} bytes, more than the {self.left()} left in the file")
        self.pos += n


def _value_type(cur: _Cursor, key: str) -> gguf.GGUFValueType:
    raw = cur.unpack("I", f"the value type of {key!r}")
    try:
        return _V(raw)
    except ValueError:
        raise cur.fail(f"{key!r} has value type id {raw}, which GGUF does not define (0-12)") from None


def _read_value(cur: _Cursor, key: str, vtype: gguf.GGUFValueType, budget: list[int], limits: GGUFLimits) -> Any:
    """One checked value as Python data (what ``gguf.ReaderField.contents()`` gives, without its ~10-40 us per
    array item: a Qwen3 vocabulary reads in under a second instead of tens of seconds)."""
    if vtype in _SCALAR:
        return cur.unpack(_SCALAR[vtype], f"the value of {key!r}")
    if vtype == _V.STRING:
        return cur.string(f"the string value of {key!r}")
    item = _value_type(cur, key)
    count = cur.unpack("Q", f"the array length of {key!r}")
    if item == _V.ARRAY:
        raise cur.fail(f"{key!r} is an array of arrays, which llama.cpp never writes")
    smallest = struct.calcsize(_SCALAR[item]) if item in _SCALAR else 8  # a string is at least its length
    if count * smallest > cur.left():
        raise cur.fail(f"{key!r} claims {count} items, more than the {cur.left()} bytes left in the file hold")
    budget[0] += count
    if budget[0] > limits.max_metadata_items:
        raise ValueError(
            f"{cur.path.name}: the metadata arrays hold over {limits.max_metadata_items:,} items ({key!r} has "
            f"{count:,}); a real vocabulary needs far fewer. If the file is genuine, load it with "
            "gguf_limits=GGUFLimits(max_metadata_items=...)"
        )
    if item in _SCALAR:
        start = cur.pos
        cur.skip(count * smallest, f"the items of {key!r}")
        dtype = np.dtype(cur.endian + _SCALAR[item]) if item != _V.BOOL else np.dtype(np.bool_)
        return np.frombuffer(cur.data, dtype=dtype, count=count, offset=start).tolist()
    return cur.strings(count, key)


def _dequantizable_names() -> str:
    return ", ".join(sorted(t.name for t in DEQUANTIZABLE))


def scan_gguf(path: str | os.PathLike, limits: GGUFLimits | None = None) -> GGUFLayout:
    """Walk the whole GGUF header with every claim checked against the file's size; ValueError on the first lie."""
    limits = limits or GGUFLimits()
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24 or head[:4] != b"GGUF":
            raise ValueError(f"{path.name} is not a GGUF file (shorter than a GGUF header, or no 'GGUF' magic)")
        if not struct.unpack_from("<I", head, 4)[0] & 0xFFFF:  # how gguf.GGUFReader recognises big-endian
            raise ValueError(f"{path.name} is a big-endian GGUF file; qnext-lab reads little-endian GGUF files")
        endian = "<"
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:  # pages in only the header we walk
            return _scan(_Cursor(data, path, endian), size, limits)


def _scan(cur: _Cursor, size: int, limits: GGUFLimits) -> GGUFLayout:
    path = cur.path
    cur.pos = 4
    version = cur.unpack("I", "the version")
    if version not in (2, 3):
        raise cur.fail(f"version {version} (qnext-lab reads GGUF versions 2 and 3)")
    tensor_count = cur.unpack("Q", "the tensor count")
    kv_count = cur.unpack("Q", "the key/value count")
    for what, count, smallest in (("key/value fields", kv_count, 13), ("tensors", tensor_count, 28)):
        if count * smallest > cur.left() or count > limits.max_fields:
            raise cur.fail(
                f"the header claims {count:,} {what}; {cur.left():,} bytes cannot hold that many "
                f"(or it is over the ceiling GGUFLimits.max_fields={limits.max_fields:,})"
            )
    keys: set[str] = set()
    metadata: dict[str, Any] = {}
    budget, alignment = [0], gguf.GGUF_DEFAULT_ALIGNMENT
    for _ in range(kv_count):
        key = cur.string("a key", max_len=65_535)
        if key in keys:
            raise cur.fail(f"the key {key!r} appears twice")
        keys.add(key)
        vtype = _value_type(cur, key)
        value = metadata[key] = _read_value(cur, key, vtype, budget, limits)
        if key == "general.alignment":
            if vtype != _V.UINT32 or not value or value & (value - 1) or value > 1 << 16:
                raise cur.fail(f"general.alignment must be a uint32 power of two up to 65536, got {value!r}")
            alignment = value
    infos, names = [], set()
    for i in range(tensor_count):
        name = cur.string(f"the name of tensor {i}", max_len=65_535)
        if name in names:
            raise cur.fail(f"two tensors are named {name!r}")
        names.add(name)
        n_dims = cur.unpack("I", f"the dimension count of {name!r}")
        if not 1 <= n_dims <= _MAX_DIMS:
            raise cur.fail(f"tensor {name!r} has {n_dims} dimensions (GGUF allows 1 to {_MAX_DIMS})")
        shape = tuple(cur.unpack("Q", f"the shape of {name!r}") for _ in range(n_dims))
        raw_type = cur.unpack("I", f"the type of {name!r}")
        offset = cur.unpack("Q", f"the data offset of {name!r}")
        try:
            qtype = _Q(raw_type)
        except ValueError:
            raise cur.fail(f"tensor {name!r} has type id {raw_type}, which GGML does not define") from None
        if qtype not in DEQUANTIZABLE:
            raise ValueError(
                f"{path.name}: tensor {name!r} is stored as {qtype.name}; qnext-lab reads weights stored as "
                f"{_dequantizable_names()} (what gguf.quants can dequantise). Convert the file with llama.cpp's "
                "llama-quantize to one of them"
            )
        block, type_size = gguf.GGML_QUANT_SIZES[qtype]
        if 0 in shape or shape[0] % block:
            raise cur.fail(f"tensor {name!r} has shape {shape}: rows must be a whole number of {block}-blocks")
        numel = math.prod(shape)
        if numel // block * type_size > size:
            raise cur.fail(f"tensor {name!r} of shape {shape} needs more bytes than the whole file has")
        infos.append((name, shape, qtype, offset, numel // block * type_size))
    data_offset = -(-cur.pos // alignment) * alignment
    tensors = []
    for name, shape, qtype, offset, nbytes in infos:
        if offset % alignment:
            raise cur.fail(f"tensor {name!r} starts at offset {offset}, not a multiple of the alignment {alignment}")
        if data_offset + offset + nbytes > size:
            raise ValueError(
                f"{path.name}: tensor {name!r} ({qtype.name}, shape {shape}) ends at byte "
                f"{data_offset + offset + nbytes:,} but the file has {size:,} bytes: the file is truncated; "
                "download or export it again"
            )
        tensors.append(GGUFTensorInfo(name, shape, qtype, data_offset + offset, nbytes))
    return GGUFLayout(version, kv_count, alignment, data_offset, tuple(tensors), size, metadata, path)


# ---------------------------------------------------------------------------------------------- metadata

_INT_KEYS = {  # key suffix -> (low, attribute of GGUFLimits for the high bound or a number)
    "block_count": (1, "max_layers"),
    "expert_count": (1, "max_experts"),
    "embedding_length": (1, "max_width"),
    "feed_forward_length": (0, "max_width"),
    "expert_feed_forward_length": (1, "max_width"),
    "expert_shared_feed_forward_length": (0, "max_width"),
    "context_length": (1, 1 << 30),
    "attention.head_count": (1, "max_heads"),
    "attention.head_count_kv": (1, "max_heads"),
    "attention.key_length": (1, "max_width"),
    "attention.value_length": (1, "max_width"),
    "full_attention_interval": (1, "max_layers"),
    "rope.dimension_count": (0, "max_width"),
    "ssm.conv_kernel": (1, 64),
    "ssm.state_size": (1, "max_width"),
    "ssm.group_count": (1, "max_heads"),
    "ssm.time_step_rank": (1, "max_heads"),
    "ssm.inner_size": (1, "max_width"),
}


def check_metadata(meta: dict[str, Any], arch: str, path: str | os.PathLike, limits: GGUFLimits | None = None) -> None:
    """The ``{arch}.*`` numbers a loader builds a config from, and the vocabulary, within what a model can be."""
    limits, name = limits or GGUFLimits(), Path(path).name
    hint = f" in {name}; the file's metadata is wrong or hostile: get the file from its maker again"
    got: dict[str, int] = {}
    for suffix, (low, high) in _INT_KEYS.items():
        key = f"{arch}.{suffix}"
        if key in meta:
            high = getattr(limits, high) if isinstance(high, str) else high
            if isinstance(meta[key], list):  # per layer (llama.cpp writes 0 for a hybrid's recurrent layers)
                values = as_int_list(meta[key], key, low=0, high=high, hint=hint)
                if not values or max(values) < low:
                    raise ValueError(f"{key} must hold per-layer values with at least one >= {low}{hint}")
            else:
                got[suffix] = as_int(meta[key], key, low=low, high=high, hint=hint)
    key = f"{arch}.attention.layer_norm_rms_epsilon"
    if key in meta:
        as_float(meta[key], key, low=1e-30, high=0.1, hint=hint)
    key = f"{arch}.rope.freq_base"
    if key in meta:
        as_float(meta[key], key, low=1e-6, hint=hint)
    key = f"{arch}.expert_used_count"
    if key in meta:
        as_int(meta[key], key, low=1, high=got.get("expert_count", limits.max_experts), hint=hint)

    def divides(small: str, big: str) -> None:
        if small in got and big in got and got[big] % got[small]:
            raise ValueError(f"{arch}.{big} ({got[big]}) is not a multiple of {arch}.{small} ({got[small]}){hint}")

    divides("attention.head_count_kv", "attention.head_count")
    divides("ssm.group_count", "ssm.time_step_rank")
    divides("ssm.time_step_rank", "ssm.inner_size")
    if (
        "full_attention_interval" in got
        and "block_count" in got
        and got["full_attention_interval"] > got["block_count"]
    ):
        raise ValueError(f"{arch}.full_attention_interval exceeds {arch}.block_count{hint}")
    if got.get("rope.dimension_count", 0) > got.get("attention.key_length", limits.max_width):
        raise ValueError(f"{arch}.rope.dimension_count exceeds {arch}.attention.key_length{hint}")
    tokens = meta.get("tokenizer.ggml.tokens")
    if tokens is None:
        raise ValueError(
            f"{name} has no tokenizer.ggml.tokens: it carries no vocabulary, so there is no tokenizer to load "
            "(llama.cpp's converter always writes one)"
        )
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
        raise ValueError(f"tokenizer.ggml.tokens must be a non-empty array of strings{hint}")
    if len(tokens) > limits.max_vocab:
        raise ValueError(f"tokenizer.ggml.tokens has {len(tokens):,} entries (over {limits.max_vocab:,}){hint}")
    for special in ("bos", "eos", "padding", "unknown", "eot"):
        key = f"tokenizer.ggml.{special}_token_id"
        if key in meta:
            as_int(meta[key], key, low=0, high=len(tokens) - 1, hint=hint)
    template = meta.get("tokenizer.chat_template")
    if template is not None and not isinstance(template, str):
        raise ValueError(f"tokenizer.chat_template must be a string{hint}")


def _memory_bytes(limits: GGUFLimits) -> int:
    if limits.memory_bytes is not None:
        return limits.memory_bytes
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: no bound from memory
        return 1 << 62


def check_size(
    expected_numel: int, layout: GGUFLayout, path: str | os.PathLike, limits: GGUFLimits | None = None
) -> None:
    """The model the metadata describes must be the weights the file holds, and fit in memory as float32
    (dequantised copies + the model: about 2 x 4 bytes a weight), before anything is allocated."""
    limits, name = limits or GGUFLimits(), Path(path).name
    if expected_numel > layout.numel:
        raise ValueError(
            f"{name}: the metadata describes a model of {expected_numel:,} weights but the file holds "
            f"{layout.numel:,}; the metadata (layer, expert or width counts) does not match the tensors"
        )
    need, have = 8 * expected_numel, _memory_bytes(limits)
    if need > have:
        raise ValueError(
            f"{name}: dequantising {expected_numel:,} weights to float32 needs about {need / 2**30:.1f} GiB; "
            f"this machine has {have / 2**30:.1f} GiB. Use a machine with more memory (or llama.cpp)"
        )


def moe_weights(meta: dict[str, Any], arch: str) -> int:
    """Routed-expert weights the metadata describes (layers x experts x 3 x hidden x expert width), 0 if unsaid:
    a lower bound on what the model holds, checked against the file before transformers builds anything."""
    keys = ("block_count", "expert_count", "embedding_length", "expert_feed_forward_length")
    values = [meta.get(f"{arch}.{k}") for k in keys]
    return 3 * math.prod(int(v) for v in values) if all(v is not None for v in values) else 0


def check_weights(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Refuse a loaded model with NaN/inf weights, or whose logits for one probe token are not finite
    (random block bytes, e.g. a Q8_0 file of noise, give huge scales that overflow)."""
    name = Path(path).name
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if not torch.isfinite(p).all():
                bad = int((~torch.isfinite(p)).sum())
                raise ValueError(
                    f"{name}: weight {pname!r} holds {bad:,} NaN/inf values; the file is corrupt (or was "
                    "quantised from a broken model): get it from its maker again"
                )
        logits = model(input_ids=torch.zeros(1, 1, dtype=torch.long)).logits
    if not torch.isfinite(logits).all():
        raise ValueError(
            f"{name}: every weight is finite but the model's logits for one token are NaN/inf (the weights are "
            "out of any trained model's range, e.g. random bytes in quantised blocks): the file is not a usable model"
        )

"""From hit rate to tokens per second: decode speed of an MoE model whose experts do not all fit on the GPU.

Memory tiers (GPU memory, host RAM, NVMe) with capacities and bandwidths (``Machine``), the bytes of one expert
in a weight format (GGML block sizes from the ``gguf`` package: F16 2 B/weight, Q8_0 34 B per 32, Q4_0 18 per 32,
MXFP4 17 per 32, any other GGML type by name), and a cache of ``slots`` experts per MoE layer on the GPU with hit
rate ``hit_rate`` (from ``expert_cache`` on a real trace). ``offload_cost`` answers: at this format, on this
machine, with this many slots and this hit rate, about how many tokens per second does decoding reach, and which
term bounds it. ``model_cost(config, offload=dict(...))`` passes its arguments here.

The model (a roofline: bytes over bandwidth, nothing else; real engines add per-layer overheads, see
``overhead_per_layer`` and docs/benchmarks.md for the published runs it was checked against):
- On the GPU: every non-expert weight (attention, shared experts, norms, router, output head; embeddings held but
  one row read), ``slots`` experts per MoE layer, KV cache + recurrent state of ``batch`` sequences at ``context``
  (from ``ModelCost``), ``gpu_reserve`` bytes for activations and the runtime. The experts that do not fit wait in
  host RAM, and what does not fit in RAM on NVMe (misses come from NVMe in that proportion).
- Per decode step (``batch`` sequences, one token each) and MoE layer, the step asks for U distinct experts:
  U = E * (1 - (1 - k/E)^batch) (uniform routing; U = k at batch 1). A share ``hit_rate`` is resident.
- ``mode="fetch"`` (``qnext_lab.offload``, engines with a GPU expert cache): misses cross the host link into a
  slot and run on the GPU, so the GPU reads all U experts. ``mode="cpu"`` (llama.cpp ``--n-cpu-moe`` / ``-ot
  exps=CPU``, ktransformers): misses run on the CPU, which reads them from RAM; the GPU reads the hits.
- Step time = GPU bytes / GPU bandwidth + miss bytes / (link or RAM bandwidth) + NVMe bytes / NVMe bandwidth
  + MoE layers * ``overhead_per_layer``; the terms are added (a decode step is a chain of layers, each waiting
  for the one before). Tokens/s = batch / step time; ``bound`` names the largest term.
Knows configs (through ``config_shape``, the counts ``model_cost`` uses too) and a ModelCost's KV and state
bytes; knows nothing about traces.

    c = ql.model_cost(Qwen3NextConfig(), context=4096,
                      offload=dict(format="Q4_0", machine="RTX 4090 + 64 GB DDR5", hit_rate=0.6))
    c.offload.tokens_per_s, c.offload.bound

Dimension legend: E = experts per layer, k = experts per token, L = MoE layers, b = batch.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import gguf

from ..checks import as_float, as_int
from .config_shape import ConfigShape, config_shape

__all__ = ["MACHINES", "Machine", "OffloadCost", "expert_bytes", "format_bytes", "offload_cost"]

GB = 1e9
GiB = 2**30
MODES = ("fetch", "cpu")


@dataclass(frozen=True)
class Machine:
    """Memory tiers of one computer. Bandwidths in bytes/s as a real run reaches them (not datasheet peaks)."""

    name: str
    gpu_memory: float  # bytes
    gpu_bandwidth: float  # bytes/s, GPU reading its own memory
    ram: float  # bytes of host RAM the experts may use
    ram_bandwidth: float  # bytes/s, CPU reading host RAM
    link_bandwidth: float  # bytes/s, host RAM -> GPU (PCIe)
    disk_bandwidth: float  # bytes/s, NVMe reads
    gpu_reserve: float = 1.5 * GiB  # activations, CUDA context, allocator slack

    @classmethod
    def from_datasheet(
        cls, name: str, *, efficiency: float = 0.8, measured: dict[str, float] | None = None, **peaks: float
    ) -> Machine:
        """A machine from datasheet peaks, every bandwidth scaled by ``efficiency`` (what runs reach: ~0.7-0.9);
        ``measured``: bandwidths someone measured on the machine, taken as they are."""
        efficiency = as_float(efficiency, "efficiency", low=0.01, high=1.0)
        measured = dict(measured or {})
        both = sorted(set(measured) & set(peaks))
        if both:
            raise ValueError(f"{both} given both as a datasheet peak and as measured: pass each bandwidth once")
        scaled = {k: v * efficiency if k.endswith("bandwidth") else v for k, v in peaks.items()}
        return cls(name=name, **scaled, **measured)


# Datasheet peaks, scaled x 0.8 by Machine.from_datasheet. PCIe 4.0 x16 32 GB/s, 5.0 x16 64 GB/s; DDR5-5600 dual
# channel 89.6 GB/s, DDR4-3200 dual channel 51.2 GB/s; NVMe Gen4 ~7 GB/s sequential reads; GPU memory bandwidths
# from the vendors' sheets. Columns: GPU memory (GiB), GPU bandwidth, RAM (GiB), RAM bandwidth, host link, NVMe
# (bandwidths in GB/s).
_DATASHEETS = {
    "RTX 4090 + 64 GB DDR5": (24, 1008, 64, 89.6, 32, 7),
    "RTX 3090 + 32 GB DDR4": (24, 936, 32, 51.2, 32, 7),
    "RTX 5090 + 128 GB DDR5": (32, 1792, 128, 89.6, 64, 12),
    "RTX 4060 Ti 16 GB + 64 GB DDR5": (16, 288, 64, 89.6, 16, 7),  # an x8 card: half the link
    "H100 80 GB (all on GPU)": (80, 3350, 256, 300, 64, 12),
}
MACHINES: dict[str, Machine] = {
    name: Machine.from_datasheet(
        name,
        gpu_memory=gpu * GiB,
        gpu_bandwidth=gpu_bw * GB,
        ram=ram * GiB,
        ram_bandwidth=ram_bw * GB,
        link_bandwidth=link * GB,
        disk_bandwidth=disk * GB,
    )
    for name, (gpu, gpu_bw, ram, ram_bw, link, disk) in _DATASHEETS.items()
}


@dataclass(frozen=True)
class OffloadCost:
    """Predicted decode speed with a per-layer expert cache of ``slots`` experts (bytes, seconds per step)."""

    format: str
    machine: str
    mode: str
    slots: int  # experts per MoE layer resident on the GPU
    max_slots: int  # the most that fit next to the rest of the model
    num_experts: int  # E, routed experts per MoE layer
    moe_layers: int  # L, MoE layers (each adds `overhead_per_layer` to a step)
    hit_rate: float
    hit_rate_source: str  # "given" or "uniform routing (slots / E)"
    batch: int
    expert_bytes: int  # one expert in `format`
    experts_bytes: float  # all routed experts
    gpu_bytes: float  # bytes held on the GPU (weights, slots, KV + state, reserve)
    ram_bytes: float  # experts held in host RAM
    disk_bytes: float  # experts left on NVMe
    misses_per_token: float  # expert loads per decoded token, all MoE layers
    time_gpu: float  # seconds per step reading GPU memory
    time_transfer: float  # seconds per step: host link (fetch) or CPU reading RAM (cpu)
    time_disk: float  # seconds per step reading NVMe
    time_overhead: float  # seconds per step of fixed per-layer cost
    tokens_per_s: float
    bound: str  # "GPU memory", "host link", "CPU RAM reads", "NVMe" or "per-layer overhead"

    def summary(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def overhead_to_match(self, tokens_per_s: float) -> float:
        """The ``overhead_per_layer`` (seconds per MoE layer and step) with which this prediction would equal a
        measured ``tokens_per_s``: the measured step time minus the roofline's terms, over the MoE layers
        (calibrate on an engine's all-on-GPU run, then predict its offloaded runs with it)."""
        measured = as_float(tokens_per_s, "tokens_per_s", low=1e-12)
        roofline = self.time_gpu + self.time_transfer + self.time_disk
        return (self.batch / measured - roofline) / max(1, self.moe_layers)


def format_bytes(format: str) -> float:
    """Bytes per weight of a GGML format (``"F16"``, ``"Q8_0"``, ``"Q4_0"``, ``"MXFP4"``, ``"Q4_K"``, ...)."""
    if not isinstance(format, str):
        raise TypeError(f"format must be a GGML type name such as 'Q4_0', got {type(format).__name__}")
    try:
        block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[format.upper()]]
    except KeyError:
        raise ValueError(f"unknown format {format!r}: use a GGML type name such as F16, Q8_0, Q4_0, MXFP4") from None
    return size / block


def _row_bytes(n: int, format: str) -> float:
    """Bytes of one row of ``n`` weights; rows that are not whole blocks stay F16, as llama.cpp's converter does."""
    block = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[format.upper()]][0]
    return n * (format_bytes(format) if n % block == 0 else 2.0)


def _shape(config: Any) -> ConfigShape:
    shape = config_shape(config)  # impossible configs refused before the meta build
    if not shape.num_experts:
        raise ValueError(f"{type(config).__name__} has no routed experts: there is nothing to offload")
    return shape


def _expert_bytes(shape: ConfigShape, format: str) -> int:
    H, I = shape.hidden, shape.expert_width
    return round(2 * I * _row_bytes(H, format) + H * _row_bytes(I, format))


def expert_bytes(config: Any, format: str) -> int:
    """Bytes of one routed expert of ``config`` in ``format`` (gate + up: 2I rows of H; down: H rows of I)."""
    return _expert_bytes(_shape(config), format)


def _machine(machine: Machine | str) -> Machine:
    if isinstance(machine, Machine):
        return machine
    if isinstance(machine, str) and machine in MACHINES:
        return MACHINES[machine]
    raise ValueError(f"machine must be a Machine or one of {list(MACHINES)}, got {machine!r}")


def offload_cost(
    config: Any,
    cost: Any,
    *,
    format: str = "Q4_0",
    machine: Machine | str = "RTX 4090 + 64 GB DDR5",
    slots: int | None = None,
    hit_rate: float | None = None,
    mode: str = "fetch",
    overhead_per_layer: float = 0.0,
) -> OffloadCost:
    """Decode speed of ``config`` with ``cost``'s context and batch (a ``ModelCost``) on ``machine`` (module doc).

    ``slots``: experts per MoE layer on the GPU (default: as many as fit). ``hit_rate``: share of expert requests
    found resident (default: ``slots / E``, uniform routing with no locality). ``overhead_per_layer``: seconds
    each MoE layer adds per step beyond its bytes (kernel launches, CPU/GPU hand-offs; 0 = pure roofline).
    Raises ValueError when the model's non-expert part (or the slots asked for) does not fit on the GPU.
    """
    m = _machine(machine)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES} ('fetch': misses copied to the GPU; 'cpu': run on the CPU)")
    overhead = as_float(overhead_per_layer, "overhead_per_layer", low=0.0)
    shape = _shape(config)
    E, L, b = shape.num_experts, shape.moe_layers, int(cost.batch)
    per_byte = format_bytes(format)
    one = _expert_bytes(shape, format)
    dense = shape.params_total - shape.params_experts  # embeddings, attention, shared experts, norms, router, head
    dense_bytes = dense * per_byte
    state = cost.kv_cache_memory + cost.state_memory
    free = m.gpu_memory - m.gpu_reserve - dense_bytes - state
    if free < 0:
        raise ValueError(
            f"{m.name}: the non-expert weights ({dense_bytes / GiB:.1f} GiB in {format}) and the KV cache + state "
            f"({state / GiB:.1f} GiB) need more than the GPU's {m.gpu_memory / GiB:.0f} GiB minus "
            f"{m.gpu_reserve / GiB:.1f} GiB reserve; pick a smaller format, context or batch"
        )
    max_slots = min(E, int(free // (L * one)))
    if slots is None:
        slots = max_slots
    slots = as_int(
        slots, "slots", low=0, high=max_slots, hint=f" (at most {max_slots} of {E} experts per layer fit on {m.name})"
    )
    if hit_rate is None:
        hit, source = slots / E, "uniform routing (slots / E)"
    else:
        hit, source = as_float(hit_rate, "hit_rate", low=0.0, high=1.0), "given"
    if slots == E:
        hit = 1.0
    experts_bytes = L * E * one
    off_gpu = L * (E - slots) * one
    ram_bytes = min(off_gpu, m.ram)
    disk_share = (off_gpu - ram_bytes) / off_gpu if off_gpu else 0.0

    unique = E * shape.reached_share(b)  # distinct experts a step asks for, per layer
    miss_bytes = L * unique * (1 - hit) * one  # per step
    # every non-embedding weight is read once per step; a tied output head is the embedding, read as the head
    head_and_body = (dense - shape.params_embedding + shape.tied * shape.vocab * shape.hidden) * per_byte
    reads_gpu = head_and_body + b * (cost.decode_bytes_kv + cost.decode_bytes_state)
    if mode == "fetch":
        reads_gpu += L * unique * one
        t_transfer = miss_bytes / m.link_bandwidth
    else:
        reads_gpu += L * unique * hit * one
        t_transfer = miss_bytes / m.ram_bandwidth
    terms = {
        "GPU memory": reads_gpu / m.gpu_bandwidth,
        "host link" if mode == "fetch" else "CPU RAM reads": t_transfer,
        "NVMe": miss_bytes * disk_share / m.disk_bandwidth,
        "per-layer overhead": L * overhead,
    }
    step = sum(terms.values())
    return OffloadCost(
        format=format.upper(),
        machine=m.name,
        mode=mode,
        slots=slots,
        max_slots=max_slots,
        num_experts=E,
        moe_layers=L,
        hit_rate=hit,
        hit_rate_source=source,
        batch=b,
        expert_bytes=one,
        experts_bytes=float(experts_bytes),
        gpu_bytes=float(m.gpu_reserve + dense_bytes + state + L * slots * one),
        ram_bytes=float(ram_bytes),
        disk_bytes=float(off_gpu - ram_bytes),
        misses_per_token=L * unique * (1 - hit) / b,
        time_gpu=terms["GPU memory"],
        time_transfer=t_transfer,
        time_disk=terms["NVMe"],
        time_overhead=terms["per-layer overhead"],
        tokens_per_s=b / step if step > 0 else math.inf,
        bound=max(terms, key=terms.get),
    )

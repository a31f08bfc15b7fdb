"""RoutingTrace: the routing decisions of one capture, as data.

Holds, for each captured MoE layer and each processed token, the chosen experts (rank order), their
combine weights and optionally the full router distribution and, for routers that choose with a bias the
combine weights do not use (DeepSeek-V3 and its kin), the biased selection scores, plus where each token came from (sequence,
position, token id, phase, decoded text). Saves to and loads from safetensors; flattens to a long pandas
DataFrame. Knows nothing about models, hooks or figures (``capture`` fills it; ``analysis`` reads it).

    trace = RoutingTrace.load("trace.safetensors")
    df = trace.select(seq=0).layer(3).to_dataframe()

Dimension legend: L = MoE layers captured, N = tokens (padding excluded), k = top-k, E = experts.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..checks import as_int, as_int_list
from ..formats.atomic import writing
from .phases import PHASES

if TYPE_CHECKING:  # pandas is imported lazily: a trace needs no pandas until it is flattened
    import pandas as pd

FORMAT_NAME = "qnext_lab.RoutingTrace"
FORMAT_VERSION = 1
METADATA_KEY = "qnext_lab"
MAX_EXPERTS = 4096
"""Largest ``num_experts`` a trace may declare: 8x the largest public MoE (Qwen3-Next's 512 routed experts).
The views and metrics allocate per-expert (and, for co-activation, E x E) tables, so an absurd count in a
small file would otherwise allocate gigabytes or hang."""
_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1


def _index(name: str, value: Any, low: int = 0, high: int | None = None) -> int:
    """An integral scalar in [low, high] by the kit's one rule (``checks.as_int``)."""
    return as_int(value, f"RoutingTrace.{name}", low=low, high=high)


def _tensor(name: str, value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(
            f"RoutingTrace.{name} must be a tensor (or array / nested list of numbers), got "
            f"{type(value).__name__}: {exc}"
        ) from None


def _as_int(
    name: str, value: Any, dtype: torch.dtype, ndim: int, low: int = 0, high: int = _INT32_MAX, what: str = ""
) -> torch.Tensor:
    """An integer tensor of ``ndim`` dims with values in [low, high], converted to ``dtype`` on the CPU.

    The range is checked before the conversion, so that no value wraps around in a narrower dtype.
    """
    t = _tensor(name, value)
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"RoutingTrace.{name} must be an integer tensor, got {t.dtype}")
    if t.dim() != ndim:
        raise ValueError(f"RoutingTrace.{name} must have {ndim} dimensions, got shape {tuple(t.shape)}")
    if t.numel():
        lo, hi = int(t.min()), int(t.max())
        if lo < low or hi > high:
            raise ValueError(f"RoutingTrace.{name} values must lie in [{low}, {high}]{what}, got range [{lo}, {hi}]")
    return t.detach().to(device="cpu", dtype=dtype)


def _as_float(
    name: str, value: Any, ndim: int, low: float | None = None, high: float | None = None, what: str = ""
) -> torch.Tensor:
    """A finite float32 tensor of ``ndim`` dims on the CPU (NaN / inf refused), optionally in [low, high]."""
    t = _tensor(name, value)
    if not t.is_floating_point():
        raise TypeError(f"RoutingTrace.{name} must be a floating-point tensor, got {t.dtype}")
    if t.dim() != ndim:
        raise ValueError(f"RoutingTrace.{name} must have {ndim} dimensions, got shape {tuple(t.shape)}")
    t = t.detach().to(device="cpu", dtype=torch.float32)
    if t.numel():
        bad = ~torch.isfinite(t)
        if bool(bad.any()):
            where = tuple(int(i) for i in bad.nonzero()[0])
            raise ValueError(
                f"RoutingTrace.{name} has {int(bad.sum())} NaN/inf value(s) (first at {where}); a "
                f"trace holds finite numbers only: recapture, or drop those tokens before building it"
            )
        lo, hi = float(t.min()), float(t.max())
        if (low is not None and lo < low) or (high is not None and hi > high):
            raise ValueError(f"RoutingTrace.{name} values must lie in [{low}, {high}]{what}, got range [{lo}, {hi}]")
    return t


def _distinct_in_rows(ids: torch.Tensor, chunk: int = 1 << 14, skip: Sequence[int] = ()) -> None:
    """Refuse an expert chosen twice for one token in one layer (a router never does; the metrics rely on it).

    ids: int32 (L, N, k) with values in [0, MAX_EXPERTS). Chunks of rows are transposed to (k, c) int16, small
    enough to stay in cache, and each rank is compared with the ranks after it: k - 1 vectorised compares per
    chunk (about 9x faster than per-pair compares over the whole tensor; see benchmarks/bench_trace_checks.py).
    """
    L, N, k = ids.shape
    if k < 2 or ids.numel() == 0:
        return
    if skip:  # hash-routed layers may name one expert twice; check the others
        keep = [i for i in range(L) if i not in set(skip)]
        if len(keep) < L:
            if keep:
                _distinct_in_rows(ids[keep].contiguous(), chunk)
            return
    rows = ids.reshape(-1, k).numpy()  # (L*N, k), a view
    for start in range(0, rows.shape[0], chunk):
        block = np.ascontiguousarray(rows[start : start + chunk].T.astype(np.int16))  # (k, c)
        for i in range(k - 1):
            same = block[i + 1 :] == block[i]  # (k-1-i, c): rank j > i repeats rank i
            if same.any():
                j, col = (int(x) for x in np.argwhere(same)[0])
                layer, token = divmod(start + col, N)
                raise ValueError(
                    f"RoutingTrace.topk_ids repeats expert {int(block[i, col])} at ranks {i} and "
                    f"{i + 1 + j} (layer position {layer}, token {token}); each token's top-k experts "
                    f"must be distinct, except in hash-routed layers (list them in hash_layers)"
                )


_PER_LAYER = {"topk_ids", "topk_weights", "probs", "selection_scores"}  # the (L, ...) tensors a layer selection slices


def _sha256(data: torch.Tensor | bytes) -> str:
    if isinstance(data, torch.Tensor):  # the bytes safetensors stores (little-endian, row-major)
        data = data.contiguous().numpy().tobytes()
    return hashlib.sha256(data).hexdigest()


def _layer_positions(path: str, raw: str, selected: list[int]) -> list[int]:
    try:
        stored = json.loads(raw)["layer_indices"]
        positions = [stored.index(layer) for layer in selected]
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path!r}: corrupt qnext_lab metadata ({exc!r})") from exc
    except ValueError:
        raise ValueError(f"{path!r} holds layers {stored}, not all of {selected}") from None
    if len(set(selected)) != len(selected):
        raise ValueError(f"layers {selected} repeat a layer; name each decoder layer once")
    return positions


def _check_digests(path: str, raw: str, tensors: dict[str, torch.Tensor], digests: dict, selected) -> None:
    """Every piece read against the digests ``save`` returned: the metadata, whole tensors, and the per-layer
    tensors layer by layer (only the layers read)."""
    problems = []
    if digests.get("metadata") != _sha256(raw.encode()):
        problems.append("metadata")
    if set(tensors) != {k for k in digests if k != "metadata"}:
        problems.append(f"tensor names {sorted(tensors)}")
    for name, t in tensors.items():
        recorded = digests.get(name)
        if name in _PER_LAYER:
            layers = selected if selected is not None else json.loads(raw).get("layer_indices", [])
            if not isinstance(recorded, dict) or len(layers) != t.shape[0]:
                problems.append(name)
                continue
            problems += [f"{name}[layer {l}]" for j, l in enumerate(layers) if recorded.get(str(l)) != _sha256(t[j])]
        elif recorded != _sha256(t):
            problems.append(name)
    if problems:
        raise ValueError(
            f"{path!r}: {', '.join(problems[:4])} differ from the digests recorded when it was written "
            "(corrupt, or a file from another run)"
        )


def _layer_arg(i: Any) -> int:
    return as_int(i, "layer (a decoder-layer index)")


@dataclass(repr=False)
class RoutingTrace:
    """Routing of N tokens through L MoE layers (see ``docs/architecture.md`` for the contract).

    Tokens are ordered as the model processed them: prefill rows first, then each decode step, so for a
    single sequence row ``n`` is position ``n``. Tensors live on the CPU. Every field is checked at
    construction (dtypes, shapes, ranges: ids in [0, num_experts), num_experts <= ``MAX_EXPERTS``, finite
    weights, non-negative positions and sequence indices, phases indexing ``PHASES``); a bad field raises a
    ValueError or TypeError naming it.
    """

    topk_ids: torch.Tensor  # int32 (L, N, k), rank 0 = highest weight
    topk_weights: torch.Tensor  # float32 (L, N, k)
    token_ids: torch.Tensor  # int64 (N,)
    seq_index: torch.Tensor  # int32 (N,)
    position: torch.Tensor  # int32 (N,)
    layer_indices: list[int]  # (L,) decoder-layer index of each captured layer
    num_experts: int
    top_k: int
    model_name: str = ""
    probs: torch.Tensor | None = None  # float32 (L, N, E)
    phase: torch.Tensor | None = None  # int8 (N,), index into PHASES
    tokens: list[str] | None = None  # (N,) decoded text, untrusted
    hash_layers: list[int] = field(default_factory=list)  # layers routed by a token-id table: ids may repeat
    zero_experts: int = 0  # the last zero_experts ids are zero-computation (identity) experts (LongCat-Flash)
    selection_scores: torch.Tensor | None = None  # float32 (L, N, E): probs + selection-only bias (see below)

    # selection_scores: what the router's top-k compared, for routers whose rule adds a bias for the choice
    # only (``families.rules``: selection_bias): the scores (``probs``) plus ``e_score_correction_bias``,
    # before any group limit (a group-limited router ranks its groups by these same scores, then takes the
    # top-k within the best groups). None for every other router: there the top-k of ``probs`` is the choice.

    def __post_init__(self) -> None:
        self.num_experts = _index("num_experts", self.num_experts, 1, MAX_EXPERTS)
        self.top_k = _index("top_k", self.top_k, 0, self.num_experts)
        if not isinstance(self.model_name, str):
            raise TypeError(f"RoutingTrace.model_name must be a str, got {type(self.model_name).__name__}")
        if isinstance(self.layer_indices, (str, bytes)) or not isinstance(self.layer_indices, Iterable):
            raise TypeError(
                f"RoutingTrace.layer_indices must be a list of decoder-layer indices, got "
                f"{type(self.layer_indices).__name__}"
            )
        self.layer_indices = [_index("layer_indices[]", i, 0, _INT32_MAX) for i in self.layer_indices]
        if isinstance(self.hash_layers, (str, bytes)) or not isinstance(self.hash_layers, Iterable):
            raise TypeError(
                f"RoutingTrace.hash_layers must be a list of decoder-layer indices, got {self.hash_layers!r}"
            )
        self.hash_layers = sorted({_index("hash_layers[]", i, 0, _INT32_MAX) for i in self.hash_layers})
        stray = [i for i in self.hash_layers if i not in self.layer_indices]
        if stray:
            raise ValueError(f"RoutingTrace.hash_layers {stray} are not captured layers ({self.layer_indices})")
        self.zero_experts = _index("zero_experts", self.zero_experts, 0, self.num_experts - 1)
        E = self.num_experts
        self.topk_ids = _as_int("topk_ids", self.topk_ids, torch.int32, 3, 0, E - 1, f" (num_experts={E})")
        self.topk_weights = _as_float("topk_weights", self.topk_weights, 3)
        self.token_ids = _as_int("token_ids", self.token_ids, torch.int64, 1, 0, _INT64_MAX)
        self.seq_index = _as_int("seq_index", self.seq_index, torch.int32, 1)
        self.position = _as_int("position", self.position, torch.int32, 1)
        L, N, k = self.topk_ids.shape
        if self.topk_weights.shape != (L, N, k):
            raise ValueError(f"topk_weights shape {tuple(self.topk_weights.shape)} != topk_ids shape {(L, N, k)}")
        if k != self.top_k:
            raise ValueError(f"topk_ids has k={k} columns but top_k={self.top_k}")
        if len(self.layer_indices) != L:
            raise ValueError(f"layer_indices has {len(self.layer_indices)} entries for {L} captured layers")
        if len(set(self.layer_indices)) != L:
            raise ValueError(f"layer_indices must be distinct, got {self.layer_indices}")
        for name in ("token_ids", "seq_index", "position"):
            if getattr(self, name).shape != (N,):
                raise ValueError(f"{name} must have shape ({N},), got {tuple(getattr(self, name).shape)}")
        if self.probs is not None:
            self.probs = _as_float(
                "probs", self.probs, 3, 0.0, 1.0, " (router probabilities: softmax or sigmoid scores)"
            )
            if self.probs.shape != (L, N, E):
                raise ValueError(
                    f"probs must have shape {(L, N, E)} (layers, tokens, num_experts), got {tuple(self.probs.shape)}"
                )
        if self.selection_scores is not None:
            self.selection_scores = _as_float("selection_scores", self.selection_scores, 3)
            if self.selection_scores.shape != (L, N, E):
                raise ValueError(
                    f"selection_scores must have shape {(L, N, E)} (layers, tokens, num_experts), got "
                    f"{tuple(self.selection_scores.shape)}"
                )
        if self.phase is not None:
            self.phase = _as_int(
                "phase", self.phase, torch.int8, 1, 0, len(PHASES) - 1, f" (indices into PHASES={PHASES})"
            )
            if self.phase.shape != (N,):
                raise ValueError(f"phase must have shape ({N},), got {tuple(self.phase.shape)}")
        _distinct_in_rows(self.topk_ids, skip=[self.layer_indices.index(i) for i in self.hash_layers])
        if self.tokens is not None:
            if isinstance(self.tokens, (str, bytes)) or not isinstance(self.tokens, Iterable):
                raise TypeError(f"RoutingTrace.tokens must be a list of str, got {type(self.tokens).__name__}")
            self.tokens = list(self.tokens)
            if len(self.tokens) != N:
                raise ValueError(f"tokens has {len(self.tokens)} entries for {N} tokens")
            wrong = next((t for t in self.tokens if not isinstance(t, str)), None)
            if wrong is not None:
                raise TypeError(
                    f"RoutingTrace.tokens must hold str (decoded token text), found {type(wrong).__name__} {wrong!r}"
                )

    # ------------------------------------------------------------------ sizes
    @property
    def num_layers(self) -> int:
        return self.topk_ids.shape[0]

    @property
    def num_tokens(self) -> int:
        return self.topk_ids.shape[1]

    def __len__(self) -> int:
        return self.num_tokens

    def __repr__(self) -> str:
        extras = [name for name in ("probs", "selection_scores", "phase", "tokens") if getattr(self, name) is not None]
        return (
            f"RoutingTrace(model={self.model_name!r}, layers={self.num_layers}, tokens={self.num_tokens}, "
            f"sequences={self.num_sequences}, experts={self.num_experts}, top_k={self.top_k}"
            + (f", with {'+'.join(extras)}" if extras else "")
            + (f", hash-routed layers {self.hash_layers}" if self.hash_layers else "")
            + (f", {self.zero_experts} zero-computation experts" if self.zero_experts else "")
            + ")"
        )

    @property
    def num_sequences(self) -> int:
        return int(torch.unique(self.seq_index).numel())

    # ------------------------------------------------------------------ views
    def _view(self, **changes: Any) -> RoutingTrace:
        """A copy with some fields replaced by slices of this (already checked) trace: no re-validation."""
        out = copy.copy(self)
        out.layer_indices = list(self.layer_indices)  # a list is mutable: never share it between traces
        out.hash_layers = list(self.hash_layers)
        for name, value in changes.items():
            setattr(out, name, value)
        return out

    def _take_tokens(self, rows: torch.Tensor) -> RoutingTrace:  # rows: int64 (n,)
        return self._view(
            topk_ids=self.topk_ids[:, rows],
            topk_weights=self.topk_weights[:, rows],
            token_ids=self.token_ids[rows],
            seq_index=self.seq_index[rows],
            position=self.position[rows],
            probs=None if self.probs is None else self.probs[:, rows],
            selection_scores=None if self.selection_scores is None else self.selection_scores[:, rows],
            phase=None if self.phase is None else self.phase[rows],
            tokens=None if self.tokens is None else [self.tokens[i] for i in rows.tolist()],
        )

    def select(
        self,
        seq: int | Sequence[int] | None = None,
        phase: str | int | Sequence[str | int] | None = None,
        mask: torch.Tensor | None = None,
    ) -> RoutingTrace:
        """Tokens of the given sequence(s), phase(s) and/or boolean ``mask`` (N,), order kept.

        Sequence indices are kept as they were (not renumbered).
        """
        keep = torch.ones(self.num_tokens, dtype=torch.bool)  # (N,)
        if seq is not None:
            one = not isinstance(seq, Iterable) or isinstance(seq, (str, bytes))
            wanted = torch.tensor(
                [_index("select(seq=)", s, 0, _INT32_MAX) for s in ([seq] if one else seq)], dtype=torch.int32
            )
            known = set(torch.unique(self.seq_index).tolist())
            missing = [s for s in wanted.tolist() if s not in known]
            if missing:
                raise ValueError(f"sequence(s) {missing} not in this trace; it has {sorted(known)}")
            keep &= torch.isin(self.seq_index, wanted)
        if phase is not None:
            if self.phase is None:
                raise ValueError("this trace has no phase labels; label it first (thinking.generate does)")
            names = [phase] if isinstance(phase, str) or not isinstance(phase, Iterable) else list(phase)
            codes = []
            for p in names:
                if isinstance(p, str):
                    if p not in PHASES:
                        raise ValueError(f"unknown phase {p!r}; expected one of {PHASES}")
                    p = PHASES.index(p)
                codes.append(_index("select(phase=)", p, 0, len(PHASES) - 1))
            keep &= torch.isin(self.phase, torch.tensor(codes, dtype=torch.int8))
        if mask is not None:
            mask = torch.as_tensor(mask)
            if mask.dtype != torch.bool or mask.shape != (self.num_tokens,):
                raise ValueError(f"mask must be a bool tensor of shape ({self.num_tokens},)")
            keep &= mask
        return self._take_tokens(keep.nonzero().flatten())

    def layer(self, i: int) -> RoutingTrace:
        """The trace restricted to decoder layer ``i`` (a value of ``layer_indices``, not a position)."""
        i = _layer_arg(i)
        if i not in self.layer_indices:
            raise ValueError(f"layer {i} was not captured; captured layers are {self.layer_indices}")
        return self.layers([i])

    def layers(self, indices: Iterable[int]) -> RoutingTrace:
        """The trace restricted to the given decoder layers, in the given order."""
        if isinstance(indices, (str, bytes)) or not isinstance(indices, Iterable):
            raise TypeError(f"layers() takes an iterable of decoder-layer indices, got {type(indices).__name__}")
        indices = [_layer_arg(i) for i in indices]
        unknown = [i for i in indices if i not in self.layer_indices]
        if unknown:
            raise ValueError(f"layer(s) {unknown} were not captured; captured layers are {self.layer_indices}")
        if len(set(indices)) != len(indices):
            raise ValueError(f"layers {indices} repeat a layer; name each decoder layer once")
        pos = torch.tensor([self.layer_indices.index(i) for i in indices], dtype=torch.long)  # (L',)
        return self._view(
            topk_ids=self.topk_ids[pos],
            topk_weights=self.topk_weights[pos],
            probs=None if self.probs is None else self.probs[pos],
            selection_scores=None if self.selection_scores is None else self.selection_scores[pos],
            layer_indices=indices,
            hash_layers=[i for i in self.hash_layers if i in indices],
        )

    @classmethod
    def concat(cls, traces: Sequence[RoutingTrace], renumber_sequences: bool = True) -> RoutingTrace:
        """Join traces of the same model along tokens.

        With ``renumber_sequences`` each trace's sequences are shifted past the previous ones, so that
        sequence indices stay distinct; without it they are kept (e.g. shards that carry global indices).
        """
        if not traces:
            raise ValueError("concat needs at least one trace")
        wrong = next((t for t in traces if not isinstance(t, RoutingTrace)), None)
        if wrong is not None:
            raise TypeError(f"concat joins RoutingTraces, got a {type(wrong).__name__}")
        first = traces[0]
        for t in traces[1:]:
            mine = (t.layer_indices, t.num_experts, t.top_k, t.hash_layers, t.zero_experts)
            if mine != (first.layer_indices, first.num_experts, first.top_k, first.hash_layers, first.zero_experts):
                raise ValueError(
                    "traces differ in layers, num_experts, top_k, hash-routed layers or zero-computation experts "
                    "and cannot be joined"
                )
            for name in ("probs", "selection_scores", "phase", "tokens"):
                if (getattr(t, name) is None) != (getattr(first, name) is None):
                    raise ValueError(f"some traces have {name} and others do not")
        seqs, offset = [], 0
        for t in traces:
            s = t.seq_index
            if renumber_sequences:
                s = s - (int(s.min()) if len(t) else 0) + offset
                offset = int(s.max()) + 1 if len(t) else offset
            seqs.append(s)

        def joined(name: str, dim: int) -> torch.Tensor | None:
            return None if getattr(first, name) is None else torch.cat([getattr(t, name) for t in traces], dim)

        # every part was checked when it was built, and the checks above make the join valid: no re-validation
        return first._view(
            topk_ids=torch.cat([t.topk_ids for t in traces], 1),
            topk_weights=torch.cat([t.topk_weights for t in traces], 1),
            token_ids=torch.cat([t.token_ids for t in traces]),
            seq_index=torch.cat(seqs),
            position=torch.cat([t.position for t in traces]),
            layer_indices=list(first.layer_indices),
            probs=joined("probs", 1),
            selection_scores=joined("selection_scores", 1),
            phase=joined("phase", 0),
            tokens=None if first.tokens is None else [s for t in traces for s in t.tokens],
        )

    # ------------------------------------------------------------------ pandas
    def to_dataframe(self) -> pd.DataFrame:
        """Long format: one row per (layer, token, rank).

        Columns: layer, token (row n), seq, position, token_id, rank, expert, weight, then phase (name)
        and text when the trace has them. Probabilities and selection scores are not included (E columns per
        token); use ``trace.probs`` / ``trace.selection_scores`` directly.
        """
        import pandas as pd

        L, N, k = self.topk_ids.shape
        per_token = lambda t: t.reshape(1, N, 1).expand(L, N, k).reshape(-1).numpy()  # noqa: E731
        columns: dict[str, Any] = {
            "layer": torch.tensor(self.layer_indices, dtype=torch.int32)
            .reshape(L, 1, 1)
            .expand(L, N, k)
            .reshape(-1)
            .numpy(),
            "token": per_token(torch.arange(N, dtype=torch.int64)),
            "seq": per_token(self.seq_index),
            "position": per_token(self.position),
            "token_id": per_token(self.token_ids),
            "rank": torch.arange(k, dtype=torch.int8).reshape(1, 1, k).expand(L, N, k).reshape(-1).numpy(),
            "expert": self.topk_ids.reshape(-1).numpy(),
            "weight": self.topk_weights.reshape(-1).numpy(),
        }
        if self.phase is not None:
            columns["phase"] = pd.Categorical.from_codes(per_token(self.phase.long()), categories=list(PHASES))
        if self.tokens is not None:
            import numpy as np

            columns["text"] = np.asarray(self.tokens, dtype=object)[per_token(torch.arange(N))]
        return pd.DataFrame(columns)

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> dict:
        """Write the trace as safetensors, with JSON metadata under the key ``"qnext_lab"``.

        Whole or not at all (``formats.atomic.writing``: a temp file of its own beside ``path``, renamed into
        place; one left by a killed save is removed by the next save of the same path), with the permissions
        of an ordinary new file (``0666 & ~umask``). Returns the SHA-256 digests of what was written:
        ``load(path, digests=...)`` checks every piece it reads against them, a layer at a time for the
        per-layer tensors, so a corpus manifest can vouch for one layer of a shard without the whole file
        being read."""
        from safetensors.torch import save

        tensors = {
            "topk_ids": self.topk_ids.contiguous(),
            "topk_weights": self.topk_weights.contiguous(),
            "token_ids": self.token_ids.contiguous(),
            "seq_index": self.seq_index.contiguous(),
            "position": self.position.contiguous(),
        }
        if self.probs is not None:
            tensors["probs"] = self.probs.contiguous()
        if self.selection_scores is not None:
            tensors["selection_scores"] = self.selection_scores.contiguous()
        if self.phase is not None:
            tensors["phase"] = self.phase.contiguous()
        meta = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "layer_indices": self.layer_indices,
            "num_experts": self.num_experts,
            "top_k": self.top_k,
            "model_name": self.model_name,
            "tokens": self.tokens,
        }
        if self.hash_layers:  # optional keys: files without them read as before (no hash layers, no zero experts)
            meta["hash_layers"] = self.hash_layers
        if self.zero_experts:
            meta["zero_experts"] = self.zero_experts
        raw = json.dumps(meta)
        data = save(tensors, metadata={METADATA_KEY: raw})  # bytes: the trace is in memory anyway
        with writing(os.fspath(path)) as tmp:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        digests: dict[str, Any] = {"metadata": _sha256(raw.encode())}
        for name, t in tensors.items():
            if name in _PER_LAYER:
                digests[name] = {str(layer): _sha256(t[j]) for j, layer in enumerate(self.layer_indices)}
            else:
                digests[name] = _sha256(t)
        return digests

    @classmethod
    def load(
        cls, path: str | os.PathLike, *, layers: Iterable[int] | None = None, digests: dict | None = None
    ) -> RoutingTrace:
        """Read a trace written by ``save``; any other file raises ``ValueError``.

        ``layers``: read only these decoder layers of the per-layer tensors (safetensors slices: the other
        layers are never read). ``digests``: what ``save`` returned; every piece read is checked against it
        (ValueError naming the piece that differs).
        """
        from safetensors import safe_open

        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no trace file at {path!r}")
        try:
            with safe_open(path, framework="pt") as f:
                raw = (f.metadata() or {}).get(METADATA_KEY)
                if raw is None:
                    raise ValueError(
                        f"{path!r} is a safetensors file but not a qnext_lab RoutingTrace "
                        f"(no {METADATA_KEY!r} metadata)"
                    )
                selected = None if layers is None else as_int_list(layers, "layers", low=0)
                tensors = {
                    name: f.get_tensor(name) if selected is None or name not in _PER_LAYER else None
                    for name in f.keys()
                }
                if selected is not None:
                    positions = _layer_positions(path, raw, selected)
                    for name in _PER_LAYER & set(tensors):
                        rows = f.get_slice(name)
                        tensors[name] = torch.cat([rows[p : p + 1] for p in positions])  # (L', ...) only these
        except ValueError:
            raise
        except Exception as exc:  # safetensors raises its own error types for non-safetensors bytes
            raise ValueError(
                f"{path!r} is not a qnext_lab RoutingTrace (not a readable safetensors file: {exc})"
            ) from exc
        if digests is not None:
            _check_digests(path, raw, tensors, digests, selected)
        try:
            meta = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path!r}: corrupt qnext_lab metadata ({exc})") from exc
        if selected is not None:
            meta["layer_indices"] = selected
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
            found = meta.get("format") if isinstance(meta, dict) else meta
            raise ValueError(f"{path!r} is not a qnext_lab RoutingTrace (format {found!r})")
        if meta.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"{path!r} is a RoutingTrace of version {meta.get('version')}; this qnext_lab reads "
                f"version {FORMAT_VERSION}: upgrade qnext_lab"
            )
        missing = [n for n in ("topk_ids", "topk_weights", "token_ids", "seq_index", "position") if n not in tensors]
        if missing:
            raise ValueError(
                f"{path!r}: RoutingTrace file is missing tensors {missing}; it was not written by "
                f"RoutingTrace.save (or was cut short): recapture it"
            )
        missing = [n for n in ("layer_indices", "num_experts", "top_k") if n not in meta]
        if missing:
            raise ValueError(
                f"{path!r}: RoutingTrace metadata is missing {missing}; it was not written by "
                f"RoutingTrace.save (or was edited): recapture it"
            )
        if not isinstance(meta["layer_indices"], list):
            raise ValueError(f"{path!r}: layer_indices must be a JSON list, got {meta['layer_indices']!r}")
        if meta.get("tokens") is not None and not isinstance(meta["tokens"], list):
            raise ValueError(f"{path!r}: tokens must be a JSON list of strings or null")
        if not isinstance(meta.get("hash_layers", []), list):
            raise ValueError(f"{path!r}: hash_layers must be a JSON list of layer indices, got {meta['hash_layers']!r}")
        for name in ("num_experts", "top_k", "zero_experts"):
            if (
                name in meta and type(meta[name]) is not int
            ):  # JSON gives int, float, bool, str...: only a plain int is valid
                raise ValueError(f"{path!r}: {name} must be an integer, got {meta[name]!r}")
        expected = {
            "topk_ids": 3,
            "topk_weights": 3,
            "token_ids": 1,
            "seq_index": 1,
            "position": 1,
            "probs": 3,
            "selection_scores": 3,
            "phase": 1,
        }
        unknown = sorted(set(tensors) - set(expected))
        if unknown:
            raise ValueError(f"{path!r}: unexpected tensors {unknown} in a RoutingTrace file")
        try:
            return cls(
                topk_ids=tensors["topk_ids"],
                topk_weights=tensors["topk_weights"],
                token_ids=tensors["token_ids"],
                seq_index=tensors["seq_index"],
                position=tensors["position"],
                layer_indices=meta["layer_indices"],
                num_experts=meta["num_experts"],
                top_k=meta["top_k"],
                model_name=meta.get("model_name") or "",
                probs=tensors.get("probs"),
                selection_scores=tensors.get("selection_scores"),
                phase=tensors.get("phase"),
                tokens=meta.get("tokens"),
                hash_layers=meta.get("hash_layers", []),
                zero_experts=meta.get("zero_experts", 0),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{path!r} is not a valid RoutingTrace: {exc}. The file is corrupt or was edited; "
                f"recapture it (or fix the field named)"
            ) from exc
